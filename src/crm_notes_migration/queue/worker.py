"""The ingestion consumer: a Dramatiq worker in this process, stopped gracefully on SIGTERM."""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone
from functools import partial
from typing import Any

from dramatiq import Worker

from ..cdp.batches import BatchLedger
from ..cdp.mongo import ensure_indexes, open_database
from ..cdp.resolve import resolve_notes
from ..cdp.store import MongoNoteStore
from ..ingest import ingest_notes
from ..memory import bound_heap_growth, settle_after_startup
from ..transform import TransformOptions
from .broker import (
    HEARTBEAT_INTERVAL_S,
    QUEUE_NAME,
    BatchQueue,
    build_broker,
    declare_ingest_actor,
    retries_within,
)

log = logging.getLogger(__name__)

#: How long a stopping worker lets its running batches finish.
STOP_TIMEOUT_MS = 60_000
#: Longest pause of an idle consumer between polls of the queue (Dramatiq's default is
#: 1 s): a batch enqueued on an idle worker starts within this.
IDLE_POLL_MS = 200
#: Batches one worker processes at once. A batch spends most of its time waiting on
#: the store's round trips (bench.pipeline on 2 cores: 4 threads ~8 % faster than 2).
DEFAULT_THREADS = 4


def make_batch_handler(settings, db, queue: BatchQueue | None = None):
    """The job body: ingest one batch, then mark it done in the ledger (and tell the
    queue's bookkeeping: queued notes, last error of a failing job)."""
    store = MongoNoteStore(db)
    ledger = BatchLedger(db)
    resolver = partial(resolve_notes, db)
    options = TransformOptions.from_settings(settings)

    def ingest_batch(cid: int, batch_id: str, notes: list[dict[str, Any]]) -> None:
        now = datetime.now(timezone.utc)
        try:
            summary = ingest_notes(store, resolver, cid, notes, options, now)
            ledger.mark_done(batch_id, datetime.now(timezone.utc))
        except Exception as exc:
            _note_error(queue, batch_id, exc)
            raise
        if queue is not None:
            queue.batch_done(batch_id)
        log.info(
            "batch %s cid %s: inserted %d updated %d unchanged %d parked %s",
            batch_id, cid, summary.inserted, summary.updated, summary.unchanged, dict(summary.parked),
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


def run_worker(settings, threads: int = DEFAULT_THREADS, stop: threading.Event | None = None) -> None:
    """Consume batches until SIGTERM/SIGINT (or `stop` is set), then stop gracefully:
    running batches finish, prefetched ones go back on the queue."""
    stop = stop or threading.Event()
    bound_heap_growth()
    db = open_database(settings)
    ensure_indexes(db)
    broker = build_broker(settings)
    declare_ingest_actor(broker, make_batch_handler(settings, db, BatchQueue(broker)),
                         max_retries=retries_within(settings.job_retry_wait_s))
    settle_after_startup()
    worker = Worker(broker, worker_threads=threads, worker_timeout=IDLE_POLL_MS)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    worker.start()
    beat = threading.Thread(target=_beat, args=(broker, stop), name="heartbeat", daemon=True)
    beat.start()
    log.info("worker started: %d threads, queue %s:%s", threads, settings.queue_namespace, QUEUE_NAME)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping worker")
        worker.stop(timeout=STOP_TIMEOUT_MS)
        broker.close()
        db.client.close()
        log.info("worker stopped")
