"""Workers on other hosts that come and go (issue 19), on the project's own stack.

Each host is a network namespace joined to the root namespace by a veth pair: the root
end carries 10.231.0.1 (point to point, the same address on every pair), the host end
10.231.0.N. `scripts/services.sh` runs a private PostgreSQL, Redis and FerretDB that also
listen on 10.231.0.1 (SERVICES_BIND); one worker runs in each host, the API and `run` in
the root namespace.

Round 1: mid-run, host A is taken away: its veth is deleted, then its processes are
SIGKILLed, so its connections drop without a FIN. The jobs it held go back on the queue
once its Dramatiq heartbeat is older than HEARTBEAT_TIMEOUT_MS (queue/broker.py); host B
finishes the run, nothing lost or doubled, reconcile exits 0.
Round 2: host C is created mid-run and its worker takes jobs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pymongo
import pytest
import redis

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_devtools.stack import LocalStack, cli_command, free_port, settings_env
from crm_notes_migration.config import Settings
from crm_notes_migration.queue.broker import HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_MS, QUEUE_NAME
from tests.conftest import ROOT
from tests.e2e.run_support import LoggingProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

#: The services' address on every host's veth pair; hosts get 10.231.0.2, .3, ...
SERVICE_ADDR = "10.231.0.1"
SUBNET = "10.231.0.0/24"
NOTES, CIDS = 3000, 10
#: Round 2 sends through a proxy that delays each POST this long, so that the run is
#: still sending when host C has started (a worker takes a few seconds to start).
SLOW_POST_S = 0.25
#: Seconds until a dead worker's jobs are back on the queue: its heartbeat must be older
#: than the timeout, then maintenance (10 % of broker commands; a live worker issues
#: several a second, and beats every HEARTBEAT_INTERVAL_S) requeues them.
REDELIVERY_BOUND_S = HEARTBEAT_TIMEOUT_MS / 1000 + HEARTBEAT_INTERVAL_S + 5
RUN_TIMEOUT_S = 150
BATCH_LINE = re.compile(r"batch (\S+) cid (\d+):")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


def _namespaces_unavailable() -> str | None:
    """Why network namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    probe = f"cnm-probe-{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed (CAP_NET_ADMIN needed): {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _wait(what: str, timeout_s: float, predicate: Callable[[], object], interval: float = 0.1) -> float:
    """Seconds until `predicate()` held; fails the test after `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout_s:.0f}s")


class Host:
    """A network namespace with a veth pair to the root namespace, running workers."""

    def __init__(self, name: str, number: int, workdir: Path) -> None:
        tag = uuid.uuid4().hex[:4]
        self.name, self.addr, self.workdir = name, f"10.231.0.{number}", workdir
        self.netns = f"cnm-{name}-{tag}"
        self.veth, self.inner = f"cnm{name}{tag}h", f"cnm{name}{tag}n"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def create(self) -> Host:
        _ip("netns", "add", self.netns)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", self.inner, "netns", self.netns)
        _ip("addr", "add", SERVICE_ADDR, "peer", f"{self.addr}/32", "dev", self.veth)
        _ip("link", "set", self.veth, "up")
        _ip("-n", self.netns, "addr", "add", self.addr, "peer", f"{SERVICE_ADDR}/32", "dev", self.inner)
        _ip("-n", self.netns, "link", "set", self.inner, "up")
        _ip("-n", self.netns, "link", "set", "lo", "up")
        return self

    def run(self, *args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.netns, *args], env=env, capture_output=True, text=True, timeout=timeout
        )

    def start_worker(self, env: dict[str, str], threads: int) -> Path:
        log = self.workdir / f"worker-{self.name}-{len(self.logs) + 1}.log"
        with open(log, "wb") as out:
            self.procs.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", self.netns, *cli_command("worker", "--threads", str(threads))],
                    cwd=self.workdir,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        self.logs.append(log)
        return log

    def batches(self) -> list[str]:
        """batch_id of every batch this host's workers logged as done."""
        return [m.group(1) for log in self.logs if log.exists() for m in BATCH_LINE.finditer(log.read_text())]

    def stop_workers(self) -> None:
        """SIGTERM, as an operator stops a worker: running batches finish."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            proc.wait(90)
        self.procs.clear()

    def _kill_all(self) -> None:
        listed = _ip("netns", "pids", self.netns, check=False).stdout.split()
        for pid in listed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)

    def take_away(self) -> None:
        """The machine is gone: the link first (nothing it sends reaches the services, not
        even the FIN of its dying sockets), then every process in it."""
        _ip("link", "del", self.veth)
        self._kill_all()

    def remove(self) -> None:
        self._kill_all()
        _ip("link", "del", self.veth, check=False)
        _ip("netns", "del", self.netns, check=False)


class Stack:
    """The private services (scripts/services.sh) listening on loopback and SERVICE_ADDR."""

    def __init__(self, workdir: Path) -> None:
        self.data = Path(tempfile.mkdtemp(prefix="cnm-hosts-data-"))
        self.data.chmod(0o777)  # PostgreSQL (its own user) keeps its cluster here
        self.pg = int(os.environ.get("SERVICES_PG_PORT") or free_port())
        self.redis = int(os.environ.get("SERVICES_REDIS_PORT") or free_port())
        self.ferret = int(os.environ.get("SERVICES_FERRET_PORT") or free_port())
        self.env = {
            **os.environ,
            "SERVICES_BIND": f"127.0.0.1,{SERVICE_ADDR}",
            "SERVICES_PG_ALLOW": SUBNET,
            "SERVICES_PG_PORT": str(self.pg),
            "SERVICES_REDIS_PORT": str(self.redis),
            "SERVICES_FERRET_PORT": str(self.ferret),
            "CRM_NOTES_DATA_DIR": str(self.data),
        }
        self.workdir = workdir

    def services(self, action: str) -> None:
        done = subprocess.run(
            [str(ROOT / "scripts" / "services.sh"), action], env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr

    def settings(self, label: str) -> Settings:
        suffix = f"{label}_{uuid.uuid4().hex[:8]}"
        return Settings(
            _env_file=None,
            crm_database_url=f"postgresql://postgres:postgres@127.0.0.1:{self.pg}/crm_{suffix}",
            cdp_mongodb_uri=f"mongodb://127.0.0.1:{self.ferret}/",
            cdp_mongodb_db=f"cdp_{suffix}",
            redis_url=f"redis://127.0.0.1:{self.redis}/0",
            queue_namespace=f"cnm-hosts-{suffix}",
            migration_api_token=uuid.uuid4().hex,
        )

    def host_env(self, settings: Settings) -> dict[str, str]:
        """A worker's environment on a host: the services by their veth address."""
        env = settings_env(settings)
        env.update(
            {
                "CDP_MONGODB_URI": f"mongodb://{SERVICE_ADDR}:{self.ferret}/",
                "REDIS_URL": f"redis://{SERVICE_ADDR}:{self.redis}/0",
                "CRM_DATABASE_URL": settings.crm_database_url.replace("127.0.0.1", SERVICE_ADDR),
            }
        )
        return env


@pytest.fixture
def network(tmp_path) -> Iterator[tuple[Stack, Callable[[str], Host]]]:
    """The private stack and a factory of hosts; everything is removed afterwards."""
    reason = _namespaces_unavailable()
    if reason:
        print(f"SKIPPED workers-on-other-hosts: {reason}")
        pytest.skip(f"network namespaces cannot be made here: {reason}")
    hosts: list[Host] = []
    stack = Stack(tmp_path)

    def add_host(name: str) -> Host:
        host = Host(name, len(hosts) + 2, tmp_path)
        hosts.append(host)
        return host.create()

    try:
        yield stack, add_host
    finally:
        for host in hosts:
            host.remove()
        stack.services("down")
        shutil.rmtree(stack.data, ignore_errors=True)


class Round:
    """One migration: seeded databases, the API in the root namespace, `run` beside it."""

    def __init__(self, stack: Stack, label: str, seed: int) -> None:
        self.settings = stack.settings(label)
        self.expected = load_seed(self.settings, NOTES, CIDS, seed)
        self.workdir = stack.workdir / label
        self.api = LocalStack(self.settings, self.workdir / "api", workers=0).start()
        self.host_env = stack.host_env(self.api.settings)
        self.redis = redis.Redis.from_url(self.settings.redis_url)
        self.run: subprocess.Popen[str] | None = None
        self.proxy: LoggingProxy | None = None
        self.reconcile_s = 0.0

    def worker_ids(self) -> set[str]:
        """Dramatiq ids of the brokers that have beaten (workers, and the API once it enqueued)."""
        return {m.decode() for m in self.redis.zrange(f"{self.settings.queue_namespace}:__heartbeats__", 0, -1)}

    def start_worker(self, host: Host, threads: int) -> str:
        """Start a worker on `host`; returns its Dramatiq id once it beats."""
        before = self.worker_ids()
        host.start_worker(self.host_env, threads)
        _wait(f"the worker of host {host.name} beats", 60, lambda: self.worker_ids() - before, 0.05)
        (new,) = self.worker_ids() - before
        return new

    def held(self, worker_id: str) -> list[str]:
        """batch_id of each job the worker holds (running or prefetched, not acked)."""
        ns = self.settings.queue_namespace
        ids = self.redis.smembers(f"{ns}:__acks__.{worker_id}.{QUEUE_NAME}")
        raw = self.redis.hmget(f"{ns}:{QUEUE_NAME}.msgs", list(ids)) if ids else []
        return [orjson.loads(r)["args"][1] for r in raw if r]

    def start_run(self, *args: str, slow_post_s: float = 0.0) -> None:
        env = settings_env(self.api.settings)
        if slow_post_s:
            self.proxy = LoggingProxy(self.api.settings.migration_api_url, delay_s=slow_post_s)
            env["MIGRATION_API_URL"] = self.proxy.url
        self.run = subprocess.Popen(
            cli_command("run", "--json", "--wait-timeout", str(RUN_TIMEOUT_S), *args),
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self) -> dict:
        """Wait for `run`; check that every note arrived once and reconcile agrees."""
        assert self.run is not None
        try:
            out, err = self.run.communicate(timeout=RUN_TIMEOUT_S + 60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"run did not finish: {self.diagnose()}")
        assert self.run.returncode == 0, err[-2000:]
        summary = orjson.loads(out)
        rows = {row["cid"]: row for row in summary["cids"]}
        for cid, exp in self.expected.per_cid.items():
            assert (rows[cid]["migrated"], rows[cid]["pending"], rows[cid]["complete"]) == (exp["migrated"], 0, True)
        db = pymongo.MongoClient(self.settings.cdp_mongodb_uri)[self.settings.cdp_mongodb_db]
        try:
            legacy = [
                d["legacy_crm_note_id"]
                for d in db.contact_notes.find({"legacy_crm_note_id": {"$exists": True}}, {"legacy_crm_note_id": 1})
            ]
        finally:
            db.client.close()
        assert len(legacy) == len(set(legacy)), "a note was written twice"
        assert len(legacy) == sum(exp["migrated"] for exp in self.expected.per_cid.values()), "a note is missing"
        started = time.monotonic()
        reconcile = subprocess.run(
            cli_command("reconcile"),
            cwd=self.workdir,
            env=settings_env(self.api.settings),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert reconcile.returncode == 0, reconcile.stdout[-2000:] + reconcile.stderr[-2000:]
        self.reconcile_s = time.monotonic() - started
        return summary

    def diagnose(self) -> str:
        """What is stuck: batches the ledger still has queued, and where their jobs are."""
        db = pymongo.MongoClient(self.settings.cdp_mongodb_uri)[self.settings.cdp_mongodb_db]
        try:
            queued = [d["_id"] for d in db.migration_batches.find({"status": {"$ne": "done"}}, {"_id": 1})]
        finally:
            db.client.close()
        ns = self.settings.queue_namespace
        keys = {k.decode(): self.redis.type(k).decode() for k in self.redis.scan_iter(f"{ns}:*")}
        jobs = {}
        for mid, raw in self.redis.hgetall(f"{ns}:{QUEUE_NAME}.msgs").items():
            jobs[orjson.loads(raw)["args"][1]] = mid.decode()
        where = {}
        for key, kind in keys.items():
            members = (
                self.redis.smembers(key)
                if kind == "set"
                else self.redis.lrange(key, 0, -1)
                if kind == "list"
                else self.redis.zrange(key, 0, -1)
                if kind == "zset"
                else []
            )
            for m in members:
                where.setdefault(m.decode(), []).append(key.removeprefix(ns))
        return (
            "; ".join(f"{b}: job {jobs.get(b)} in {where.get(jobs.get(b) or '', [])}" for b in queued) + f" keys {keys}"
        )

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        if self.run is not None and self.run.poll() is None:
            self.run.kill()
            self.run.wait()
        self.api.stop()
        self.redis.close()


def test_a_host_taken_away_mid_run_and_one_added_mid_run(network):
    stack, add_host = network
    a, b = add_host("a"), add_host("b")  # 10.231.0.1 exists before the services bind it
    started = time.monotonic()
    stack.services("up")
    probe = b.run(
        sys.executable,
        "-c",
        f"import psycopg; psycopg.connect('postgresql://postgres:postgres@{SERVICE_ADDR}:{stack.pg}"
        "/postgres', connect_timeout=5).close()",
        env=dict(os.environ),
    )
    assert probe.returncode == 0, f"PostgreSQL unreachable from a host: {probe.stderr}"

    # round 1: host A goes away mid-run, host B finishes
    one = Round(stack, "one", seed=1)
    try:
        a_id = one.start_worker(a, threads=2)
        one.start_worker(b, threads=2)
        one.start_run("--batch-size", "25", "--concurrency", "2")
        held: list[str] = []

        def a_busy() -> bool:
            held[:] = one.held(a_id) if a.batches() else []
            return bool(held)

        _wait("host A holds jobs after finishing one", 120, a_busy, 0.02)
        a.take_away()
        gone = time.monotonic()
        requeued_s = _wait(
            "host A's jobs requeued",
            REDELIVERY_BOUND_S,
            lambda: not one.redis.exists(f"{one.settings.queue_namespace}:__acks__.{a_id}.{QUEUE_NAME}"),
        )
        summary = one.finish()
        after_s = time.monotonic() - gone
        done_by_b = set(b.batches())
        assert set(held) <= done_by_b, f"jobs of host A not done by host B: {set(held) - done_by_b}"
        print(
            f"round 1: host A held {len(held)} jobs when taken away; back on the queue after {requeued_s:.1f}s"
            f" (bound {REDELIVERY_BOUND_S:.0f}s), run finished {after_s:.1f}s after;"
            f" A did {len(a.batches())} batches, B {len(done_by_b)}; {len(summary['cids'])} cids complete;"
            f" reconcile {one.reconcile_s:.1f}s"
        )
    finally:
        one.close()
        b.stop_workers()

    # round 2: host C joins mid-run and takes jobs
    two = Round(stack, "two", seed=2)
    try:
        two.start_worker(b, threads=1)
        two.start_run("--batch-size", "40", "--concurrency", "1", slow_post_s=SLOW_POST_S)
        b_before = len(b.batches())
        _wait("host B works on round 2", 120, lambda: len(b.batches()) > b_before, 0.05)
        c = add_host("c")
        two.start_worker(c, threads=2)
        _wait("host C takes jobs", 90, c.batches, 0.1)
        two.finish()
        print(
            f"round 2: host C joined mid-run and did {len(c.batches())} batches,"
            f" B {len(b.batches()) - b_before}; whole test {time.monotonic() - started:.0f}s"
        )
    finally:
        two.close()
