"""`signoff`: record the QA verdicts exported from a report, and show each cid's sign-off."""

import json
from datetime import UTC, datetime
from pathlib import Path

import typer

from crm_notes_migration.config import Settings


def signoff(
    verdicts: Path = typer.Argument(..., help="The verdicts CSV exported from the QA report."),
    reviewer: str = typer.Option(..., "--reviewer", help="Who reviewed the samples (recorded with the time)."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Record the QA verdicts of a report in the CDP, and approve the cids they allow.

    A cid is approved when its last reconcile was clean, all its samples passed and
    nothing changed since the report.

    Example: crm-notes-migrate signoff qa-verdicts-qa-1a2b3c.csv --reviewer "Ani Lestari"

    A CSV from another report, with unknown samples or broken rows is refused (exit 2)
    and nothing is recorded. `status` then shows approved, rejected and pending cids.
    """
    from crm_notes_migration import bootstrap
    from crm_notes_migration.cdp.reconciliations import ReconciliationLog
    from crm_notes_migration.cdp.signoffs import SignoffLog, migration_fingerprints
    from crm_notes_migration.usecases.signoff import SignoffRefused, parse_verdicts
    from crm_notes_migration.usecases.signoff import signoff as record_signoff

    try:
        text = verdicts.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {verdicts} as UTF-8 text ({exc}): give the CSV the report exported", err=True)
        raise typer.Exit(2) from None
    db = bootstrap.cdp_database(Settings())
    log, signoffs = ReconciliationLog(db), SignoffLog(db)
    try:
        result = record_signoff(
            parse_verdicts(text),
            reviewer,
            datetime.now(UTC),
            reconciled=log.latest,
            fingerprints=lambda cids: migration_fingerprints(db, cids),
            record=lambda cid, report_id, who, at, rows: signoffs.record(
                cid, report_id=report_id, reviewer=who, at=at, verdicts=rows
            ),
        )
    except SignoffRefused as exc:
        typer.echo(f"error: {verdicts}: {exc}; nothing was recorded", err=True)
        raise typer.Exit(2) from None
    finally:
        db.client.close()
    if json_out:
        typer.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True))
        return
    for row in result.as_dict()["cids"]:
        qa = row["qa"]
        typer.echo(
            f"cid {row['cid']}: {row['signoff']} ({row['reason']}); "
            f"passed {qa['passed']}, failed {qa['failed']}, unreviewed {qa['unreviewed']}"
        )
    typer.echo(f"signoff: recorded {len(result.reviews)} cid(s) of report {result.report_id} by {result.reviewer}")
