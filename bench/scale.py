"""Scale benchmark (issue 19): seed N notes over C cids (with the CDP's own notes), run API +
worker + `run` until drained, then `reconcile --report`, and say how time and memory grow.

    python -m bench.scale [--notes 2000000] [--cids 1300] [--ladder]

`--ladder` runs 21,000 and 210,000 notes before N (each rung in its own databases, one after
the other, cids scaled to keep N/C notes per cid), so that the growth is visible. Not part
of CI: 2M notes take hours on a shared machine. Uses the configured services (CRM_DATABASE_URL,
CDP_MONGODB_URI, REDIS_URL) in databases and a queue namespace of its own, dropped at the end.

Per rung and phase: wall time and notes/s (in-scope notes over the phase's time):
- seed: load_seed (the CRM, the CDP's contacts, users and own notes);
- drained: `run` start until the ledger has nothing queued (bench.pipeline.run_until_drained);
- run: `run`'s whole wall time (it reads every cid's counts at the end);
- reconcile: `reconcile --report` start until its last cid line;
- report: from there until it exits (the QA report written, the verdicts recorded).
Peak RSS of the API, the extractor (`run`), each worker and reconcile (its largest process;
its worker processes are processes of their own), sampled with psutil; the QA report's size.
Last line: `scale notes=<n> run_s=<s> reconcile_s=<s> rss_mb_max=<n> growth_21k_to_2m=<r>`,
run_s being `run`'s whole wall time, reconcile_s reconcile's with its report, and growth the
per-note time (run + reconcile + report) of the largest rung over the smallest's ("n/a"
without --ladder).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pymongo

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_devtools.stack import LocalStack, cli_command, settings_env
from crm_notes_migration.config import Settings
from crm_notes_migration.queue.worker import DEFAULT_THREADS

from .pipeline import RssSampler, print_run_failure, run_until_drained

LADDER = (21_000, 210_000)
#: `run --wait-timeout`: long enough for 2M notes on two cores.
WAIT_TIMEOUT_S = 6 * 3600


@dataclass
class Rung:
    notes: int
    cids: int
    in_scope: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)
    report_bytes: int = 0
    ok: bool = True

    def per_note_s(self) -> float:
        """Seconds per in-scope note of `run` plus `reconcile --report`."""
        spent = sum(self.phases.get(phase, 0.0) for phase in ("run", "reconcile", "report"))
        return spent / max(self.in_scope, 1)


def _settings(base: Settings, suffix: str) -> Settings:
    return base.model_copy(
        update={
            "crm_database_url": base.crm_database_url.rsplit("/", 1)[0] + f"/crm_scale_{suffix}",
            "cdp_mongodb_db": f"cdp_scale_{suffix}",
            "queue_namespace": f"crm-notes-scale-{suffix}",
            "migration_api_token": uuid.uuid4().hex,
        }
    )


def _drop(base: Settings, settings: Settings) -> None:
    pymongo.MongoClient(settings.cdp_mongodb_uri).drop_database(settings.cdp_mongodb_db)
    admin = base.crm_database_url.rsplit("/", 1)[0] + "/postgres"
    name = settings.crm_database_url.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reconcile(
    stack: LocalStack, sampler: RssSampler, workdir: Path, report: Path, timeout_s: float
) -> tuple[int, float, float]:
    """`reconcile --report` as a subprocess; (exit code, seconds until its last cid line,
    seconds from there until it exited). Past `timeout_s` it is interrupted and
    the figures say how far it got, so that the rung's other figures still print."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cli_command("reconcile", "--report", str(report)),
        cwd=workdir,
        env=settings_env(stack.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler.pids["reconcile"] = proc.pid
    last_cid = [started]
    tail: list[str] = []

    def read_stderr() -> None:
        for line in proc.stderr:
            if line.startswith("cid "):
                last_cid[0] = time.perf_counter()
            tail[:] = [*tail[-19:], line]

    out: list[str] = []
    readers = [
        threading.Thread(target=read_stderr, daemon=True),
        threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.terminate()  # as Ctrl-C: it removes its snapshot on the way out
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(f"  reconcile stopped after {timeout_s:.0f}s (--reconcile-timeout)", flush=True)
    ended = time.perf_counter()
    for reader in readers:
        reader.join()
    summary = "".join(out).strip()
    print(f"  reconcile: {summary.splitlines()[0] if summary else '(no summary)'}", flush=True)
    if proc.returncode != 0:
        print(f"  reconcile exited {proc.returncode}:\n{''.join(tail)}", flush=True)
    return proc.returncode, last_cid[0] - started, ended - last_cid[0]


def run_rung(base: Settings, rung: Rung, args: argparse.Namespace) -> Rung:
    """Seed, run to drained, reconcile with a report, in databases of the rung's own."""
    suffix = uuid.uuid4().hex[:8]
    settings = _settings(base, suffix)
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-scale-{rung.notes}-"))
    print(f"rung notes={rung.notes} cids={rung.cids} (workdir {workdir})", flush=True)
    try:
        started = time.perf_counter()
        expectations = load_seed(settings, rung.notes, rung.cids, args.seed).to_json()
        rung.phases["seed"] = time.perf_counter() - started
        rung.in_scope = expectations["totals"]["in_scope"]
        print(f"  seeded in {rung.phases['seed']:.1f}s: {rung.in_scope} in scope", flush=True)
        db = pymongo.MongoClient(settings.cdp_mongodb_uri)[settings.cdp_mongodb_db]
        sampler = RssSampler()
        try:
            with LocalStack(
                settings, workdir / "stack", workers=args.workers, worker_threads=args.worker_threads
            ) as stack:
                sampler.pids.update({name: proc.pid for name, proc in stack.procs.items()})
                sampler.start()
                timing = run_until_drained(
                    stack, db, sampler, workdir, args.batch_size, args.concurrency, WAIT_TIMEOUT_S
                )
                print_run_failure(timing)
                rung.ok = timing.returncode == 0
                rung.phases["drained"], rung.phases["run"] = timing.drained_s, timing.run_s
                print(f"  drained after {timing.drained_s:.1f}s, run exited after {timing.run_s:.1f}s", flush=True)
                report = workdir / "qa.html"
                code, rung.phases["reconcile"], rung.phases["report"] = _reconcile(
                    stack, sampler, workdir, report, args.reconcile_timeout
                )
                rung.ok = rung.ok and code == 0
                rung.report_bytes = report.stat().st_size if report.exists() else 0
        finally:
            sampler.stop()
            db.client.close()
        rung.rss_mb = {name: sampler.peak_one.get(name, 0.0) for name in sampler.pids}
    finally:
        _drop(base, settings)
    return rung


def _print_rung(rung: Rung) -> None:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"notes={rung.notes} cids={rung.cids} in_scope={rung.in_scope} ok={rung.ok} (load average now {load})")
    for phase in ("seed", "run", "drained", "reconcile", "report"):
        secs = rung.phases.get(phase, 0.0)
        rate = rung.in_scope / secs if secs else 0.0
        print(f"  {phase:<9} {secs:8.1f}s {rate:10.0f} notes/s")
    print("  peak rss " + " ".join(f"{name}={mb:.0f}MB" for name, mb in sorted(rung.rss_mb.items())))
    print(
        f"  QA report {rung.report_bytes / 1024:.0f} KiB ({rung.report_bytes / max(rung.in_scope, 1):.2f} bytes/note)"
    )
    print(f"  per note (run + reconcile + report) {rung.per_note_s() * 1e3:.2f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=2_000_000)
    parser.add_argument("--cids", type=int, default=1300)
    parser.add_argument("--ladder", action="store_true", help="Run 21k and 210k notes before --notes.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--worker-threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--reconcile-timeout", type=float, default=WAIT_TIMEOUT_S, help="Seconds before reconcile is stopped."
    )
    args = parser.parse_args()

    sizes = [n for n in LADDER if n < args.notes] if args.ladder else []
    rungs = [Rung(n, max(1, round(args.cids * n / args.notes))) for n in sizes] + [Rung(args.notes, args.cids)]
    base = Settings(_env_file=None)
    print(f"cores={os.cpu_count()} rungs={[(r.notes, r.cids) for r in rungs]} workers={args.workers}", flush=True)
    for rung in rungs:
        run_rung(base, rung, args)
        _print_rung(rung)
    last = rungs[-1]
    growth = f"{last.per_note_s() / rungs[0].per_note_s():.2f}" if len(rungs) > 1 else "n/a"
    rss_max = max((mb for rung in rungs for mb in rung.rss_mb.values()), default=0.0)
    print(
        f"scale notes={last.in_scope} run_s={last.phases.get('run', 0):.1f}"
        f" reconcile_s={last.phases.get('reconcile', 0) + last.phases.get('report', 0):.1f}"
        f" rss_mb_max={rss_max:.0f} growth_21k_to_2m={growth}"
    )
    if not all(rung.ok for rung in rungs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
