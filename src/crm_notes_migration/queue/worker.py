"""The ingestion consumer: a Dramatiq worker in this process, stopped gracefully on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dramatiq import Worker

from crm_notes_migration.cdp.batches import BatchLedger
from crm_notes_migration.cdp.store import NoteStore
from crm_notes_migration.memory import bound_heap_growth, settle_after_startup
from crm_notes_migration.transform import TransformOptions
from crm_notes_migration.usecases.ingest import Resolver, ingest_isolating

from .broker import HEARTBEAT_INTERVAL_S, QUEUE_NAME, BatchQueue, declare_ingest_actor, is_transient, retries_within

log = logging.getLogger(__name__)

#: How long a stopping worker lets its running batches finish.
STOP_TIMEOUT_MS = 60_000
#: Longest pause of an idle consumer between polls of the queue (Dramatiq's default is
#: 1 s): a batch enqueued on an idle worker starts within this.
IDLE_POLL_MS = 200
#: Batches one worker processes at once. A batch spends most of its time waiting on
#: the store's round trips (bench.pipeline on 2 cores: 4 threads ~8 % faster than 2).
DEFAULT_THREADS = 4


def make_batch_handler(
    store: NoteStore,
    ledger: BatchLedger,
    resolver: Resolver,
    options: TransformOptions,
    queue: BatchQueue | None = None,
) -> Callable[[int, str, list[dict[str, Any]]], None]:
    """The job body: ingest one batch (a note failing for a reason that is not transient
    is parked on its own), then mark it done in the ledger (and tell the queue's
    bookkeeping: queued notes, last error of a failing job)."""

    def ingest_batch(cid: int, batch_id: str, notes: list[dict[str, Any]]) -> None:
        now = datetime.now(UTC)
        try:
            summary = ingest_isolating(store, resolver, cid, notes, options, now, is_transient)
            ledger.mark_done(batch_id, datetime.now(UTC))
        except Exception as exc:
            _note_error(queue, batch_id, exc)
            raise
        if queue is not None:
            queue.batch_done(batch_id)
        log.info(
            "batch %s cid %s: inserted %d updated %d unchanged %d parked %s",
            batch_id,
            cid,
            summary.inserted,
            summary.updated,
            summary.unchanged,
            dict(summary.parked),
        )

    return ingest_batch


def _note_error(queue: BatchQueue | None, batch_id: str, exc: Exception) -> None:
    if queue is None:
        return
    try:
        queue.note_error(batch_id, f"{type(exc).__name__}: {exc}")
    except Exception as why:  # Redis away: the job's own error is what matters
        log.debug("could not note the error of batch %s: %s", batch_id, why)


def _beat(broker, stop: threading.Event) -> None:
    # Dramatiq records a heartbeat on every broker command; a worker busy with a long
    # batch issues none, so beat explicitly lest live workers be taken for dead.
    while not stop.wait(HEARTBEAT_INTERVAL_S):
        try:
            broker.do_qsize(QUEUE_NAME)
        except Exception as exc:  # Redis away: the consumer threads report it too
            log.debug("heartbeat failed: %s", exc)


def consume(
    queue: BatchQueue,
    handler: Callable[[int, str, list[dict[str, Any]]], None],
    threads: int = DEFAULT_THREADS,
    stop: threading.Event | None = None,
    retry_wait_s: float | None = None,
) -> None:
    """Run `handler` on the queue's batches until SIGTERM/SIGINT (or `stop` is set), then stop
    gracefully: running batches finish, prefetched ones go back on the queue. A batch failing
    on a transient error is retried for about `retry_wait_s` (JOB_RETRY_WAIT_S)."""
    stop = stop or threading.Event()
    bound_heap_growth()
    broker = queue.broker
    retries = {} if retry_wait_s is None else {"max_retries": retries_within(retry_wait_s)}
    declare_ingest_actor(broker, handler, **retries)
    settle_after_startup()
    worker = Worker(broker, worker_threads=threads, worker_timeout=IDLE_POLL_MS)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worker.start()
    beat = threading.Thread(target=_beat, args=(broker, stop), name="heartbeat", daemon=True)
    beat.start()
    log.info("worker started: %d threads, queue %s", threads, QUEUE_NAME)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping worker")
        worker.stop(timeout=STOP_TIMEOUT_MS)
        broker.close()
        log.info("worker stopped")
