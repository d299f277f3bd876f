"""`crm-notes-migrate reconcile`: options → the reconcile use case → summary, JSON, QA report."""

from __future__ import annotations

import json
import signal
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from crm_notes_migration.config import Settings
from crm_notes_migration.usecases.reconcile.diff import CappedIds
from crm_notes_migration.usecases.reconcile.ledger import CidLedger


def _line(ledger: CidLedger) -> str:
    parked = ", ".join(f"{k} {v}" for k, v in sorted(ledger.parked.items())) or "0"
    text = (
        f"cid {ledger.cid:>8} {ledger.status:<4} in scope {ledger.in_scope}, migrated {ledger.migrated}, "
        f"parked {parked}, edited in CDP {ledger.edited_in_cdp.count}"
    )
    kept = ledger.kept_edited_in_cdp
    if kept.count:  # information: a user's edit of a note that left scope stays
        text += f"\n    kept (edited in CDP, no longer in scope) {kept.count}: {', '.join(map(str, kept.ids))}"
    for label, found in (("missing", ledger.missing), ("extra", ledger.extra), ("duplicates", ledger.duplicates)):
        if found.count:
            text += f"\n    {label} {found.count}: {_ids(found)}"
    for kind, found in sorted(ledger.mismatches.items()):
        text += f"\n    mismatch {kind} {found.count}: {_ids(found)}"
    for problem in ledger.api_differences + ledger.errors:
        text += f"\n    {problem}"
    return text


def _interrupt(signum: int, frame: object) -> None:
    """`kill` stops reconcile as Ctrl-C does: on the way out its worker processes stop and
    its snapshot directory (every asked document, on FerretDB) is removed."""
    raise KeyboardInterrupt


def _ids(found: CappedIds) -> str:
    return ", ".join(map(str, found.ids)) + (" …" if found.count > len(found.ids) else "")


def _record_verdicts(db, result, report: Path | None, report_id: str | None) -> None:
    """Each cid's verdict, for `status` and `signoff` (cdp/reconciliations.py); with a
    report, its id, each cid's sample ids and the fingerprint of the migration documents
    reconcile compared (taken in its own pass: the state the report shows)."""
    from crm_notes_migration.cdp.reconciliations import ReconciliationLog

    log, at = ReconciliationLog(db), datetime.now(UTC)
    sampled: dict[int, list[int]] = {}
    for s in result.samples:
        sampled.setdefault(s.cid, []).append(int(s.legacy_crm_note_id))
    for ledger in result.ledgers:
        summary = {k: v for k, v in ledger.as_dict().items() if k in ("in_scope", "migrated", "parked", "accounted")}
        reviewed = None
        if report_id:
            ids = sorted(sampled.get(ledger.cid, []))
            reviewed = {"report_id": report_id, "sample_ids": ids, "fingerprint": ledger.fingerprint}
        log.record(
            ledger.cid,
            ok=ledger.ok,
            status=ledger.status,
            at=at,
            report=str(report) if report else None,
            samples=len(sampled.get(ledger.cid, [])),
            summary=summary,
            reviewed=reviewed,
        )


def _recorded_verdicts(db, report_id: str, cids: list[int]) -> dict[str, dict[str, str]]:
    """The verdicts `signoff` recorded for this very report, by sample key of the report."""
    from crm_notes_migration.cdp.signoffs import SignoffLog

    out: dict[str, dict[str, str]] = {}
    for cid, record in SignoffLog(db).latest(cids).items():
        if record.get("report_id") != report_id:
            continue
        for sample_id, v in (record.get("verdicts") or {}).items():
            out[f"{cid}:{sample_id}"] = {
                "verdict": v.get("verdict", ""),
                "comment": v.get("comment", ""),
                "at": v.get("reviewed_at", ""),
                "by": record.get("reviewer", ""),
            }
    return out


def reconcile(
    cid: list[int] = typer.Option(None, "--cid", help="Only these companies (repeatable)."),
    report: Path = typer.Option(None, help="Write the HTML QA report here."),
    sample: int = typer.Option(
        3, help="Random samples per cid in the report, besides one note of every hard case present."
    ),
    repair: bool = typer.Option(False, "--repair", help="Re-send missing and mismatched notes, then check again."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    seed: int = typer.Option(0, help="Seed of the report's sample (same seed, same data: same sample)."),
    workers: int = typer.Option(0, help="Processes reconciling cids in parallel (0: os.cpu_count())."),
    with_verdicts: bool = typer.Option(
        False, "--with-verdicts", help="Show in the report the verdicts `signoff` recorded for it (a second reviewer)."
    ),
) -> None:
    """Source against CDP per cid; exit 0 only when every in-scope note is accounted for.

    Works straight from the stores (CRM PostgreSQL, CDP MongoDB); when MIGRATION_API_TOKEN
    is set the counts endpoint is cross-checked too.

    Example: crm-notes-migrate reconcile --report qa.html --sample 20 --json
    """
    from crm_notes_migration import bootstrap
    from crm_notes_migration.cdp.mongo import cids_with_migration_records
    from crm_notes_migration.usecases.reconcile.service import default_workers, reconcile_and_repair, select_cids
    from crm_notes_migration.usecases.reconcile.service import reconcile as run_reconcile

    settings = Settings()
    if repair and not settings.migration_api_token:
        typer.echo("--repair needs the migrate endpoint: set MIGRATION_API_TOKEN (and MIGRATION_API_URL)", err=True)
        raise typer.Exit(2)
    if with_verdicts and not report:
        typer.echo("error: --with-verdicts shows recorded verdicts in a report: give --report PATH too", err=True)
        raise typer.Exit(2)
    tz = ZoneInfo(settings.crm_timezone)
    options = bootstrap.transform_options(settings)
    db = bootstrap.cdp_database(settings)
    db.client.admin.command("ping")  # an unreachable store is one line before any work
    client = bootstrap.api_client(settings) if settings.migration_api_token else None
    sample_size = sample if report else 0
    progress = None if json_out else (lambda ledger: print(_line(ledger), file=sys.stderr, flush=True))
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with bootstrap.crm_source(settings) as source:
            cids = select_cids(source, cid, held=lambda asked: cids_with_migration_records(db, asked))
            processes = workers or default_workers(len(cids))
            if repair:
                assert client is not None  # --repair needs the token, checked above
                run = partial(reconcile_and_repair, client=client, batch_size=min(500, settings.max_batch_notes))
            else:
                run = partial(run_reconcile, client=client, on_cid=progress)
            result = run(
                db,
                source,
                cids,
                tz=tz,
                options=options,
                sample_size=sample_size,
                seed=seed,
                settings=settings,
                workers=processes,
            )
        report_id = None
        if report:
            from crm_notes_migration.report.report import report_id as id_of_report
            from crm_notes_migration.report.report import write_report

            report_id = id_of_report(result.ledgers, result.samples, timezone_name=settings.crm_timezone, seed=seed)
            recorded = _recorded_verdicts(db, report_id, cids) if with_verdicts else None
            write_report(
                report,
                result.ledgers,
                result.samples,
                timezone_name=settings.crm_timezone,
                generated_at=datetime.now(UTC),
                seed=seed,
                recorded=recorded,
            )
        _record_verdicts(db, result, report, report_id)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if client is not None:
            client.close()
        db.client.close()
    summary = result.as_dict()
    if json_out:
        typer.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))
    else:
        if repair:
            for ledger in result.ledgers:
                typer.echo(_line(ledger), err=True)
            typer.echo(f"repair: re-sent {summary['repair']['resent']} notes in {summary['repair']['batches']} batches")
            if not summary["repair"]["drained"]:
                typer.echo(f"repair: the queue did not drain: {summary['repair']['drain_error']}", err=True)
        t = summary["totals"]
        typer.echo(
            f"{'OK' if result.ok else 'FAIL'}: {t['cids']} cids, {t['in_scope']} in scope, {t['migrated']} migrated, "
            f"parked {t['parked']}, {t['edited_in_cdp']} edited in CDP, {t['missing']} missing, {t['extra']} extra, "
            f"{t['duplicates']} duplicates, {t['mismatched']} mismatched, {t['anomalies']} anomalies"
        )
        if report:
            typer.echo(f"QA report: {report}")
    raise typer.Exit(0 if result.ok else 1)
