"""One note never fails its batch (SPEC §4): a note whose processing fails for a reason
that is not transient is parked `invalid_note` with the error, and the rest of its batch
lands. Real API, Redis queue, FerretDB store and worker process."""

from __future__ import annotations

import pymongo.errors
from bson import ObjectId

from crm_notes_migration.bootstrap import contact_resolver, note_store, transform_options
from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.queue.broker import BatchQueue, build_broker
from crm_notes_migration.usecases.retry_parked import retry_parked_notes

from .cdp_support import ApiServer, add_contacts, batch, note, start_worker, stop_process, wait_until

CID = 31


def _where(db, cid: int, lid: int) -> tuple[bool, dict | None]:
    landed = db.contact_notes.count_documents({"cid": cid, "legacy_crm_note_id": lid}) == 1
    return landed, db.contact_notes_migration_parked.find_one({"cid": cid, "legacy_crm_note_id": lid})


def _store_takes_nul(db) -> bool:
    """MongoDB stores a NUL in a string; FerretDB on PostgreSQL refuses it."""
    probe = db["nul_probe"]
    try:
        probe.insert_one({"_id": ObjectId(), "s": "a\u0000b"})
        return True
    except pymongo.errors.PyMongoError:
        return False
    finally:
        probe.drop()


def test_a_nul_the_store_refuses_parks_its_note_and_the_siblings_land(isolated_settings, tmp_path):
    settings = isolated_settings
    db = open_database(settings)
    add_contacts(db, CID, [1, 2, 3])
    att = {"legacy_attachment_id": 5, "file_name": "a\u0000.pdf", "file_url": "https://f/a"}
    notes = [note(1, 1), note(2, 2, attachments=[att]), note(3, 3)]
    queue = BatchQueue(build_broker(settings))
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        with ApiServer(settings) as api:
            assert api.post_batch(batch(CID, "nul", notes)).json()["accepted"] == 3
            wait_until(lambda: api.counts(CID)["pending"] == 0, 60, what="the batch")
            assert _where(db, CID, 1)[0] and _where(db, CID, 3)[0]
            landed, parked = _where(db, CID, 2)
            if _store_takes_nul(db):
                assert landed and parked is None
            else:
                assert not landed and parked["reason"] == "invalid_note"
                assert parked["detail"].startswith("could not be stored: OperationFailure")
                assert "unsupported Unicode escape sequence" in parked["detail"]
                assert parked["note"]["attachments"][0]["file_name"] == "a\\u0000.pdf"
                assert parked["note_escaped"] is True
                assert api.counts(CID) == {"cid": CID, "migrated": 2, "parked": {"invalid_note": 1}, "pending": 0}
                # retry-parked leaves an escaped note alone: only the CRM has it as it was
                assert (
                    retry_parked_notes(note_store(db), contact_resolver(db), transform_options(settings), [CID])[
                        CID
                    ].landed_ids
                    == []
                )
            assert queue.failed_jobs() == []
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]


def test_a_lone_surrogate_reaching_the_worker_parks_its_note_only(isolated_settings, tmp_path):
    """The API rejects it; a message enqueued by another producer gets the same answer."""
    settings = isolated_settings
    db = open_database(settings)
    add_contacts(db, CID, [1, 2, 3])
    queue = BatchQueue(build_broker(settings))
    notes = [note(1, 1), note(2, 2, "<p>caf\ud800</p>"), note(3, 3)]
    assert queue.enqueue_batch(CID, "surrogate", notes, new=True)
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        wait_until(
            lambda: (
                db.contact_notes.count_documents({"cid": CID}) == 2
                and db.contact_notes_migration_parked.count_documents({"cid": CID}) == 1
            ),
            60,
            what="the batch",
        )
        landed, parked = _where(db, CID, 2)
        assert not landed and parked["reason"] == "invalid_note"
        assert parked["detail"].startswith("content_html: a lone surrogate (U+D800)")
        assert parked["note"]["content_html"] == "<p>caf\\ud800</p>"
        wait_until(lambda: queue.queued_notes() == 0, 30, what="the job done")
        assert queue.failed_jobs() == []
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]


def test_bad_cdp_data_fails_only_the_notes_it_touches(isolated_settings, tmp_path):
    settings = isolated_settings
    db = open_database(settings)
    add_contacts(db, CID, [1, 2, 3, 4, 5])
    # Bad data in the CDP: a second contact of person 2 whose _id is a string. Resolving
    # a note of person 2 compares contact ids and raises TypeError: not transient.
    db.contacts.insert_one({"_id": "not-an-object-id", "cid": CID, "source_id": "2"})
    queue = BatchQueue(build_broker(settings))
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        with ApiServer(settings) as api:
            assert api.post_batch(batch(CID, "typeerror", [note(i, i) for i in range(1, 6)])).status_code == 202
            wait_until(lambda: api.counts(CID)["pending"] == 0, 60, what="the batch")
            assert api.counts(CID) == {"cid": CID, "migrated": 4, "parked": {"invalid_note": 1}, "pending": 0}
            landed, parked = _where(db, CID, 2)
            assert not landed and parked["detail"].startswith("could not be stored: TypeError")
            assert queue.failed_jobs() == [] and queue.queued_notes() == 0

            db.contacts.delete_one({"_id": "not-an-object-id"})  # fixed: the note lands on retry
            assert retry_parked_notes(note_store(db), contact_resolver(db), transform_options(settings), [CID])[
                CID
            ].landed_ids == [2]
            assert api.counts(CID) == {"cid": CID, "migrated": 5, "parked": {}, "pending": 0}
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
