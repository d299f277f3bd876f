"""`crm-notes-migrate seed`: translate the options into one `load_seed` call and show its result."""

from __future__ import annotations

import json
import sys
import time

import typer

#: Above this many notes a terminal gets a progress bar.
PROGRESS_MIN_NOTES = 50_000


def seed(
    notes: int = typer.Option(21000, help="How many notes."),
    cids: int = typer.Option(130, help="How many companies."),
    seed: int = typer.Option(42, help="Random seed; the same seed gives the same data."),
    json_out: bool = typer.Option(False, "--json", help="Print the expected outcome as JSON."),
) -> None:
    """Create the synthetic CRM and its CDP contacts, users and CDP-authored notes, deterministically.

    Drops and reloads the CRM tables (CRM_DATABASE_URL) and the CDP collections contacts,
    users and contact_notes (CDP_MONGODB_URI / CDP_MONGODB_DB; CDP-authored notes included),
    and empties the ones the migration writes. Only databases that are empty or that seed
    made: one holding a CRM or CDP it did not create is refused (exit 2) and left intact.
    Prints what the migration must reach per cid.

    Example: crm-notes-migrate seed --notes 2000 --cids 10 --json
    """
    from rich.console import Console

    from crm_notes_devtools.seed.guard import ForeignDatabase
    from crm_notes_devtools.seed.loader import load_seed
    from crm_notes_migration.config import Settings

    if notes < 0 or cids < 1:
        raise typer.BadParameter("need --notes >= 0 and --cids >= 1")
    settings = Settings()
    err = Console(stderr=True)
    started = time.perf_counter()
    try:
        if err.is_terminal and notes >= PROGRESS_MIN_NOTES:
            expectations = _load_with_progress(err, settings, notes, cids, seed)
        else:
            expectations = load_seed(settings, notes, cids, seed)
    except ForeignDatabase as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    elapsed = time.perf_counter() - started
    if json_out:
        sys.stdout.write(json.dumps(expectations.to_json(), sort_keys=False) + "\n")
        return
    _print_summary(Console(), expectations, elapsed)


def _load_with_progress(console, settings, notes: int, cids: int, seed: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from crm_notes_devtools.seed.loader import load_seed

    columns = (TextColumn("seeding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("notes", total=notes)
        return load_seed(settings, notes, cids, seed, on_progress=lambda done: progress.update(task, completed=done))


def _print_summary(console, expectations, elapsed: float) -> None:
    from rich.table import Table

    totals = expectations.to_json()["totals"]
    table = Table(
        title=f"seed {expectations.seed}: expected outcome ({expectations.notes} notes, "
        f"{expectations.cids} cids, {elapsed:.1f} s)"
    )
    table.add_column("outcome")
    table.add_column("notes", justify="right")
    table.add_row("in scope", str(totals["in_scope"]))
    table.add_row("  migrated", str(totals["migrated"]))
    for reason, n in totals["parked"].items():
        if n:
            table.add_row(f"  parked {reason}", str(n))
    for name, n in totals["out_of_scope"].items():
        table.add_row(f"out of scope: {name}", str(n))
    console.print(table)
    rows = Table(title="rows loaded")
    rows.add_column("table / collection")
    rows.add_column("rows", justify="right")
    for name, n in expectations.rows.items():
        rows.add_row(name, str(n))
    console.print(rows)
    cdp = expectations.cdp_authored_json()
    console.print(
        f"CDP-authored notes: {cdp['notes']} ({cdp['with_mentions']} with mentions, "
        f"{cdp['on_migrated_contacts']} on contacts that receive migrated notes, "
        f"{cdp['in_cids_without_crm_notes']} in cids without CRM notes); sha256 {cdp['sha256'][:16]}…"
    )
    cases = ", ".join(f"{k}={v}" for k, v in sorted(expectations.hard_cases.items()))
    console.print(f"hard cases: {cases}")
    console.print(f"per cid: {len(expectations.per_cid)} cids (use --json for the per-cid expectations)")
