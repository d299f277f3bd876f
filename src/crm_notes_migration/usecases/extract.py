"""The extractor's use case: stream each cid's in-scope notes, batch, send, checkpoint.

Per cid, pages of `batch_size` in-scope notes (keyset on `crm_notes.id`, up to the pass's
high-water mark) become one contract batch each, or several consecutive ones when the
page's content is over `MAX_BATCH_CONTENT_CHARS` (see `split_page`). Up to `concurrency`
batches are in flight at once across cids; the checkpoint of a cid advances only over the
contiguous prefix of acknowledged batches, so an interrupted run resumes without losing a
note, and batches acknowledged past the prefix are recognised by their deterministic
`batch_id` and skipped.

Resume and change detection (see checkpoint.py): an interrupted pass is resumed; a
completed pass makes the next run a new pass over everything. Unchanged notes give the
same batch body, hence the same `batch_id`, which the API answers without new work; a
note changed in the CRM changes its batch's body and id, so it is sent and updated.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from crm_notes_migration.canonical import canonical_json
from crm_notes_migration.client import MigrationApiClient, MigrationApiError
from crm_notes_migration.contract import CONTRACT_VERSION
from crm_notes_migration.errors import FixableError, UnknownCids
from crm_notes_migration.source.checkpoint import Checkpoint, CidPass
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.transform import EDITED_IN_CDP, legacy_note_to_contract

DEFAULT_BATCH_SIZE = 500
DEFAULT_CONCURRENCY = 4
#: Most note content (legacy HTML, in characters) one batch carries; a page over it is
#: sent as consecutive smaller batches, a single larger note alone. What the extractor,
#: the API and the worker hold at once is then bounded by the concurrency, not by how
#: large the largest notes of a long migration happen to be (a few notes are megabytes).
MAX_BATCH_CONTENT_CHARS = 2 * 1024 * 1024
#: Longest wait for the queue to drain after the last batch, in seconds.
DEFAULT_WAIT_TIMEOUT_S = 3600.0


def check_cids(source: CrmSource, cids: list[int]) -> None:
    """Raise `UnknownCids` when some of `cids` have no note at all in the CRM."""
    unknown = source.unknown_cids(cids)
    if unknown:
        raise UnknownCids(unknown)


class Progress(Protocol):
    """What the use case tells the terminal (or the log) as it goes."""

    def start_cid(self, cid: int, total: int, done: int) -> None: ...
    def advance(self, cid: int, notes: int) -> None: ...
    def finish_cid(self, cid: int) -> None: ...
    def waiting(self, counts: dict[int, dict[str, Any]]) -> None: ...
    def queued(self, pending: int) -> None: ...


@dataclass
class CidReport:
    """One row of the final table."""

    cid: int
    in_scope: int = 0
    sent: int = 0
    skipped: int = 0
    accepted: int = 0
    rejected: int = 0
    migrated: int | None = None
    parked: dict[str, int] = field(default_factory=dict)
    pending: int | None = None
    would_land: int | None = None
    #: What this pass withdrew of notes that left scope (usecases/left_scope.py): None when not swept.
    left_scope: dict[str, Any] | None = None

    @property
    def accounted(self) -> int | None:
        """Notes known to be migrated or parked (an `edited_in_cdp` note is in both)."""
        if self.migrated is None:
            return None
        return self.migrated + sum(n for r, n in self.parked.items() if r != EDITED_IN_CDP)

    @property
    def complete(self) -> bool:
        return self.pending == 0 and (self.accounted or 0) >= self.in_scope


@dataclass
class RunReport:
    """The outcome of `run`: per-cid rows, and why it stopped early if it did."""

    cids: list[CidReport]
    dry_run: bool = False
    interrupted: bool = False
    error: str | None = None
    drained: bool | None = None

    @property
    def ok(self) -> bool:
        if self.interrupted or self.error:
            return False
        if self.dry_run:
            return True
        return all(c.complete for c in self.cids)


def batch_id_for(cid: int, notes: list[dict[str, Any]]) -> str:
    """Deterministic idempotency key: cid, id range and a hash of the notes as sent."""
    body = canonical_json(notes)
    digest = hashlib.sha256(body).hexdigest()[:24]
    return f"crm-{cid}-{notes[0]['legacy_crm_note_id']}-{notes[-1]['legacy_crm_note_id']}-{digest}"


def build_batch(cid: int, page: Iterable[tuple[Any, Any]], tz: ZoneInfo) -> dict[str, Any]:
    """A SPEC §4 batch of one page of (LegacyNote, users) rows."""
    notes = [legacy_note_to_contract(note, users, tz)[0] for note, users in page]
    return {"contract_version": CONTRACT_VERSION, "cid": cid, "batch_id": batch_id_for(cid, notes), "notes": notes}


def split_page(page: list[tuple[Any, Any]], max_content: int = MAX_BATCH_CONTENT_CHARS) -> list[list[tuple[Any, Any]]]:
    """The page's (LegacyNote, users) rows in order, cut into consecutive parts whose
    notes' content totals at most `max_content` characters (a note over it on its own)."""
    parts: list[list[tuple[Any, Any]]] = []
    part: list[tuple[Any, Any]] = []
    size = 0
    for row in page:
        n = len(row[0].content or "")
        if part and size + n > max_content:
            parts.append(part)
            part, size = [], 0
        part.append(row)
        size += n
    if part:
        parts.append(part)
    return parts


@dataclass
class _Slot:
    batch_id: str
    first_id: int
    last_id: int
    notes: int
    done: bool = False


@dataclass
class _CidRun:
    cp: CidPass
    report: CidReport
    acked: set[str]
    slots: deque[_Slot] = field(default_factory=deque)
    scanned: bool = False


class Extractor:
    """Sends every selected cid's in-scope notes; one instance per `run`."""

    def __init__(
        self,
        source: CrmSource,
        client: MigrationApiClient,
        checkpoint: Checkpoint,
        tz: ZoneInfo,
        progress: Progress,
        stop: threading.Event,
        batch_size: int = DEFAULT_BATCH_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_ack: Callable[[int, str], None] | None = None,
    ) -> None:
        self.source, self.client, self.checkpoint = source, client, checkpoint
        self.tz, self.progress, self.stop = tz, progress, stop
        self.batch_size, self.concurrency = batch_size, max(1, concurrency)
        self.on_ack = on_ack
        self._in_flight: dict[Future[Any], tuple[_CidRun, _Slot]] = {}
        self._error: str | None = None
        #: The first exception that stopped the run (its message is `RunReport.error`).
        self.failure: BaseException | None = None

    def send(self, cids: list[int]) -> RunReport:
        """Stream and send; returns the per-cid report (without the CDP counts)."""
        runs: list[_CidRun] = []
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="post") as pool:
            for cid in cids:
                if self.stop.is_set() or self._error:
                    break
                try:
                    run = self._open(cid)
                    runs.append(run)
                    self._send_cid(run, pool)
                except FixableError as exc:  # the CRM stayed away past its wait budget
                    self._fail(exc)
            while self._in_flight:
                self._collect(FIRST_COMPLETED)
        for run in runs:
            run.report.accepted, run.report.rejected = self.checkpoint.accepted_total(run.cp.cid, run.cp.pass_no)
        reports = [r.report for r in runs] + [CidReport(c) for c in cids[len(runs) :]]
        interrupted = self.stop.is_set() or any(not r.scanned for r in runs) or len(runs) < len(cids)
        return RunReport(reports, interrupted=interrupted and not self._error, error=self._error)

    def _open(self, cid: int) -> _CidRun:
        cp = self.checkpoint.open_pass(cid, self.source.max_note_id(cid))
        report = CidReport(cid, in_scope=self.source.count_in_scope(cid, 0, cp.high_water))
        done = self.source.count_in_scope(cid, 0, cp.acked_upto) if cp.acked_upto else 0
        self.progress.start_cid(cid, report.in_scope, done)
        return _CidRun(cp, report, self.checkpoint.acked_batch_ids(cid, cp.pass_no))

    def _send_cid(self, run: _CidRun, pool: ThreadPoolExecutor) -> None:
        cp = run.cp
        pages = self.source.iter_pages(cp.cid, cp.acked_upto, cp.high_water, self.batch_size)
        for part in (part for page in pages for part in split_page(page)):
            if self.stop.is_set() or self._error:
                return
            batch = build_batch(cp.cid, part, self.tz)
            notes = batch["notes"]
            slot = _Slot(batch["batch_id"], notes[0]["legacy_crm_note_id"], notes[-1]["legacy_crm_note_id"], len(notes))
            run.slots.append(slot)
            if slot.batch_id in run.acked:
                slot.done = True
                run.report.skipped += slot.notes
                self.progress.advance(cp.cid, slot.notes)
                self._advance_prefix(run)
                continue
            while len(self._in_flight) >= self.concurrency:
                self._collect(FIRST_COMPLETED)
            self._in_flight[pool.submit(self.client.post_batch, batch)] = (run, slot)
        run.scanned = True
        self._advance_prefix(run)

    def _collect(self, how: str) -> None:
        done, _ = wait(list(self._in_flight), return_when=how)
        for future in done:
            run, slot = self._in_flight.pop(future)
            try:
                answer = future.result()
            except MigrationApiError as exc:
                self._fail(exc)
                continue
            rejected = len(answer.get("rejected") or [])
            self.checkpoint.record_ack(
                run.cp.cid,
                run.cp.pass_no,
                slot.batch_id,
                slot.first_id,
                slot.last_id,
                slot.notes,
                int(answer.get("accepted", 0)),
                rejected,
            )
            slot.done = True
            run.report.sent += slot.notes
            if self.on_ack:
                self.on_ack(run.cp.cid, slot.batch_id)
            self.progress.advance(run.cp.cid, slot.notes)
            self._advance_prefix(run)

    def _fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure, self._error = exc, str(exc)

    def _advance_prefix(self, run: _CidRun) -> None:
        last = None
        while run.slots and run.slots[0].done:
            last = run.slots.popleft().last_id
        if last is not None:
            self.checkpoint.advance(run.cp.cid, run.cp.pass_no, last)
        if run.scanned and not run.slots:
            self.checkpoint.complete(run.cp.cid, run.cp.pass_no)
            self.progress.finish_cid(run.cp.cid)


def add_counts(report: RunReport, counts: dict[int, dict[str, Any]]) -> None:
    """Fill migrated / parked / pending of each row from the counts endpoint's answers."""
    for row in report.cids:
        c = counts.get(row.cid)
        if c is None:
            continue
        row.migrated = int(c.get("migrated", 0))
        row.parked = {k: int(v) for k, v in (c.get("parked") or {}).items() if v}
        row.pending = int(c.get("pending", 0))


def drain(client: MigrationApiClient, report: RunReport, timeout_s: float, progress: Progress) -> None:
    """Wait until nothing is pending for the report's cids, then fill in their counts."""
    cids = [r.cid for r in report.cids]
    try:
        counts = client.wait_drained(cids, timeout_s, on_progress=progress.waiting, on_queued=progress.queued)
        report.drained = True
    except TimeoutError as exc:
        counts = exc.args[1] if len(exc.args) > 1 else {}
        report.drained = False
        report.error = report.error or str(exc.args[0])
    add_counts(report, counts)
