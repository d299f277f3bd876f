"""Reconcile whole cids on several processes.

Each worker process opens its own connections (CRM PostgreSQL, CDP MongoDB) and the
shared streams of the CDP side (on FerretDB an on-disk snapshot, read-only), once, then
reconciles one whole cid per task and returns its ledger and samples (plain dataclasses,
pickled back). `executor.map` hands the results back in the order of the cids, so the
output is the same as a single process's.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

from crm_notes_migration.config import Settings
from crm_notes_migration.usecases.reconcile.ledger import CidLedger
from crm_notes_migration.usecases.reconcile.sample import Sample

_worker: dict[str, Any] = {}


def _init(settings: Settings, streams_spec: str | None, sample_size: int, seed: int) -> None:
    from crm_notes_migration import bootstrap
    from crm_notes_migration.usecases.reconcile.snapshot import reopen_streams

    db = bootstrap.cdp_database(settings)
    _worker.update(
        db=db,
        source=bootstrap.crm_source(settings),
        tz=ZoneInfo(settings.crm_timezone),
        options=bootstrap.transform_options(settings),
        stores=reopen_streams(db, streams_spec),
        sample_size=sample_size,
        seed=seed,
    )


def _one(cid: int) -> tuple[CidLedger, list[Sample]]:
    from crm_notes_migration.usecases.reconcile.service import reconcile_one

    w = _worker
    return reconcile_one(
        w["db"],
        w["source"],
        cid,
        tz=w["tz"],
        options=w["options"],
        stores=w["stores"],
        sample_size=w["sample_size"],
        seed=w["seed"],
    )


def reconcile_in_processes(
    settings: Settings,
    cids: Sequence[int],
    *,
    workers: int,
    streams_spec: str | None,
    sample_size: int,
    seed: int,
) -> Iterator[tuple[CidLedger, list[Sample]]]:
    """(ledger, samples) per cid, in the order of `cids`, computed by `workers` processes
    (`streams_spec`: the parent's streams, `open_streams(...).spec`)."""
    # spawn, not fork: the parent holds a MongoClient with background threads.
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init,
        initargs=(settings, streams_spec, sample_size, seed),
    ) as pool:
        yield from pool.map(_one, cids)
