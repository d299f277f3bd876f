"""`crm-notes-migrate rollback`: options → the rollback use case → what went, per cid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from crm_notes_migration.config import Settings


def _line(row: dict[str, Any], dry_run: bool) -> str:
    verb = "would withdraw" if dry_run else "withdrew"
    kept = row.get("kept_edited_in_cdp") or []
    text = (
        f"cid {row['cid']}: {verb} {row['withdrawn']} migration documents and "
        f"{row['unparked']} parked records, with the cid's batch records"
    )
    if kept:
        shown = ", ".join(map(str, kept[:20])) + (" …" if len(kept) > 20 else "")
        text += f"; kept {len(kept)} edited in the CDP ({shown}; --include-edited removes them)"
    if row.get("checkpoint_reset"):
        text += "; checkpoint reset"
    return text


def rollback(
    cid: list[int] = typer.Option(None, "--cid", help="Roll back these companies (repeatable)."),
    all_cids: bool = typer.Option(False, "--all", help="Roll back every company of the CRM."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; change nothing."),
    include_edited: bool = typer.Option(False, "--include-edited", help="Also remove documents edited in the CDP."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    state_file: Path = typer.Option(None, help="The run checkpoint to reset (as `run --state-file`)."),
) -> None:
    """Take the migration of some companies back out of the CDP; a later `run` redoes it.

    Removes their migration documents, parked records and batch records, and resets them
    in the checkpoint. CDP-authored notes and other companies are never touched.

    Example: crm-notes-migrate rollback --cid 101 --dry-run

    Refuses (exit 1), changing nothing, while the companies have batches pending. Safe to
    run again: an interrupted rollback is finished by running it again.
    """
    if bool(cid) == all_cids:
        typer.echo("error: give --cid ID (repeatable) or --all, not both and not neither", err=True)
        raise typer.Exit(2)
    settings = Settings()
    if not dry_run and not settings.migration_api_token:
        typer.echo("error: rollback goes through the withdrawals endpoint: set MIGRATION_API_TOKEN", err=True)
        raise typer.Exit(2)
    report = _execute(settings, cid, all_cids, dry_run, include_edited, state_file)
    if json_out:
        typer.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        for row in report.cids:
            typer.echo(_line(row, dry_run))
    for c, n in sorted(report.refused.items()):
        typer.echo(
            f"refused: cid {c} has {n} notes pending in queued batches; wait until `run` drains them "
            f"(`status` shows pending), or settle them with `failed-jobs`; nothing was rolled back",
            err=True,
        )
    raise typer.Exit(0 if report.ok else 1)


def _execute(
    settings: Settings,
    cids: list[int] | None,
    all_cids: bool,
    dry_run: bool,
    include_edited: bool,
    state_file: Path | None,
):
    from crm_notes_migration import bootstrap
    from crm_notes_migration.cdp.withdrawals import MongoWithdrawalStore
    from crm_notes_migration.client import MigrationApiError
    from crm_notes_migration.source.checkpoint import DEFAULT_STATE_PATH, Checkpoint
    from crm_notes_migration.usecases.rollback import rollback as run_rollback
    from crm_notes_migration.usecases.withdraw import PendingBatches, WithdrawalRequest, withdraw

    with bootstrap.crm_source(settings) as source:
        selected = source.known_cids() if all_cids else list(cids or [])
        identity = source.identity()
    if dry_run:
        db = bootstrap.cdp_database(settings)
        store = MongoWithdrawalStore(db)
        try:

            def preview(body: dict[str, Any]) -> dict[str, Any]:
                request = WithdrawalRequest(body["cid"], None, body["reason"], body["include_edited"])
                return withdraw(store, request, dry_run=True).as_dict()

            return run_rollback(
                selected,
                withdraw=preview,
                pending=store.pending_notes,
                checkpoint=None,
                include_edited=include_edited,
                dry_run=True,
            )
        finally:
            db.client.close()
    path = state_file or Path.cwd() / DEFAULT_STATE_PATH
    checkpoint = Checkpoint(path, identity) if path.exists() else None
    if checkpoint is None:
        typer.echo(
            f"note: no run checkpoint at {path}, nothing to reset there (rollback from the directory "
            f"`run` runs in, or give --state-file)",
            err=True,
        )
    try:
        with bootstrap.api_client(settings) as client:

            def via_api(body: dict[str, Any]) -> dict[str, Any]:
                try:
                    return client.withdraw(body)
                except MigrationApiError as exc:
                    if exc.status == 409:
                        raise PendingBatches(body["cid"], int(client.counts(body["cid"]).get("pending", 0))) from exc
                    raise

            return run_rollback(
                selected,
                withdraw=via_api,
                pending=lambda c: int(client.counts(c).get("pending", 0)),
                checkpoint=checkpoint,
                include_edited=include_edited,
            )
    finally:
        if checkpoint is not None:
            checkpoint.close()
