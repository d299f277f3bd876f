"""`demo`: the embedded default, from nothing to a QA report (the work is in crm_notes_devtools)."""

from pathlib import Path

import typer

from crm_notes_migration.config import Settings

DEFAULT_REPORT = Path("reports") / "qa-report.html"


def demo(
    notes: int = typer.Option(21000, help="Notes to seed."),
    cids: int = typer.Option(130, help="Companies to seed."),
    seed: int = typer.Option(42, help="Random seed of the synthetic CRM."),
    report: Path = typer.Option(DEFAULT_REPORT, help="Where to write the QA report."),
) -> None:
    """The embedded default: services, seed, API + worker, run, reconcile, QA report.

    Example: crm-notes-migrate demo
    """
    from crm_notes_devtools.demo import run_demo

    raise typer.Exit(run_demo(Settings(), notes, cids, seed, report))
