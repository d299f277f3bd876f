"""Jobs that fail for good are dead-lettered, listed by `failed-jobs`, put back by
`failed-jobs --requeue` or dropped by `failed-jobs --discard` (all, or `--id`); the
queued-notes figure behind the 429 follows the queue."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.client import (
    FAILED_JOBS_METRIC,
    LIVE_JOBS_METRIC,
    PER_CID_DRAIN_MAX,
    MigrationApiClient,
    QueueStuck,
)
from crm_notes_migration.queue.broker import QUEUE_NAME, BatchQueue, build_broker

from .cdp_support import (
    ROOT,
    ApiServer,
    add_contacts,
    batch,
    drained,
    note,
    settings_env,
    start_worker,
    stop_process,
    wait_until,
)

CID = 11


def _failed_jobs_cli(settings, *flags: str, code: int = 0) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "crm_notes_migration.cli", "failed-jobs", *flags],
        env=settings_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _fail_for_good(queue: BatchQueue, batch_ids: set[str]) -> None:
    """Take these batches' jobs off the queue and dead-letter them, as Dramatiq does with
    a job whose retries ran out (one failing on infrastructure for 20 minutes)."""
    # prefetch: the jobs of other batches are held (unacked) until the end
    consumer = queue.broker.consume(QUEUE_NAME, prefetch=10_000, timeout=200)
    others, left = [], set(batch_ids)
    deadline = time.monotonic() + 30
    try:
        while left:
            assert time.monotonic() < deadline, f"jobs of {left} not found on the queue"
            message = next(consumer)
            if message is None:
                continue
            if message.args[1] in left:
                consumer.nack(message)
                queue.note_error(message.args[1], "AutoReconnect: the store stayed unreachable")
                left.discard(message.args[1])
            else:
                others.append(message)
    finally:
        consumer.requeue(others)
        consumer.close()


def test_a_job_failing_for_good_is_listed_requeued_and_then_lands(isolated_settings, tmp_path):
    settings = isolated_settings
    db = open_database(settings)
    add_contacts(db, CID, [1, 2, 3, 4])
    queue = BatchQueue(build_broker(settings))
    with ApiServer(settings) as api:
        assert api.post_batch(batch(CID, "doomed", [note(1, 1), note(2, 2), note(3, 3)])).status_code == 202
        assert api.post_batch(batch(CID, "doomed-too", [note(4, 4)])).status_code == 202
        _fail_for_good(queue, {"doomed", "doomed-too"})
        assert api.counts(CID) == {"cid": CID, "migrated": 0, "parked": {}, "pending": 4}
        assert queue.queued_notes() == 4  # still owed: it holds its place under the high-water mark
        _waiting_stops_at_once(api, settings)

        listed = _failed_jobs_cli(settings)
        assert f"doomed\tcid={CID}\tnotes=3\t" in listed and "AutoReconnect" in listed
        assert listed.strip().endswith("2 failed job(s)")
        assert "error: no failed job has the id 'nope'" in _failed_jobs_cli(
            settings, "--requeue", "--id", "nope", code=2
        )
        assert "exclude each other" in _failed_jobs_cli(settings, "--requeue", "--discard", code=2)

        requeued = _failed_jobs_cli(settings, "--requeue", "--id", "doomed")
        assert "requeued 1 job(s)" in requeued
        assert [m.args[1] for m in queue.failed_jobs()] == ["doomed-too"]
        worker = start_worker(settings, tmp_path / "worker.log")
        try:
            wait_until(lambda: db.contact_notes.count_documents({"cid": CID}) == 3, 60, what="the requeued job")
            assert _failed_jobs_cli(settings, "--requeue").count("requeued 1 job(s)") == 1
            wait_until(lambda: drained(api, CID, 4), 60, what="the second requeued job")
            with MigrationApiClient(api.url, settings.migration_api_token) as client:
                assert client.queue_gauges()[FAILED_JOBS_METRIC] == 0
                assert client.wait_drained([CID], timeout_s=60)[CID]["pending"] == 0
        finally:
            assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
        assert queue.queued_notes() == 0
        assert _failed_jobs_cli(settings).strip().endswith("0 failed job(s)")
        assert sorted(d["legacy_crm_note_id"] for d in db.contact_notes.find({"cid": CID})) == [1, 2, 3, 4]


def test_a_discarded_job_blocks_nothing_and_its_batch_is_queued_again_when_resent(isolated_settings, tmp_path):
    settings = isolated_settings
    db = open_database(settings)
    add_contacts(db, CID, [1, 2, 3])
    queue = BatchQueue(build_broker(settings))
    body = batch(CID, "dropped", [note(1, 1), note(2, 2)])
    with ApiServer(settings) as api:
        assert api.post_batch(body).status_code == 202
        assert api.post_batch(batch(CID, "kept", [note(3, 3)])).status_code == 202
        _fail_for_good(queue, {"dropped"})
        out = _failed_jobs_cli(settings, "--discard", "--id", "dropped")
        assert "discarded 1 job(s)" in out and queue.failed_jobs() == []
        assert api.counts(CID)["pending"] == 1 and queue.queued_notes() == 1  # only "kept" is owed
        assert db.migration_batches.find_one({"_id": "dropped"})["status"] == "discarded"
        worker = start_worker(settings, tmp_path / "worker.log")
        try:
            wait_until(lambda: drained(api, CID, 1), 60, what="the batch kept")
            # sent again (as the next `run` does), the discarded batch is queued anew and lands
            again = api.post_batch(body)
            assert again.status_code == 202 and again.json()["accepted"] == 2
            wait_until(lambda: drained(api, CID, 3), 60, what="the batch sent again")
        finally:
            assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
        assert db.migration_batches.find_one({"_id": "dropped"})["status"] == "done"
        assert queue.queued_notes() == 0 and queue.failed_jobs() == []


def _waiting_stops_at_once(api, settings) -> None:
    """With only a failed job left, `run`'s wait for the queue to drain ends at once with
    what to do, both ways it waits (per cid, and on the gauge above PER_CID_DRAIN_MAX cids),
    instead of waiting out its timeout (an hour by default)."""
    with MigrationApiClient(api.url, settings.migration_api_token) as client:
        gauges = client.queue_gauges()
        assert gauges[LIVE_JOBS_METRIC] == 0 and gauges[FAILED_JOBS_METRIC] >= 1
        for cids in ([CID], list(range(CID, CID + PER_CID_DRAIN_MAX + 1))):
            started = time.monotonic()
            with pytest.raises(QueueStuck, match="failed-jobs --requeue") as stuck:
                client.wait_drained(cids, timeout_s=600, poll_interval_s=0.05)
            assert time.monotonic() - started < 60
            assert isinstance(stuck.value, TimeoutError)  # `run` reports it as a wait that ended undrained


def test_queued_notes_fall_as_batches_land_and_counts_cover_every_cid(isolated_settings, tmp_path):
    settings = isolated_settings.model_copy(update={"queue_high_water_notes": 4})
    db = open_database(settings)
    add_contacts(db, CID, [1, 2, 3])
    add_contacts(db, CID + 1, [4])
    queue = BatchQueue(build_broker(settings))
    with ApiServer(settings) as api:
        assert api.post_batch(batch(CID, "a", [note(1, 1), note(2, 2), note(3, 3)])).status_code == 202
        assert api.post_batch(batch(CID + 1, "b", [note(4, 4), note(5, 5)])).status_code == 202
        assert queue.queued_notes() == 5
        assert api.post_batch(batch(CID + 1, "c", [note(6, 4)])).status_code == 429
        assert api.post_batch(batch(CID, "a", [note(1, 1), note(2, 2), note(3, 3)])).status_code == 202
        assert queue.queued_notes() == 5  # a replay adds nothing
        worker = start_worker(settings, tmp_path / "worker.log")
        try:
            wait_until(lambda: drained(api, CID, 3) and drained(api, CID + 1, 1), 60, what="drain")
            assert queue.queued_notes() == 0
            assert api.post_batch(batch(CID + 1, "c", [note(6, 4)])).status_code == 202
            wait_until(lambda: drained(api, CID + 1, 2), 60, what="the batch let in")
        finally:
            assert stop_process(worker) == 0
        everyone = api.counts()["cids"]
        assert everyone == [api.counts(CID), api.counts(CID + 1)]
        assert everyone[1] == {"cid": CID + 1, "migrated": 2, "parked": {"contact_not_found": 1}, "pending": 0}
