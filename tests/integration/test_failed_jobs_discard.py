"""`failed-jobs --discard [--id ID]` (SPEC §8): a job that failed for good is dropped with
its batch record, its notes stop counting as pending, and the same batch sent again (as
the next `run` does) lands; `--id` picks the jobs; `--requeue --id` puts back only those."""

from __future__ import annotations

import subprocess
import sys

from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.queue.broker import BatchQueue, build_broker

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

CID = 12


def _cli(settings, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "crm_notes_migration.cli", "failed-jobs", *flags],
        env=settings_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_discard_drops_the_job_and_its_batch_record_and_a_resend_lands(isolated_settings, tmp_path):
    settings = isolated_settings
    db = open_database(settings)
    add_contacts(db, CID, [1, 2, 3])
    db.contacts.insert_one({"_id": "not-an-object-id", "cid": CID, "source_id": "2"})  # fails the batch for good
    queue = BatchQueue(build_broker(settings))
    doomed = batch(CID, "doomed", [note(1, 1), note(2, 2)])
    other = batch(CID, "other", [note(3, 2)])
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        with ApiServer(settings) as api:
            assert api.post_batch(doomed).status_code == 202 and api.post_batch(other).status_code == 202
            wait_until(lambda: len(queue.failed_jobs()) == 2, 60, what="two dead-lettered jobs")
            assert api.counts(CID)["pending"] == 3

            both = _cli(settings, "--requeue", "--discard")
            assert both.returncode == 2 and "not both" in both.stderr

            out = _cli(settings, "--discard", "--id", "doomed")
            assert out.returncode == 0, out.stderr
            assert "doomed\tcid=12" in out.stdout and "other" not in out.stdout
            assert "discarded 1 job(s)" in out.stdout
            assert [j.args[1] for j in queue.failed_jobs()] == ["other"]
            assert db.migration_batches.find_one({"_id": "doomed"}) is None
            assert api.counts(CID)["pending"] == 1 and queue.queued_notes() == 1

            db.contacts.delete_one({"_id": "not-an-object-id"})
            out = _cli(settings, "--requeue", "--id", "other")
            assert "requeued 1 job(s)" in out.stdout and queue.failed_jobs() == []
            assert api.post_batch(doomed).json()["accepted"] == 2  # sent again, as the next `run` does
            wait_until(lambda: drained(api, CID, 3), 60, what="the batches to land")
            assert queue.queued_notes() == 0
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
