"""Discarding jobs that failed for good (SPEC §4, §8 `failed-jobs --discard`).

A discarded job leaves the dead-letter queue and the queued-notes total, and its batch
record goes: its notes stop counting as `pending` (so `run` stops waiting for them and
`rollback` no longer refuses), and the next `run`, sending the same batch again, finds no
record of it and queues it as new work.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol


class FailedJobs(Protocol):
    def discard_failed(self, batch_ids: Collection[str] | None = None) -> list[tuple[int, str]]: ...


class BatchRecords(Protocol):
    def forget(self, cid: int, batch_id: str) -> None: ...


def discard_failed_jobs(
    queue: FailedJobs, ledger: BatchRecords, batch_ids: Collection[str] | None = None
) -> list[tuple[int, str]]:
    """Discard the failed jobs (every one, or those of these batch ids); returns their (cid, batch_id)."""
    gone = queue.discard_failed(batch_ids)
    for cid, batch_id in gone:
        ledger.forget(cid, batch_id)
    return gone
