"""A job that failed for good never blocks later runs (SPEC §4, §8): discarded with
`failed-jobs --discard --id`, its batch's notes are sent again by the next `run`, which
then exits 0, and `reconcile` finds nothing missing."""

from __future__ import annotations

import pymongo

from crm_notes_devtools.stack import LocalStack
from crm_notes_migration.queue.broker import BatchQueue, build_broker
from tests.cli import cli
from tests.e2e.run_support import load_fixture, run_cli
from tests.integration.cdp_support import start_worker, stop_process, wait_until
from tests.integration.test_worker_failed_jobs import _fail_for_good


def test_run_sends_a_discarded_batch_again(isolated_settings, tmp_path):
    expected = load_fixture(isolated_settings, cids=(11, 12), per_cid=30)
    stack = LocalStack(isolated_settings, tmp_path / "stack", workers=0).start()  # no worker yet
    settings = stack.settings
    db = pymongo.MongoClient(settings.cdp_mongodb_uri)[settings.cdp_mongodb_db]
    queue = BatchQueue(build_broker(settings))
    worker = None
    try:
        code, out, err = run_cli(settings, tmp_path, "--batch-size", "10", "--no-wait")
        assert out is not None and all(r["sent"] for r in out["cids"]), err  # sent; nothing landed yet
        doomed = db.migration_batches.find_one({"cid": 12, "status": "queued"})["_id"]
        _fail_for_good(queue, {doomed})
        discarded = cli(settings, tmp_path, "failed-jobs", "--discard", "--id", doomed)
        assert discarded.returncode == 0 and "discarded 1 job(s)" in discarded.stdout, discarded.stderr

        worker = start_worker(settings, tmp_path / "worker.log")
        wait_until(
            lambda: db.migration_batches.count_documents({"status": "queued"}) == 0, 120, what="the other batches"
        )
        assert db.migration_batches.find_one({"_id": doomed})["status"] == "discarded"

        code, out, err = run_cli(settings, tmp_path, "--batch-size", "10")
        assert code == 0, err
        rows = {r["cid"]: r for r in out["cids"]}
        for cid, exp in expected.items():
            assert (rows[cid]["migrated"], rows[cid]["parked"], rows[cid]["pending"]) == (
                exp["migrated"],
                exp["parked"],
                0,
            )
        assert db.migration_batches.find_one({"_id": doomed})["status"] == "done"
        reconciled = cli(settings, tmp_path, "reconcile")
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        assert queue.failed_jobs() == []
    finally:
        if worker is not None:
            assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
        stack.stop()
        db.client.close()
