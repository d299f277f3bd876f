"""`crm-notes-migrate status`: the migration's dashboard, per cid (SPEC §8)."""

from __future__ import annotations

import json
from typing import Any

import typer

from crm_notes_migration.config import Settings


def _reconciled(value: dict[str, Any] | None) -> str:
    if not value:
        return "never"
    return f"{value['status']} at {str(value['at'])[:19].replace('T', ' ')}"


def _table(report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="migration status")
    for col in (
        "cid",
        "in scope",
        "migrated",
        "parked",
        "pending",
        "reconciled",
        "qa (pass/fail/unreviewed)",
        "signoff",
    ):
        table.add_column(col, justify="right" if col in ("cid", "in scope", "migrated", "pending") else "left")
    for row in report.as_dict()["cids"]:
        parked = ", ".join(f"{k}={v}" for k, v in row["parked"].items()) or "-"
        qa = row["qa"]
        table.add_row(
            str(row["cid"]),
            str(row["in_scope"]),
            str(row["migrated"]),
            parked,
            str(row["pending"]),
            _reconciled(row["reconciled"]),
            f"{qa['passed']}/{qa['failed']}/{qa['unreviewed']}",
            row["signoff"] if row["signoff"] == "approved" else f"{row['signoff']}: {row['signoff_reason']}",
        )
    Console(width=max(120, Console().width)).print(table)


def status(
    cid: list[int] = typer.Option(None, "--cid", help="Only these companies (repeatable); default: the CRM's."),
    json_out: bool = typer.Option(False, "--json", help="Print the status as JSON (stable keys, for scripts)."),
) -> None:
    """Where the migration stands, per company: counts, last reconcile, QA, sign-off.

    Per company: in scope (CRM), migrated, parked by reason, pending, the last reconcile's
    verdict and time, QA samples and sign-off.

    Example: crm-notes-migrate status --cid 101 --json

    Exit 0 only when every selected company is approved (signed off); 1 otherwise.
    """
    settings = Settings()
    report = _execute(settings, cid or None)
    if json_out:
        typer.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        _table(report)
        approved = sum(1 for r in report.cids if r.review.signoff == "approved")
        typer.echo(f"{approved} of {len(report.cids)} cids approved" + ("" if report.ok else "; exit 1 until all are"))
    raise typer.Exit(0 if report.ok else 1)


def _execute(settings: Settings, cids: list[int] | None):
    from crm_notes_migration import bootstrap
    from crm_notes_migration.cdp.counts import counts_for_cids
    from crm_notes_migration.cdp.reconciliations import ReconciliationLog
    from crm_notes_migration.cdp.signoffs import SignoffLog, migration_fingerprints
    from crm_notes_migration.errors import UnknownCids
    from crm_notes_migration.usecases.signoff import RecordedSignoff
    from crm_notes_migration.usecases.status import status as run_status

    with bootstrap.crm_source(settings) as source:
        in_scope = source.in_scope_counts()
        unknown = source.unknown_cids(sorted(set(cids))) if cids else []
        if unknown:
            raise UnknownCids(unknown)
        selected = cids or source.known_cids()
    db = bootstrap.cdp_database(settings)
    try:
        return run_status(
            selected,
            in_scope=in_scope,
            counts=lambda cids: {int(c["cid"]): c for c in counts_for_cids(db, cids)},
            verdicts=ReconciliationLog(db).latest,
            signoffs=RecordedSignoff(SignoffLog(db).latest(selected), migration_fingerprints(db, selected)),
        )
    finally:
        db.client.close()
