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
from ..transform import TransformOptions
from .broker import HEARTBEAT_INTERVAL_S, QUEUE_NAME, build_broker, declare_ingest_actor

log = logging.getLogger(__name__)

#: How long a stopping worker lets its running batches finish.
STOP_TIMEOUT_MS = 60_000
#: Longest pause of an idle consumer between polls of the queue (Dramatiq's default is
#: 1 s): a batch enqueued on an idle worker starts within this.
IDLE_POLL_MS = 200


def make_batch_handler(settings, db):
    """The job body: ingest one batch, then mark it done in the ledger."""
    store = MongoNoteStore(db)
    ledger = BatchLedger(db)
    resolver = partial(resolve_notes, db)
    options = TransformOptions.from_settings(settings)

    def ingest_batch(cid: int, batch_id: str, notes: list[dict[str, Any]]) -> None:
        now = datetime.now(timezone.utc)
        summary = ingest_notes(store, resolver, cid, notes, options, now)
        ledger.mark_done(batch_id, datetime.now(timezone.utc))
        log.info(
            "batch %s cid %s: inserted %d updated %d unchanged %d parked %s",
            batch_id, cid, summary.inserted, summary.updated, summary.unchanged, dict(summary.parked),
        )

    return ingest_batch


def _beat(broker, stop: threading.Event) -> None:
    # Dramatiq records a heartbeat on every broker command; a worker busy with a long
    # batch issues none, so beat explicitly lest live workers be taken for dead.
    while not stop.wait(HEARTBEAT_INTERVAL_S):
        try:
            broker.do_qsize(QUEUE_NAME)
        except Exception as exc:  # Redis away: the consumer threads report it too
            log.debug("heartbeat failed: %s", exc)


def run_worker(settings, threads: int = 2, stop: threading.Event | None = None) -> None:
    """Consume batches until SIGTERM/SIGINT (or `stop` is set), then stop gracefully:
    running batches finish, prefetched ones go back on the queue."""
    stop = stop or threading.Event()
    db = open_database(settings)
    ensure_indexes(db)
    broker = build_broker(settings)
    declare_ingest_actor(broker, make_batch_handler(settings, db))
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
