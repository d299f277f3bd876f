"""`crm-notes-migrate run`: options → the extractor use case → progress and the final table."""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .checkpoint import DEFAULT_STATE_PATH, Checkpoint
from .config import Settings
from .extract import DEFAULT_WAIT_TIMEOUT_S, Extractor, RunReport, add_counts, drain
from .memory import bound_heap_growth
from .source.crm import CrmSource

#: Seconds between two plain progress lines when stderr is not a terminal.
LOG_EVERY_S = 5.0


class LogProgress:
    """Plain lines on stderr, for logs and CI."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self._last = total, 0, 0.0
        self._per_cid: dict[int, list[int]] = {}

    def _say(self, line: str) -> None:
        print(f"[run] {line}", file=sys.stderr, flush=True)

    def start_cid(self, cid: int, total: int, done: int) -> None:
        self._per_cid[cid] = [done, total]
        self.done += done

    def advance(self, cid: int, notes: int) -> None:
        self._per_cid[cid][0] += notes
        self.done += notes
        if time.monotonic() - self._last >= LOG_EVERY_S:
            self._last = time.monotonic()
            self._say(f"{self.done}/{self.total} notes")

    def finish_cid(self, cid: int) -> None:
        done, total = self._per_cid.get(cid, [0, 0])
        self._say(f"cid {cid}: {done}/{total} notes handed over")

    def waiting(self, counts: dict[int, dict[str, Any]]) -> None:
        self.queued(sum(int(c.get("pending", 0)) for c in counts.values()))

    def queued(self, pending: int) -> None:
        if time.monotonic() - self._last >= LOG_EVERY_S:
            self._last = time.monotonic()
            self._say(f"waiting for the queue to drain: {pending} notes pending")

    def close(self) -> None:
        pass


class RichProgress:
    """An overall bar plus one bar per cid being sent, on a terminal."""

    def __init__(self, total: int, console: Console) -> None:
        self._bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, transient=False,
        )
        self._overall = self._bars.add_task("all cids", total=total)
        self._tasks: dict[int, Any] = {}
        self._drain = None
        self._bars.start()

    def start_cid(self, cid: int, total: int, done: int) -> None:
        self._tasks[cid] = self._bars.add_task(f"cid {cid}", total=total, completed=done)
        self._bars.advance(self._overall, done)

    def advance(self, cid: int, notes: int) -> None:
        self._bars.advance(self._tasks[cid], notes)
        self._bars.advance(self._overall, notes)

    def finish_cid(self, cid: int) -> None:
        self._bars.remove_task(self._tasks[cid])

    def waiting(self, counts: dict[int, dict[str, Any]]) -> None:
        self.queued(sum(int(c.get("pending", 0)) for c in counts.values()))

    def queued(self, pending: int) -> None:
        if self._drain is None:
            self._drain = self._bars.add_task("queue: pending", total=None)
        self._bars.update(self._drain, description=f"queue: {pending} pending")

    def close(self) -> None:
        self._bars.stop()


def _withdraw_left_scope(source, client, report: RunReport) -> None:
    """Each pass: withdraw the cids' notes that left scope since they landed, and count again
    where something went."""
    from .usecases.left_scope import LeftScope, may_hold_out_of_scope, withdraw_left_scope

    for row in report.cids:
        if not may_hold_out_of_scope(row.accounted, row.pending, source.count_in_scope(row.cid)):
            row.left_scope = LeftScope(row.cid).as_dict()
            continue
        swept = withdraw_left_scope(row.cid, client.iter_legacy_ids(row.cid), source.iter_in_scope_ids(row.cid),
                                    client.withdraw)
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


def _table(report: RunReport, console: Console) -> None:
    table = Table(title="dry run: nothing was sent" if report.dry_run else "migration")
    for col in ("cid", "in scope", "would land" if report.dry_run else "accepted", "migrated", "pending", "parked"):
        table.add_column(col, justify="left" if col == "parked" else "right")
    for r in report.cids:
        parked = ", ".join(f"{k}={v}" for k, v in sorted(r.parked.items())) or "-"
        dash = lambda v: "-" if v is None else str(v)  # noqa: E731
        table.add_row(str(r.cid), str(r.in_scope), dash(r.would_land if report.dry_run else r.accepted),
                      dash(r.migrated), dash(r.pending), parked)
    console.print(table)


def report_json(report: RunReport) -> dict[str, Any]:
    """The `--json` form of the final table."""
    return {
        "ok": report.ok, "dry_run": report.dry_run, "interrupted": report.interrupted,
        "error": report.error, "drained": report.drained,
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
    raise typer.Exit(execute(settings, cid or None, batch_size, concurrency, dry_run, state_file, restart,
                             not no_wait, json_out, wait_timeout))


def execute(settings: Settings, cids: list[int] | None, batch_size: int, concurrency: int, dry_run: bool,
            state_file: Path | None, restart: bool, wait: bool, json_out: bool,
            wait_timeout: float = DEFAULT_WAIT_TIMEOUT_S, on_report=None) -> int:
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
        with CrmSource(settings.crm_database_url) as source:
            counts = source.in_scope_counts()
            selected = sorted(cids) if cids else sorted(counts)
            total = sum(counts.get(c, 0) for c in selected)
            progress = RichProgress(total, err) if err.is_terminal and not json_out else LogProgress(total)
            try:
                report = _dry(settings, source, selected, tz, batch_size, progress, stop) if dry_run else \
                    _send(settings, source, selected, tz, batch_size, concurrency, state_file, restart, wait,
                          wait_timeout, progress, stop)
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
    from .cdp.mongo import open_database
    from .dry_run import dry_run
    from .transform import TransformOptions

    db = open_database(settings)
    try:
        return dry_run(source, db, selected, tz, TransformOptions.from_settings(settings), batch_size, progress, stop)
    finally:
        db.client.close()


def _send(settings, source, selected, tz, batch_size, concurrency, state_file, restart, wait, wait_timeout,
          progress, stop) -> RunReport:
    from .client import MigrationApiClient, MigrationApiError

    checkpoint = Checkpoint(state_file or Path.cwd() / DEFAULT_STATE_PATH, source.identity())
    try:
        if restart:
            checkpoint.restart()
        with MigrationApiClient(settings.migration_api_url, settings.migration_api_token) as client:
            report = Extractor(source, client, checkpoint, tz, progress, stop, batch_size, concurrency).send(selected)
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
