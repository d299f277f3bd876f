"""Outages mid-run are transient, not fatal (SPEC §6a, issue 15 items 5-7): on a private
stack (fault_support), PostgreSQL under FerretDB, FerretDB and Redis restart, the CRM
connection drops and the API restarts while `run` is working. After each: `run` exits 0,
`reconcile` exits 0, every in-scope note is in exactly one place, none twice, and no job
is left dead-lettered."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest

from crm_notes_devtools.stack import LocalStack
from crm_notes_migration.config import Settings
from crm_notes_migration.queue.broker import BatchQueue, build_broker
from tests.e2e.fault_support import PrivateStack, fault_settings, finish, private_stack, run_cli, start_cli
from tests.e2e.run_support import LoggingProxy, load_fixture
from tests.integration.cdp_support import wait_until

__all__ = ["fault_settings", "private_stack"]  # fixtures

CIDS = (11, 12, 13)
PER_CID = 60


@dataclass
class Pipeline:
    settings: Settings  # with the API's URL
    stack: LocalStack
    proxy: LoggingProxy
    expected: dict[int, dict]
    db: pymongo.database.Database
    cwd: Path

    def landed(self) -> int:
        return self.db.contact_notes.count_documents({"cid": {"$in": list(CIDS)}})

    def accepted(self) -> int:
        return sum(d.get("accepted", 0) for d in self.db.migration_batches.find({}, {"accepted": 1}))

    @property
    def in_scope(self) -> int:
        return sum(e["in_scope"] for e in self.expected.values())

    def start_api(self) -> None:
        self.stack._spawn("api", "serve", "--host", "127.0.0.1", "--port", str(self.stack.port))

    def stop_api(self) -> None:
        api = self.stack.procs.pop("api")
        api.send_signal(signal.SIGTERM)
        assert api.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has stopped

    def start_worker(self) -> None:
        self.stack._spawn("worker1", "worker", "--threads", "2")

    def start_run(self, *args: str, **env: str) -> subprocess.Popen:
        return start_cli(self.settings, self.cwd, "run", "--json", *args, **env)


@pytest.fixture
def pipeline(fault_settings, tmp_path):
    """The fixture CRM and CDP, and the API (no worker yet) on the private stack."""
    expected = load_fixture(fault_settings, cids=CIDS, per_cid=PER_CID)
    stack = LocalStack(fault_settings, tmp_path / "stack", workers=0).start()
    proxy = LoggingProxy(stack.settings.migration_api_url, delay_s=0.1)
    db = pymongo.MongoClient(fault_settings.cdp_mongodb_uri)[fault_settings.cdp_mongodb_db]
    try:
        yield Pipeline(stack.settings, stack, proxy, expected, db, tmp_path)
    finally:
        proxy.close()
        stack.stop()
        db.client.close()


def assert_everything_accounted_for(p: Pipeline, run: tuple[int, dict | None, str]) -> None:
    code, out, err = run
    assert code == 0, f"run exited {code}: {err[-3000:]}\n{p.stack.log_tail('worker1', 40)}"
    assert out is not None and out["ok"] and out["drained"], out
    code, out, err = run_cli(p.settings, p.cwd, "reconcile", "--json", timeout=120)
    assert code == 0, f"reconcile exited {code}: {err[-2000:]} {out and out['totals']}"
    for cid, exp in p.expected.items():
        ids = [d["legacy_crm_note_id"] for d in p.db.contact_notes.find({"cid": cid}, {"legacy_crm_note_id": 1})]
        assert len(ids) == len(set(ids)) == exp["migrated"], cid  # nothing lost, nothing doubled
        parked = [d["legacy_crm_note_id"] for d in p.db.contact_notes_migration_parked.find({"cid": cid})]
        assert len(parked) == len(set(parked)) == sum(exp["parked"].values()), cid
        assert not set(ids) & set(parked), cid
    assert BatchQueue(build_broker(p.settings)).failed_job_count() == 0  # no job left dead-lettered


@pytest.mark.parametrize("service,down_s", [("postgres", 6), ("ferretdb", 5), ("redis", 5)])
def test_a_service_restarting_mid_run_is_waited_for(pipeline, private_stack: PrivateStack, service, down_s):
    """PostgreSQL (the store under FerretDB), FerretDB or Redis goes away for a few seconds
    while the worker has a full queue to ingest and `run` waits for it to drain: the
    worker's jobs and `run`'s requests are retried. (The worker is paused while `run` fills
    the queue, and resumed once the service is down: it would otherwise be done first.)"""
    pipeline.start_worker()
    worker = pipeline.stack.procs["worker1"]
    wait_until(lambda: "worker started" in pipeline.stack.log_tail("worker1", 50), 60, what="worker ready")
    worker.send_signal(signal.SIGSTOP)
    try:
        proc = pipeline.start_run("--batch-size", "5")
        wait_until(lambda: pipeline.accepted() >= pipeline.in_scope, 90, what="every batch accepted")
        private_stack.services("stop", service)
    finally:
        worker.send_signal(signal.SIGCONT)
    time.sleep(down_s)
    private_stack.up()
    assert_everything_accounted_for(pipeline, finish(proc, 240))
    if service != "redis":  # the worker's jobs failed during the outage and were retried
        assert "Retrying message" in pipeline.stack.log_tail("worker1", 10_000)


def test_the_crm_connection_dropping_mid_run_resumes_where_it_was(pipeline, private_stack: PrivateStack):
    pipeline.start_worker()
    # through the slow proxy, one small batch at a time: run is still reading pages when it drops
    proc = pipeline.start_run("--batch-size", "5", "--concurrency", "1", MIGRATION_API_URL=pipeline.proxy.url)
    crm_db = pipeline.settings.crm_database_url.rsplit("/", 1)[1]
    dropped = 0
    for posts in (2, 8, 14):  # drop it three times while run reads pages and sends them
        wait_until(
            lambda n=posts: len(pipeline.proxy.posted()) >= n or proc.poll() is not None,
            60,
            interval=0.05,
            what=f"{posts} batches posted",
        )
        if proc.poll() is not None:
            break
        dropped += private_stack.terminate_backends(crm_db)
    assert dropped >= 3, f"run finished before the connection could be dropped: {finish(proc, 5)[2][-3000:]}"
    result = finish(proc, 240)
    assert "Traceback" not in result[2] and "CRM connection dropped" in result[2]
    assert_everything_accounted_for(pipeline, result)
    posted = pipeline.proxy.posted()
    assert len(posted) == len(set(posted))  # resumed where it was: no batch sent twice


def test_the_api_down_at_start_and_restarting_while_run_waits_for_the_drain(pipeline):
    """The API is not there yet when `run` starts, then goes away for longer than the old
    retry bound (about 17 s) while `run` waits for the queue to drain, and comes back on
    the same address each time."""
    pipeline.stop_api()
    proc = pipeline.start_run("--batch-size", "20")
    time.sleep(8)
    assert proc.poll() is None, f"run gave up on an API not up yet: {finish(proc, 5)[2][-2000:]}"
    pipeline.start_api()
    wait_until(lambda: pipeline.accepted() >= pipeline.in_scope, 90, what="every batch accepted")
    pipeline.stop_api()  # no worker yet: run is waiting for the drain
    time.sleep(20)
    assert proc.poll() is None, f"run gave up while the API was away: {finish(proc, 5)[2][-2000:]}"
    pipeline.start_api()
    pipeline.start_worker()
    assert_everything_accounted_for(pipeline, finish(proc, 180))


def test_a_worker_started_while_the_store_is_down_waits_for_it(pipeline, private_stack: PrivateStack):
    """The store is away when a worker starts: the worker says so, naming CDP_MONGODB_URI,
    and keeps trying instead of exiting; once the store is back it ingests the run."""
    private_stack.services("stop", "ferretdb")
    try:
        pipeline.start_worker()
        wait_until(
            lambda: "the CDP store is unreachable" in pipeline.stack.log_tail("worker1", 50), 90, what="a retry line"
        )
        assert pipeline.stack.procs["worker1"].poll() is None, pipeline.stack.log_tail("worker1", 40)
        assert "CDP_MONGODB_URI" in pipeline.stack.log_tail("worker1", 50)
    finally:
        private_stack.up()
    result = finish(pipeline.start_run("--batch-size", "20"), 240)
    assert_everything_accounted_for(pipeline, result)
    assert "Traceback" not in pipeline.stack.log_tail("worker1", 10_000)
