"""Jobs that fail for good are dead-lettered, listed by `failed-jobs` and put back by
`failed-jobs --requeue`; the queued-notes figure behind the 429 follows the queue."""
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
from crm_notes_migration.queue.broker import BatchQueue, build_broker

from .cdp_support import ROOT, ApiServer, add_contacts, batch, drained, note, settings_env, start_worker, \
    stop_process, wait_until

CID = 11


def _failed_jobs_cli(settings, *flags: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "crm_notes_migration.cli", "failed-jobs", *flags],
                          env=settings_env(settings), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_a_job_failing_for_good_is_listed_requeued_and_then_lands(isolated_settings, tmp_path):
    settings = isolated_settings
    db = open_database(settings)
    add_contacts(db, CID, [1, 2, 3])
    # Bad data in the CDP: a second contact of person 2 whose _id is a string. Resolving
    # the batch compares contact ids and raises TypeError: not transient, no retry.
    db.contacts.insert_one({"_id": "not-an-object-id", "cid": CID, "source_id": "2"})
    queue = BatchQueue(build_broker(settings))
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        with ApiServer(settings) as api:
            assert api.post_batch(batch(CID, "doomed", [note(1, 1), note(2, 2), note(3, 3)])).status_code == 202
            wait_until(lambda: queue.failed_jobs(), 60, what="the dead-lettered job")
            assert api.counts(CID) == {"cid": CID, "migrated": 0, "parked": {}, "pending": 3}
            assert queue.queued_notes() == 3  # still owed: it holds its place under the high-water mark
            _waiting_stops_at_once(api, settings)

            listed = _failed_jobs_cli(settings)
            assert f"doomed\tcid={CID}\tnotes=3\t" in listed and "TypeError" in listed
            assert listed.strip().endswith("1 failed job(s)")

            db.contacts.delete_one({"_id": "not-an-object-id"})
            requeued = _failed_jobs_cli(settings, "--requeue")
            assert "requeued 1 job(s)" in requeued
            assert queue.failed_jobs() == []
            wait_until(lambda: drained(api, CID, 3), 60, what="the requeued job")
            with MigrationApiClient(api.url, settings.migration_api_token) as client:
                assert client.queue_gauges()[FAILED_JOBS_METRIC] == 0
                assert client.wait_drained([CID], timeout_s=60)[CID]["pending"] == 0
            assert queue.queued_notes() == 0
            assert _failed_jobs_cli(settings).strip().endswith("0 failed job(s)")
            assert sorted(d["legacy_crm_note_id"] for d in db.contact_notes.find({"cid": CID})) == [1, 2, 3]
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]


def _waiting_stops_at_once(api, settings) -> None:
    """With only a failed job left, `run`'s wait for the queue to drain ends at once with
    what to do, both ways it waits (per cid, and on the gauge above PER_CID_DRAIN_MAX cids),
    instead of waiting out its timeout (an hour by default)."""
    with MigrationApiClient(api.url, settings.migration_api_token) as client:
        gauges = client.queue_gauges()
        assert gauges[LIVE_JOBS_METRIC] == 0 and gauges[FAILED_JOBS_METRIC] == 1
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
