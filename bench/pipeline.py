"""End-to-end pipeline benchmark: `run` from start until drained, against the insert
ceiling of the store and against the naive per-note script.

    python -m bench.pipeline --notes 21000 [--cids 130] [--workers 1]

Everything happens in the benchmark's own databases (crm_bench, cdp_bench, its own Redis
namespace) on the local services. Figures:
- pipeline: wall time of `crm-notes-migrate run` (a subprocess) from its start until drained:
  every batch acknowledged and nothing pending (what the counts endpoint's `pending` reads:
  the accepted notes of batches still queued in the ledger, polled every DRAIN_POLL_S);
  notes/s over the in-scope notes. `run` then reads every cid's counts for its final
  table (on FerretDB a pass over all of `contact_notes`): that time is printed apart, and
  `run`'s whole wall time too.
- ceiling: unordered `insert_many` of 1000 finished `contact_notes` documents at a time
  into a scratch collection of the same store (up to CEILING_SAMPLE documents).
- naive: per note `SELECT` the row, `find_one` its contact, `insert_one` the document,
  measured on NAIVE_SAMPLE notes and extrapolated to N (said so in the output).
- peak RSS of the extractor, the API and the worker (psutil, sampled every 0.2 s).
Last line: `pipeline notes=<n> wall_s=<n> notes_per_s=<n> vs_ceiling=<r> vs_naive=<r> rss_mb_max=<n>`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import pymongo

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_devtools.stack import LocalStack, cli_command, settings_env
from crm_notes_migration.cdp.batches import BatchLedger
from crm_notes_migration.config import Settings
from crm_notes_migration.queue.broker import BatchQueue, build_broker
from crm_notes_migration.queue.worker import DEFAULT_THREADS

from .cpu import process_cpu_s, service_cpu_s

DRAIN_POLL_S = 0.1
CEILING_SAMPLE = 20_000
NAIVE_SAMPLE = 1_000
INSERT_CHUNK = 1000


class RssSampler(threading.Thread):
    """Peak RSS (MB) and last seen CPU seconds per named process tree, sampled until stopped;
    `peak_one`: the peak of the tree's largest single process (a parent with worker
    processes: each is a process of its own)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.pids: dict[str, int] = {}
        self.peak: dict[str, float] = {}
        self.peak_one: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.2):
            for name, pid in list(self.pids.items()):
                try:
                    proc = psutil.Process(pid)
                    tree = [proc, *proc.children(recursive=True)]
                    sizes = [p.memory_info().rss for p in tree]
                    self.cpu[name] = sum(process_cpu_s(p) for p in tree)
                except psutil.Error:
                    continue
                self.peak[name] = max(self.peak.get(name, 0.0), sum(sizes) / 2**20)
                self.peak_one[name] = max(self.peak_one.get(name, 0.0), max(sizes) / 2**20)

    def cpu_now(self) -> dict[str, float]:
        """CPU seconds used so far per named process tree."""
        out = {}
        for name, pid in self.pids.items():
            try:
                proc = psutil.Process(pid)
                out[name] = sum(process_cpu_s(p) for p in [proc, *proc.children(recursive=True)])
            except psutil.Error:
                continue
        return out

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


class DrainWatcher(threading.Thread):
    """When the ledger went from something queued to nothing queued (perf_counter times
    of each poll that saw nothing queued after one that saw something). Polls the queue's
    queued-notes gauge (one Redis GET, as `run` does) and reads the ledger (a scan of
    `migration_batches` on FerretDB, too costly to repeat ten times a second beside the
    run) only to confirm a zero."""

    def __init__(self, db, queue: BatchQueue) -> None:
        super().__init__(daemon=True)
        self.ledger = BatchLedger(db)
        self.queue = queue
        self.emptied: list[float] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        busy = False
        while not self._stop_event.wait(DRAIN_POLL_S):
            queued = self.queue.queued_notes() or self.ledger.queued_notes()
            if busy and queued == 0:
                self.emptied.append(time.perf_counter())
            busy = queued > 0

    def drained_after(self, moment: float) -> float | None:
        """The first time the ledger was seen empty after `moment`."""
        return next((t for t in self.emptied if t >= moment), None)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _ceiling(db) -> tuple[float, int]:
    docs: list[dict] = []
    for cid in db.contact_notes.distinct("cid"):
        docs.extend(db.contact_notes.find({"cid": cid}).limit(CEILING_SAMPLE - len(docs)))
        if len(docs) >= CEILING_SAMPLE:
            break
    scratch = db["bench_ceiling"]
    scratch.drop()
    started = time.perf_counter()
    for i in range(0, len(docs), INSERT_CHUNK):
        scratch.insert_many(docs[i : i + INSERT_CHUNK], ordered=False)
    elapsed = time.perf_counter() - started
    scratch.drop()
    return len(docs) / elapsed, len(docs)


def _naive(settings: Settings, db) -> tuple[float, int]:
    scratch = db["bench_naive"]
    scratch.drop()
    with psycopg.connect(settings.crm_database_url) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM crm_notes WHERE deleted_at IS NULL AND crm_person_id IS NOT NULL ORDER BY id LIMIT %s",
                (NAIVE_SAMPLE,),
            )
        ]
        started = time.perf_counter()
        for note_id in ids:
            row = conn.execute(
                "SELECT id, cid, crm_person_id, content, created_by, created_at, updated_at"
                " FROM crm_notes WHERE id = %s",
                (note_id,),
            ).fetchone()
            contact = db.contacts.find_one({"cid": row[1], "source_id": str(row[2])})
            if contact is None:
                continue
            scratch.insert_one(
                {
                    "cid": row[1],
                    "contact_id": contact["_id"],
                    "content": row[3],
                    "legacy_crm_note_id": row[0],
                    "created_at": row[5],
                    "updated_at": row[6] or row[5],
                }
            )
        elapsed = time.perf_counter() - started
    scratch.drop()
    return len(ids) / elapsed, len(ids)


@dataclass
class RunTiming:
    """`run` from its start: until every cid was handed over, until drained, until it exited."""

    sent_s: float
    drained_s: float
    run_s: float
    returncode: int
    out: str
    err: str


def run_until_drained(
    stack: LocalStack,
    db,
    sampler: RssSampler,
    workdir: Path,
    batch_size: int,
    concurrency: int,
    wait_timeout_s: float = 7200,
) -> RunTiming:
    """`crm-notes-migrate run --json` as a subprocess (sampled as "extractor") until it exits,
    timing when the ledger drained (DrainWatcher) after the last cid was handed over."""
    watcher = DrainWatcher(db, BatchQueue(build_broker(stack.settings)))
    watcher.start()
    started = time.perf_counter()
    run = subprocess.Popen(
        cli_command(
            "run",
            "--json",
            "--batch-size",
            str(batch_size),
            "--concurrency",
            str(concurrency),
            "--wait-timeout",
            f"{wait_timeout_s:.0f}",
        ),
        cwd=workdir,
        env=settings_env(stack.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler.pids["extractor"] = run.pid
    err_lines: list[str] = []
    last_handed_over = [started]

    def read_stderr() -> None:
        for line in run.stderr:
            err_lines.append(line)
            if "handed over" in line:
                last_handed_over[0] = time.perf_counter()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    out = run.stdout.read()
    run.wait()
    ended = time.perf_counter()
    watcher.stop()
    reader.join()
    drained_at = watcher.drained_after(last_handed_over[0])
    if drained_at is None:  # drained before the last cid was reported handed over
        drained_at = last_handed_over[0]
    return RunTiming(
        sent_s=last_handed_over[0] - started,
        drained_s=drained_at - started,
        run_s=ended - started,
        returncode=run.returncode,
        out=out,
        err="".join(err_lines),
    )


def print_run_failure(timing: RunTiming) -> None:
    """What went wrong, when `run` did not exit 0."""
    if timing.returncode == 0:
        return
    print(f"run exited {timing.returncode}: {timing.err[-500:]}")
    try:
        summary = json.loads(timing.out)
        print(f"error: {summary['error']}, drained: {summary['drained']}")
        for row in summary["cids"]:
            if not row["complete"]:
                print(f"incomplete: {row}")
    except ValueError:
        print(timing.out[-1000:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=21000)
    parser.add_argument("--cids", type=int, default=130)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--worker-threads", type=int, default=DEFAULT_THREADS)
    args = parser.parse_args()

    suffix = uuid.uuid4().hex[:8]
    base = Settings(_env_file=None)
    settings = base.model_copy(
        update={
            "crm_database_url": base.crm_database_url.rsplit("/", 1)[0] + f"/crm_bench_{suffix}",
            "cdp_mongodb_db": f"cdp_bench_{suffix}",
            "queue_namespace": f"crm-notes-bench-{suffix}",
            "migration_api_token": uuid.uuid4().hex,
        }
    )
    print(
        f"cores={os.cpu_count()} notes={args.notes} cids={args.cids} workers={args.workers}"
        f" worker_threads={args.worker_threads} batch_size={args.batch_size} concurrency={args.concurrency}",
        flush=True,
    )
    t = time.perf_counter()
    expectations = load_seed(settings, args.notes, args.cids, args.seed).to_json()
    in_scope = expectations["totals"]["in_scope"]
    print(f"seeded in {time.perf_counter() - t:.1f}s: {in_scope} in scope", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    db = pymongo.MongoClient(settings.cdp_mongodb_uri)[settings.cdp_mongodb_db]
    sampler = RssSampler()
    try:
        with LocalStack(settings, workdir / "stack", workers=args.workers, worker_threads=args.worker_threads) as stack:
            sampler.pids.update(
                {"api": stack.procs["api"].pid, **{n: p.pid for n, p in stack.procs.items() if n.startswith("worker")}}
            )
            sampler.start()
            services_before = service_cpu_s()
            started_cpu = sampler.cpu_now()  # the API and workers started (and imported) before
            timing = run_until_drained(stack, db, sampler, workdir, args.batch_size, args.concurrency)
            services_after = service_cpu_s()
            sampler.stop()
            print_run_failure(timing)
        wall, run_s, sent_s = timing.drained_s, timing.run_s, timing.sent_s
        rate = in_scope / wall
        print(
            f"pipeline: {in_scope} notes in {wall:.1f}s = {rate:.0f} notes/s (run start until drained;"
            f" every batch acknowledged after {sent_s:.1f}s, drained {wall - sent_s:.1f}s later)"
        )
        print(
            f"run's final counts of every cid took {run_s - wall:.1f}s more: run's whole wall time {run_s:.1f}s"
            f" = {in_scope / run_s:.0f} notes/s"
        )
        ceiling, n_ceiling = _ceiling(db)
        print(f"ceiling: insert_many x{INSERT_CHUNK} of {n_ceiling} finished documents = {ceiling:.0f} docs/s")
        naive, n_naive = _naive(settings, db)
        print(
            f"naive: per note SELECT + find_one + insert_one on {n_naive} notes = {naive:.0f} notes/s;"
            f" extrapolated to {in_scope} notes: {in_scope / naive:.0f}s"
        )
        for name, mb in sorted(sampler.peak.items()):
            print(f"peak rss {name}: {mb:.0f} MB")
        cpu = {name: used - started_cpu.get(name, 0.0) for name, used in sampler.cpu.items()}
        cpu.update({k: services_after[k] - services_before[k] for k in services_after})
        print(
            "cpu seconds during the run: "
            + " ".join(f"{k}={v:.1f}" for k, v in sorted(cpu.items()))
            + f" total={sum(cpu.values()):.1f} ({sum(cpu.values()) / max(in_scope, 1) * 1e6:.0f} us/note;"
            " shared services include other users' load)"
        )
        rss_max = max(sampler.peak.values(), default=0.0)
        print(
            f"pipeline notes={in_scope} wall_s={wall:.1f} notes_per_s={rate:.0f} vs_ceiling={rate / ceiling:.2f}"
            f" vs_naive={rate / naive:.1f} rss_mb_max={rss_max:.0f}"
        )
    finally:
        db.client.drop_database(settings.cdp_mongodb_db)
        with psycopg.connect(base.crm_database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "crm_bench_{suffix}" WITH (FORCE)')


if __name__ == "__main__":
    main()
