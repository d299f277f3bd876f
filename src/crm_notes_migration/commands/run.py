"""`crm-notes-migrate run`: options → the extractor use case → progress and the final table."""

from __future__ import annotations

import json
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from crm_notes_migration import bootstrap
from crm_notes_migration.commands.progress import LogProgress, RichProgress
from crm_notes_migration.config import Settings
from crm_notes_migration.memory import bound_heap_growth
from crm_notes_migration.source.checkpoint import DEFAULT_STATE_PATH, Checkpoint
from crm_notes_migration.usecases.extract import (
    DEFAULT_WAIT_TIMEOUT_S,
    Extractor,
    RunReport,
    add_counts,
    check_cids,
    drain,
)


def _withdraw_left_scope(source, client, report: RunReport) -> None:
    """Each pass: withdraw the cids' notes that left scope since they landed, and count again
    where something went."""
    from crm_notes_migration.usecases.left_scope import LeftScope, may_hold_out_of_scope, withdraw_left_scope

    for row in report.cids:
        if not may_hold_out_of_scope(row.accounted, row.pending, source.count_in_scope(row.cid)):
            row.left_scope = LeftScope(row.cid).as_dict()
            continue
        swept = withdraw_left_scope(
            row.cid, client.iter_legacy_ids(row.cid), source.iter_in_scope_ids(row.cid), client.withdraw
        )
        row.left_scope = swept.as_dict()
        if swept.changed:
            add_counts(report, {row.cid: client.counts(row.cid)})


def _left_scope_lines(report: RunReport, console: Console) -> None:
    for r in report.cids:
        swept = r.left_scope
        if not swept or not (swept["withdrawn"] or swept["unparked"] or swept["kept_edited_in_cdp"]):
            continue
        line = f"cid {r.cid}: left scope: withdrew {swept['withdrawn']}, unparked {swept['unparked']}"
        if swept["kept_edited_in_cdp"]:
            kept = swept["kept_edited_in_cdp"]
            line += f", kept {len(kept)} edited in the CDP: {', '.join(map(str, kept[:20]))}"
            line += " …" if len(kept) > 20 else ""
        console.print(line)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _table(report: RunReport, console: Console) -> None:
    table = Table(title="dry run: nothing was sent" if report.dry_run else "migration")
    for col in ("cid", "in scope", "would land" if report.dry_run else "accepted", "migrated", "pending", "parked"):
        table.add_column(col, justify="left" if col == "parked" else "right")
    for r in report.cids:
        parked = ", ".join(f"{k}={v}" for k, v in sorted(r.parked.items())) or "-"
        table.add_row(
            str(r.cid),
            str(r.in_scope),
            _dash(r.would_land if report.dry_run else r.accepted),
            _dash(r.migrated),
            _dash(r.pending),
            parked,
        )
    console.print(table)


def report_json(report: RunReport) -> dict[str, Any]:
    """The `--json` form of the final table."""
    return {
        "ok": report.ok,
        "dry_run": report.dry_run,
        "interrupted": report.interrupted,
        "error": report.error,
        "drained": report.drained,
        "cids": [asdict(r) | {"complete": r.complete} for r in report.cids],
    }


def _install_stop() -> tuple[threading.Event, dict]:
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        print("[run] stopping after the batches in flight (again to abort)", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop, previous


def run(
    cid: list[int] = typer.Option(None, "--cid", help="Only these companies (repeatable)."),
    batch_size: int = typer.Option(500, help="Notes per batch."),
    concurrency: int = typer.Option(4, help="Parallel requests."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Read and transform locally; send and write nothing."),
    state_file: Path = typer.Option(None, help="Checkpoint file (SQLite)."),
    restart: bool = typer.Option(False, "--restart", help="Ignore the checkpoint and start over."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Do not wait for the queue to drain."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    wait_timeout: float = typer.Option(DEFAULT_WAIT_TIMEOUT_S, help="Seconds to wait for the queue to drain."),
) -> None:
    """Extract notes and send them to the migrate endpoint; resumes from its checkpoint.

    Example: crm-notes-migrate run --cid 101 --cid 102 --batch-size 500

    An interrupted run resumes where the acknowledged batches end; after a completed run,
    the next run scans everything again and re-sends only what changed (unchanged batches
    keep their batch_id and the API answers them without new work). Exit 0 when every
    in-scope note is migrated or parked.
    """
    settings = Settings()
    raise typer.Exit(
        execute(
            settings,
            cid or None,
            batch_size,
            concurrency,
            dry_run,
            state_file,
            restart,
            not no_wait,
            json_out,
            wait_timeout,
        )
    )


def execute(
    settings: Settings,
    cids: list[int] | None,
    batch_size: int,
    concurrency: int,
    dry_run: bool,
    state_file: Path | None,
    restart: bool,
    wait: bool,
    json_out: bool,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT_S,
    on_report=None,
) -> int:
    """`run` with its options resolved; returns the exit code (`on_report` receives the report)."""
    bound_heap_growth()
    err = Console(stderr=True)
    if batch_size < 1 or batch_size > settings.max_batch_notes:
        err.print(f"--batch-size must be between 1 and MAX_BATCH_NOTES ({settings.max_batch_notes})")
        return 2
    if not dry_run and not settings.migration_api_token:
        err.print("MIGRATION_API_TOKEN is not set: the migrate endpoint needs it")
        return 2
    stop, previous = _install_stop()
    tz = ZoneInfo(settings.crm_timezone)
    try:
        with bootstrap.crm_source(settings) as source:
            counts = source.in_scope_counts()
            if cids:
                check_cids(source, sorted(set(cids)))
            selected = sorted(cids) if cids else sorted(counts)
            total = sum(counts.get(c, 0) for c in selected)
            progress = RichProgress(total, err) if err.is_terminal and not json_out else LogProgress(total)
            try:
                report = (
                    _dry(settings, source, selected, tz, batch_size, progress, stop)
                    if dry_run
                    else _send(
                        settings,
                        source,
                        selected,
                        tz,
                        batch_size,
                        concurrency,
                        state_file,
                        restart,
                        wait,
                        wait_timeout,
                        progress,
                        stop,
                    )
                )
            finally:
                progress.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if on_report is not None:
        on_report(report)
    if json_out:
        print(json.dumps(report_json(report), indent=2))
        if report.error:
            err.print(f"error: {report.error}")
    else:
        _table(report, Console())
        _left_scope_lines(report, Console())
        if report.error:
            err.print(f"[red]error:[/red] {report.error}")
        if report.interrupted:
            err.print("interrupted: run again to resume from the checkpoint")
    if report.ok:
        return 0
    return 130 if report.interrupted else 1


def _dry(settings, source, selected, tz, batch_size, progress, stop) -> RunReport:
    from crm_notes_migration.usecases.dry_run import dry_run

    db = bootstrap.cdp_database(settings)
    try:
        return dry_run(source, db, selected, tz, bootstrap.transform_options(settings), batch_size, progress, stop)
    finally:
        db.client.close()


def _send(
    settings, source, selected, tz, batch_size, concurrency, state_file, restart, wait, wait_timeout, progress, stop
) -> RunReport:
    from crm_notes_migration.client import ApiUnreachable, MigrationApiError

    checkpoint = Checkpoint(state_file or Path.cwd() / DEFAULT_STATE_PATH, source.identity())
    try:
        if restart:
            checkpoint.restart()
        with bootstrap.api_client(settings) as client:
            extractor = Extractor(source, client, checkpoint, tz, progress, stop, batch_size, concurrency)
            report = extractor.send(selected)
            if isinstance(extractor.failure, ApiUnreachable) and not any(r.sent or r.skipped for r in report.cids):
                raise extractor.failure  # nothing was handed over: the one line says what to fix
            try:
                if wait and not report.interrupted and not report.error:
                    drain(client, report, wait_timeout, progress)
                elif not report.interrupted:
                    add_counts(report, {c.cid: client.counts(c.cid) for c in report.cids})
                if not report.interrupted and not report.error:
                    _withdraw_left_scope(source, client, report)
            except MigrationApiError as exc:
                report.error = report.error or str(exc)
        return report
    finally:
        checkpoint.close()
