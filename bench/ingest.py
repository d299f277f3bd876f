"""Ingest throughput: worker processes against the store's own insert ceiling.

    python -m bench.ingest [--notes 20000] [--cids 20]

Seeds a private CRM + CDP database (seed generator and loader), builds contract batches
of 1000 with the CRM reader and `legacy_note_to_contract`, and ENQUEUES THEM DIRECTLY on
the Redis queue (no HTTP), then times 1 and 2 real `worker` processes until the queue is
empty. The ceiling is the same finished documents (transformed beforehand) inserted with
unordered `insert_many` of 1000 into the same store, measured right before and right
after each worker run (the machine is shared: load changes within seconds); the last
line gives medians over rounds. Peak RSS of a worker via psutil.

`--bounds` adds rounds of the same worker with the transform made cheaper than it can be
(`bench.what_if_worker`): `transform-free` (each note's result precomputed, the
transform a lookup) and `sanitise-only` (that, plus one bare nh3 pass over the content).
Their ratios bound what any faster transform could reach on this machine and store.

Each round also says where the CPU went when the store runs on this machine (FerretDB
and its PostgreSQL, or a mongod; Redis): the store's CPU per landed note in the ceiling
and in the worker run (the worker's run also reads contacts and users, and writes parked
records, which the ceiling does not), and how many of the machine's cores
were busy. The ceiling is one client waiting on each `insert_many`, the worker run keeps
every core busy, so the ratio is set by the CPU each landed note costs in all.

The default size gives ~26 batches: with 4 worker threads, a handful of batches (the old
default, 4000 notes, made 10) measures mostly the start and the tail of a run, not the
rate a migration runs at.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from statistics import median
from typing import NamedTuple
from zoneinfo import ZoneInfo

import psutil
import pymongo

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_migration.cdp.mongo import BATCHES, CONTACT_NOTES, PARKED, ensure_indexes, open_database
from crm_notes_migration.cdp.resolve import resolve_notes
from crm_notes_migration.config import Settings
from crm_notes_migration.contract import NoteV1
from crm_notes_migration.queue.broker import QUEUE_NAME, BatchQueue, build_broker
from crm_notes_migration.queue.worker import DEFAULT_THREADS
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.transform import TransformOptions, legacy_note_to_contract, transform_note

from .cpu import local_service_cpu_s, process_cpu_s

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000


def build_batches(settings) -> list[tuple[int, list[dict]]]:
    tz = ZoneInfo(settings.crm_timezone)
    out = []
    with CrmSource(settings.crm_database_url) as source:
        for cid in source.cids():
            for page in source.iter_pages(cid, 0, source.max_note_id(cid), BATCH):
                out.append((cid, [legacy_note_to_contract(n, users, tz)[0] for n, users in page]))
    return out


def transform_results(settings, db, batches) -> dict:
    """{(cid, legacy_crm_note_id): TransformResult} of every note, resolved against `db`."""
    options = TransformOptions.from_settings(settings)
    results = {}
    for cid, raw in batches:
        notes = [NoteV1.model_validate(n) for n in raw]
        for note, res in zip(notes, resolve_notes(db, cid, notes), strict=False):
            results[(cid, note.legacy_crm_note_id)] = transform_note(cid, note, res, options)
    return results


def ceiling(db, docs, local: LocalCpu | None = None) -> float:
    """Notes/s of inserting `docs`; `local`, if given, measures the CPU of the inserts."""
    coll = db["bench_ceiling"]
    coll.drop()
    coll.create_index([("cid", 1), ("legacy_crm_note_id", 1)], unique=True)
    with local or contextlib.nullcontext():
        started = time.perf_counter()
        for i in range(0, len(docs), BATCH):
            coll.insert_many([dict(d) for d in docs[i : i + BATCH]], ordered=False)
        elapsed = time.perf_counter() - started
    coll.drop()
    return len(docs) / elapsed


def _env(settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CRM_DATABASE_URL=settings.crm_database_url,
        CDP_MONGODB_URI=settings.cdp_mongodb_uri,
        CDP_MONGODB_DB=settings.cdp_mongodb_db,
        REDIS_URL=settings.redis_url,
        QUEUE_NAMESPACE=settings.queue_namespace,
        MIGRATION_API_TOKEN="bench",
    )
    return env


def _wait_workers_up(broker, n_workers: int, since_ms: float, timeout_s: float = 120) -> None:
    """Until n_workers worker processes have talked to Redis (their heartbeats), plus a
    moment for their consumers to poll: process start-up is not part of the figure."""
    key = f"{broker.namespace}:__heartbeats__"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [m for m in broker.client.zrangebyscore(key, since_ms, "+inf") if m.decode() != broker.broker_id]
        if len(alive) >= n_workers:
            time.sleep(0.5)
            return
        time.sleep(0.1)
    raise RuntimeError("workers did not start")


WORKER = [sys.executable, "-m", "crm_notes_migration.cli", "worker"]

#: Local processes whose CPU is the store's and the queue's (matched by name prefix).
STORE_PROCESSES = ("ferretdb", "postgres", "mongod")
QUEUE_PROCESSES = ("redis-server",)


class LocalCpu:
    """CPU seconds spent during a `with` block by this machine's store services, its queue
    services (`bench.cpu.local_service_cpu_s`: PostgreSQL with its exited backends), the
    watched processes (the workers) and this process.

    A service that started meanwhile counts from zero. No store service on this machine
    (a remote MongoDB): the store's figure is None."""

    def __init__(self, watched: list[psutil.Process] = ()) -> None:
        self.watched = list(watched)
        self.store_s: float | None = None
        self.queue_s = 0.0
        self.watched_s = 0.0
        self.all_s = 0.0
        self.elapsed_s = 0.0

    def _read(self) -> tuple[dict[str, float], float, float]:
        services = local_service_cpu_s(STORE_PROCESSES + QUEUE_PROCESSES)
        return services, sum(process_cpu_s(p) for p in self.watched), process_cpu_s(psutil.Process())

    def __enter__(self) -> LocalCpu:
        self._start = self._read()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.elapsed_s = time.perf_counter() - self._t0
        services, watched, own = self._read()
        spent = {name: cpu - self._start[0].get(name, 0.0) for name, cpu in services.items()}
        store = [spent[name] for name in STORE_PROCESSES if name in spent]
        self.store_s = sum(store) if store else None
        self.queue_s = sum(spent.get(name, 0.0) for name in QUEUE_PROCESSES)
        self.watched_s = watched - self._start[1]
        self.all_s = sum(spent.values()) + self.watched_s + own - self._start[2]

    def busy_cores(self) -> float:
        """Cores kept busy on average (all watched and local store/queue processes)."""
        return self.all_s / self.elapsed_s if self.elapsed_s else 0.0


class Round(NamedTuple):
    """One ceiling / workers / ceiling round (ceilings are 0 in a run without them)."""

    ceiling_before: float
    ceiling_after: float
    notes_per_s: float
    peak_rss_mb: float
    cpu_s: float  # CPU time of the worker processes, from the first enqueue to drained
    store_us: float | None = None  # the store's CPU per landed note in the worker run
    busy_cores: float = 0.0  # cores busy during the worker run
    ceiling_store_us: float | None = None  # the store's CPU per note in the ceilings
    ceiling_busy_cores: float = 0.0

    @property
    def ratio(self) -> float:
        return self.notes_per_s / ((self.ceiling_before + self.ceiling_after) / 2)


def run_workers(settings, db, batches, n_workers: int, landed: int, run: str, worker: list[str] = WORKER) -> Round:
    """Landed notes/s, peak RSS and CPU time of n_workers processes of `worker`."""
    for name in (CONTACT_NOTES, PARKED, BATCHES):  # a fresh store each run
        db[name].delete_many({})
    ensure_indexes(db)
    launched_ms = time.time() * 1000
    command = [*worker, "--threads", str(DEFAULT_THREADS)]
    procs = [
        subprocess.Popen(command, env=_env(settings), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(n_workers)
    ]
    broker = build_broker(settings)
    queue = BatchQueue(broker)
    peak = 0.0
    try:
        _wait_workers_up(broker, n_workers, launched_ms)
        with LocalCpu([psutil.Process(p.pid) for p in procs]) as local:
            for k, (cid, notes) in enumerate(batches):
                queue.enqueue_batch(cid, f"bench-{run}-{k}", notes)
            while broker.do_qsize(QUEUE_NAME) > 0:
                for p in procs:
                    with contextlib.suppress(psutil.Error):
                        peak = max(peak, psutil.Process(p.pid).memory_info().rss / 2**20)
                time.sleep(0.05)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
    got = db[CONTACT_NOTES].count_documents({})
    assert got == landed, f"expected {landed} documents, found {got}"
    store_us = None if local.store_s is None else 1e6 * local.store_s / landed
    return Round(0.0, 0.0, landed / local.elapsed_s, peak, local.watched_s, store_us, local.busy_cores())


def ratio_round(settings, db, batches, docs, run: str, worker: list[str] = WORKER) -> Round:
    """One worker between two measures of the ceiling."""
    first, second = LocalCpu(), LocalCpu()
    before = ceiling(db, docs, first)
    one = run_workers(settings, db, batches, 1, len(docs), run, worker)
    after = ceiling(db, docs, second)
    store_us = None
    if first.store_s is not None and second.store_s is not None:
        store_us = 1e6 * (first.store_s + second.store_s) / (2 * len(docs))
    busy = (first.all_s + second.all_s) / (first.elapsed_s + second.elapsed_s)
    return one._replace(ceiling_before=before, ceiling_after=after, ceiling_store_us=store_us, ceiling_busy_cores=busy)


def _describe(r: Round, notes: int) -> str:
    return (
        f"ceiling insert_many(1000, unordered) {r.ceiling_before:.0f}/{r.ceiling_after:.0f} notes/s; "
        f"1 worker ({DEFAULT_THREADS} threads) {r.notes_per_s:.0f} notes/s landed, ratio {r.ratio:.2f}, "
        f"worker CPU {r.cpu_s:.2f} s ({1e6 * r.cpu_s / notes:.0f} µs per note), peak RSS {r.peak_rss_mb:.0f} MB"
        f"{_where_cpu_went(r)}"
    )


def _where_cpu_went(r: Round) -> str:
    if r.store_us is None or r.ceiling_store_us is None:
        return "; no local store process: store CPU not measured"
    return (
        f"; store CPU per landed note {r.store_us:.0f} µs (ceiling {r.ceiling_store_us:.0f}), "
        f"cores busy {r.busy_cores:.1f} (ceiling {r.ceiling_busy_cores:.1f}) of {os.cpu_count()}"
    )


def bounds(settings, db, batches, docs, results, rounds: int, notes: int) -> None:
    """The ratios of `bench.what_if_worker`'s modes, medians over rounds."""
    from bench.what_if_worker import MODES

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        path = os.path.join(tmp, "results.pickle")
        with open(path, "wb") as f:
            pickle.dump(results, f)
        ratios: dict[str, list[float]] = {m: [] for m in MODES}
        for rnd in range(1, rounds + 1):
            for mode in MODES:
                worker = [sys.executable, "-m", "bench.what_if_worker", mode, path]
                r = ratio_round(settings, db, batches, docs, f"{mode}-{rnd}", worker)
                ratios[mode].append(r.ratio)
                print(f"bound round {rnd}: {mode}: {_describe(r, notes)}")
    print("bounds " + " ".join(f"{m.replace('-', '_')}_ratio={median(r):.2f}" for m, r in ratios.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=20000)
    parser.add_argument("--cids", type=int, default=20)
    parser.add_argument(
        "--rounds", type=int, default=3, help="ceiling / 1 worker / ceiling rounds; the figures are medians over rounds"
    )
    parser.add_argument(
        "--bounds",
        action="store_true",
        help="also measure the worker with a transform-free and a sanitise-only transform",
    )
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:8]
    base = Settings()
    settings = base.model_copy(
        update={
            "crm_database_url": base.crm_database_url.rsplit("/", 1)[0] + f"/crm_bench_{suffix}",
            "cdp_mongodb_db": f"cdp_bench_{suffix}",
            "queue_namespace": f"cnm-bench-{suffix}",
        }
    )
    import psycopg

    try:
        load_seed(settings, args.notes, args.cids, 42)
        db = open_database(settings)
        batches = build_batches(settings)
        results = transform_results(settings, db, batches)
        docs = [r.document for r in results.values() if r.document is not None]
        notes = sum(len(b) for _, b in batches)
        print(
            f"cores={os.cpu_count()} notes={notes} landing={len(docs)} "
            f"batches={len(batches)} (enqueued directly on Redis, no HTTP)"
        )
        # The machine is shared: the ceiling is measured just before and just after each
        # worker run, and each round's ratio is against the mean of the two.
        rounds = []
        for rnd in range(1, args.rounds + 1):
            rounds.append(ratio_round(settings, db, batches, docs, str(rnd)))
            print(f"round {rnd}: {_describe(rounds[-1], notes)}")
        two = run_workers(settings, db, batches, 2, len(docs), "two")
        print(
            f"2 workers ({DEFAULT_THREADS} threads): {two.notes_per_s:.0f} notes/s landed, "
            f"peak RSS {two.peak_rss_mb:.0f} MB"
        )
        if args.bounds:
            bounds(settings, db, batches, docs, results, args.rounds, notes)
        if all(r.store_us is not None and r.ceiling_store_us is not None for r in rounds):
            print(
                f"cpu store_us_per_landed_note={median(r.store_us for r in rounds):.0f} "
                f"ceiling_store_us_per_note={median(r.ceiling_store_us for r in rounds):.0f} "
                f"busy_cores={median(r.busy_cores for r in rounds):.1f} "
                f"ceiling_busy_cores={median(r.ceiling_busy_cores for r in rounds):.1f} cores={os.cpu_count()}"
            )
        print(
            f"ingest notes_per_s={median(r.notes_per_s for r in rounds):.0f} "
            f"ceiling_notes_per_s={median((r.ceiling_before + r.ceiling_after) / 2 for r in rounds):.0f} "
            f"ratio={median(r.ratio for r in rounds):.2f} "
            f"worker_rss_mb={max([r.peak_rss_mb for r in rounds] + [two.peak_rss_mb]):.0f}"
        )
    finally:
        pymongo.MongoClient(settings.cdp_mongodb_uri).drop_database(settings.cdp_mongodb_db)
        r = build_broker(settings).client
        keys = list(r.scan_iter(f"{settings.queue_namespace}*"))
        if keys:
            r.delete(*keys)
        admin = settings.crm_database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "crm_bench_{suffix}" WITH (FORCE)')


if __name__ == "__main__":
    main()
