"""Outages mid-run, on private Redis and FerretDB instances (the shared ones are never
touched): Redis losing its data, FerretDB stopping and coming back."""

from __future__ import annotations

import subprocess
import time
import uuid

import psycopg
import pytest

import crm_notes_migration.client as client_module
from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.client import MigrationApiClient, QueueStuck
from tests.conftest import ADMIN_PG_URL, _pg_url

from .cdp_support import (
    ROOT,
    ApiServer,
    add_contacts,
    batch,
    drained,
    free_port,
    note,
    start_worker,
    stop_process,
    wait_until,
)

CID = 11


def _start_redis(port: int, workdir) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
    )
    import redis

    wait_until(lambda: redis.Redis(port=port).ping(), 10, what="private redis")
    return proc


@pytest.fixture
def private_redis(tmp_path):
    port = free_port()
    procs = [_start_redis(port, tmp_path)]
    yield port, procs, lambda: procs.append(_start_redis(port, tmp_path))
    for p in procs:
        stop_process(p, 10)


def _batches(start: int, count: int, size: int = 20) -> list[dict]:
    return [
        batch(CID, f"r-{k}", [note(k * size + i, k * size + i) for i in range(1, size + 1)])
        for k in range(start, start + count)
    ]


def _post(api, b) -> None:
    def ok():  # the API answers 503 while its Redis connection is re-established
        return api.post_batch(b).status_code == 202

    wait_until(ok, 20, interval=0.5, what=f"batch {b['batch_id']} accepted")


def test_redis_restarted_empty_counts_show_the_loss_and_resending_lands_it(
    isolated_settings, private_redis, tmp_path, monkeypatch
):
    monkeypatch.setattr(client_module, "STUCK_CHECK_EVERY_S", 1.0)
    port, procs, restart = private_redis
    settings = isolated_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
    db = open_database(settings)
    add_contacts(db, CID, list(range(1, 201)))
    first, lost = _batches(0, 5), _batches(5, 5)
    with ApiServer(settings) as api:
        worker = start_worker(settings, tmp_path / "w1.log")
        for b in first:
            _post(api, b)
        wait_until(lambda: drained(api, CID, 100), 60, what="first half")
        assert stop_process(worker) == 0
        for b in lost:  # accepted, queued, then Redis loses everything
            _post(api, b)
        procs[0].kill()
        procs[0].wait()
        restart()
        worker = start_worker(settings, tmp_path / "w2.log")
        try:
            time.sleep(5)
            counts = api.counts(CID)
            assert counts["migrated"] == 100 and counts["pending"] == 100  # what is missing shows
            # `run`, waiting for these to drain, sees that no job is left for them and says
            # to send them again, instead of waiting out its timeout
            with MigrationApiClient(api.url, settings.migration_api_token) as client:
                started = time.monotonic()
                with pytest.raises(QueueStuck, match="holds no job for them.*send them again"):
                    client.wait_drained([CID], timeout_s=600, poll_interval_s=0.2)
                assert time.monotonic() - started < 30
            for b in lost:  # the extractor's resume / reconcile's repair re-send it
                _post(api, b)
            wait_until(lambda: drained(api, CID, 200), 60, what="re-sent batches")
            ids = [d["legacy_crm_note_id"] for d in db.contact_notes.find({"cid": CID}, {"legacy_crm_note_id": 1})]
            assert sorted(ids) == list(range(1, 201))
        finally:
            assert stop_process(worker) == 0


@pytest.fixture
def private_ferretdb(tmp_path):
    dbname = f"ferret_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    port = free_port()
    procs: list[subprocess.Popen] = []

    def start():
        log = open(tmp_path / "ferretdb.log", "ab")
        procs.append(
            subprocess.Popen(
                [
                    str(ROOT / "ferretdb" / "bin" / "ferretdb"),
                    "-handler",
                    "postgresql",
                    "-postgresql-url",
                    _pg_url(dbname).replace("postgresql://", "postgres://"),
                    "-listen-addr",
                    f"127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        import pymongo

        wait_until(
            lambda: pymongo.MongoClient(port=port, serverSelectionTimeoutMS=500).admin.command("ping"),
            30,
            what="private ferretdb",
        )

    start()
    yield port, procs, start
    for p in procs:
        stop_process(p, 10)
    with psycopg.connect(ADMIN_PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def test_ferretdb_stopped_and_restarted_jobs_retry_and_land(isolated_settings, private_ferretdb, tmp_path):
    port, procs, start = private_ferretdb
    uri = f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=2000&connectTimeoutMS=2000"
    settings = isolated_settings.model_copy(update={"cdp_mongodb_uri": uri})
    db = open_database(settings)
    add_contacts(db, CID, list(range(1, 401)))
    batches = _batches(0, 20, size=20)
    with ApiServer(settings) as api:
        for b in batches:
            _post(api, b)
        worker = start_worker(settings, tmp_path / "w.log")
        try:
            wait_until(
                lambda: db.contact_notes.count_documents({"cid": CID}) > 0, 60, interval=0.05, what="first notes"
            )
            procs[-1].kill()
            procs[-1].wait(10)
            time.sleep(4)  # jobs fail meanwhile and are retried with backoff
            start()
            wait_until(lambda: drained(api, CID, 400), 120, interval=1, what="retried jobs")
            ids = [d["legacy_crm_note_id"] for d in db.contact_notes.find({"cid": CID}, {"legacy_crm_note_id": 1})]
            assert sorted(ids) == list(range(1, 401))
        finally:
            assert stop_process(worker) == 0
        log = (tmp_path / "w.log").read_text()
        assert "Retrying message" in log, log[-2000:]  # jobs did fail during the outage
