"""The composition root: the one place that builds adapters from `Settings` and hands them to
the API, the worker and the commands.

Use cases never open a connection themselves; they receive what this module builds. Each
function imports its adapter when called, so a command pays only for what it uses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from crm_notes_migration.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from pymongo.database import Database

    from crm_notes_migration.cdp.store import MongoNoteStore
    from crm_notes_migration.client import MigrationApiClient
    from crm_notes_migration.queue.broker import BatchQueue
    from crm_notes_migration.source.crm import CrmSource
    from crm_notes_migration.transform import TransformOptions
    from crm_notes_migration.usecases.ingest import Resolver

log = logging.getLogger(__name__)


def cdp_database(settings: Settings, **client_options: Any) -> Database[Any]:
    """The CDP database (`CDP_MONGODB_URI`, `CDP_MONGODB_DB`); connects lazily."""
    from crm_notes_migration.cdp.mongo import open_database

    return open_database(settings, **client_options)


def prepared_cdp_database(settings: Settings) -> Database[Any]:
    """The CDP database with the indexes the migration relies on (idempotent); its client
    is closed when that fails."""
    from crm_notes_migration.cdp.mongo import ensure_indexes

    db = cdp_database(settings)
    try:
        ensure_indexes(db)
    except BaseException:
        db.client.close()
        raise
    return db


def note_store(db: Database[Any]) -> MongoNoteStore:
    """The migration's reads and writes of `contact_notes` and the parked collection."""
    from crm_notes_migration.cdp.store import MongoNoteStore

    return MongoNoteStore(db)


def contact_resolver(db: Database[Any]) -> Resolver:
    """Legacy person → CDP contact, and CRM users → CDP users, for one cid at a time."""
    from crm_notes_migration.cdp.resolve import resolve_notes

    return partial(resolve_notes, db)


def transform_options(settings: Settings) -> TransformOptions:
    from crm_notes_migration.transform import TransformOptions

    return TransformOptions.from_settings(settings)


def batch_queue(settings: Settings) -> BatchQueue:
    """The Redis-backed job queue (`REDIS_URL`)."""
    from crm_notes_migration.queue.broker import BatchQueue, build_broker

    return BatchQueue(build_broker(settings))


def crm_source(settings: Settings) -> CrmSource:
    """The legacy CRM (`CRM_DATABASE_URL`), read only."""
    from crm_notes_migration.source.crm import CrmSource

    return CrmSource(settings.crm_database_url, settings.crm_database_wait_s)


def api_client(settings: Settings) -> MigrationApiClient:
    """The HTTP client of the migrate and count endpoints (`MIGRATION_API_URL`)."""
    from crm_notes_migration.client import MigrationApiClient

    return MigrationApiClient(
        settings.migration_api_url, settings.migration_api_token or "", wait_s=settings.migration_api_wait_s
    )


def api_app(settings: Settings, *, db: Database[Any] | None = None, queue: BatchQueue | None = None) -> FastAPI:
    """The HTTP API on the configured store and queue (tests may hand in their own)."""
    from crm_notes_migration.api.app import create_app

    db = db if db is not None else cdp_database(settings)
    return create_app(settings, db=db, queue=queue or batch_queue(settings))


def batch_handler(
    settings: Settings, db: Database[Any], queue: BatchQueue | None = None
) -> Callable[[int, str, list[dict[str, Any]]], None]:
    """The job body the worker runs for each batch, on the given store."""
    from crm_notes_migration.cdp.batches import BatchLedger
    from crm_notes_migration.queue.worker import make_batch_handler

    return make_batch_handler(note_store(db), BatchLedger(db), contact_resolver(db), transform_options(settings), queue)


#: Longest pause between two attempts to reach a store that is away when a worker starts.
STORE_WAIT_CAP_S = 30.0


def store_when_reachable(
    settings: Settings, stop: threading.Event | None = None, first_wait_s: float = 1.0
) -> Database[Any] | None:
    """`prepared_cdp_database`, waiting for a store that is away or restarting: attempts with
    doubling pauses (up to STORE_WAIT_CAP_S), one log line each, for about JOB_RETRY_WAIT_S;
    then, or on an error that is not an outage, the error is raised. None once `stop` is set."""
    from crm_notes_migration.cdp.errors import is_transient

    stop = stop or threading.Event()
    deadline = time.monotonic() + settings.job_retry_wait_s
    wait_s = first_wait_s
    while not stop.is_set():
        try:
            return prepared_cdp_database(settings)
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + wait_s > deadline:
                raise
            detail = str(exc).splitlines()[0].split(", Timeout:")[0][:200]
            log.warning("the CDP store is unreachable (%s): retrying in %.0f s (CDP_MONGODB_URI)", detail, wait_s)
        stop.wait(wait_s)
        wait_s = min(wait_s * 2, STORE_WAIT_CAP_S)
    return None


def run_worker(settings: Settings, threads: int, stop: threading.Event | None = None) -> None:
    """Consume batches until stopped (SIGTERM/SIGINT or `stop`); a store that is away at
    start is waited for (`store_when_reachable`)."""
    from crm_notes_migration.queue.worker import consume

    db = store_when_reachable(settings, stop)
    if db is None:
        return
    queue = batch_queue(settings)
    try:
        consume(
            queue,
            batch_handler(settings, db, queue),
            threads=threads,
            stop=stop,
            retry_wait_s=settings.job_retry_wait_s,
        )
    finally:
        db.client.close()
