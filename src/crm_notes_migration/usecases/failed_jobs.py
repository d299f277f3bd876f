"""`failed-jobs`: the jobs that failed for good (dead-lettered), requeued or discarded.

A job fails for good only on infrastructure errors that outlast its retries (SPEC §4),
and it must never block later runs: requeued, it runs again; discarded, its batch stops
counting as pending and the next `run`, which sends the same batch again, queues it anew.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class FailedJobQueue(Protocol):
    """What the use case needs of the queue adapter (`queue.broker.BatchQueue`)."""

    def failed_jobs(self) -> list[Any]: ...
    def last_error(self, batch_id: str) -> str: ...
    def requeue_failed(self, ids: Collection[str] | None = None) -> int: ...
    def discard_failed(self, ids: Collection[str] | None = None) -> list[tuple[int, str]]: ...


class BatchRecords(Protocol):
    """What the use case needs of the batch ledger (`cdp.batches.BatchLedger`)."""

    def discard(self, batch_id: str, now: datetime) -> bool: ...


class UnknownJob(LookupError):
    """An `--id` that names no failed job."""


@dataclass(frozen=True, slots=True)
class FailedJob:
    """One dead-lettered job, as `failed-jobs` lists it."""

    batch_id: str
    message_id: str
    cid: int
    notes: int
    retries: int
    error: str


def list_failed_jobs(queue: FailedJobQueue) -> list[FailedJob]:
    """The jobs that failed for good, oldest first, each with its last error."""
    jobs = []
    for message in queue.failed_jobs():
        cid, batch_id, notes = message.args
        traceback = (message.options.get("traceback") or "").strip().splitlines()
        error = traceback[-1] if traceback else queue.last_error(batch_id)
        jobs.append(
            FailedJob(
                str(batch_id),
                str(message.message_id),
                int(cid),
                len(notes),
                int(message.options.get("retries", 0)),
                error,
            )
        )
    return jobs


def _select(queue: FailedJobQueue, ids: Sequence[str]) -> set[str] | None:
    """`ids` as a set (None: every job), after checking that each names a failed job."""
    if not ids:
        return None
    known: set[str] = set()
    for job in list_failed_jobs(queue):
        known.update((job.batch_id, job.message_id))
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UnknownJob(f"no failed job has the id {unknown[0]!r} (failed-jobs lists them; --id takes a batch id)")
    return set(ids)


def requeue_failed_jobs(queue: FailedJobQueue, ids: Sequence[str] = ()) -> int:
    """Put failed jobs back on the queue (all, or those of `ids`: batch or message ids);
    returns how many. Raises UnknownJob for an id that names none."""
    return queue.requeue_failed(_select(queue, ids))


def discard_failed_jobs(
    queue: FailedJobQueue, ledger: BatchRecords, now: datetime, ids: Sequence[str] = ()
) -> list[str]:
    """Drop failed jobs (all, or those of `ids`) and mark their batches discarded, so
    they no longer count as pending and are queued again when sent again; returns the
    batch ids dropped. Raises UnknownJob for an id that names none."""
    removed = queue.discard_failed(_select(queue, ids))
    for _, batch_id in removed:
        ledger.discard(batch_id, now)
    return [batch_id for _, batch_id in removed]
