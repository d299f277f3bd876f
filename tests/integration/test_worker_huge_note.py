"""A note too large for a MongoDB document (16 MiB) is parked with a cut copy, through the
real API, Redis queue, worker process and FerretDB. (FerretDB 1.24 stores a 17 MiB document
anyway; MongoDB refuses it, and the worker's job would end in the dead-letter queue with
the note neither migrated nor parked. The cut is checked here; the refusal is MongoDB's.)"""

from __future__ import annotations

import hashlib

from crm_notes_migration.bootstrap import contact_resolver, note_store, transform_options
from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.cdp.store import MongoNoteStore
from crm_notes_migration.queue.broker import BatchQueue, build_broker
from crm_notes_migration.usecases.ingest import PARKED_CONTENT_KEPT_BYTES, PARKED_CONTENT_MAX_BYTES, park_record
from crm_notes_migration.usecases.retry_parked import retry_parked_notes

from .cdp_support import ApiServer, add_contacts, batch, drained, note, start_worker, stop_process, wait_until

CID = 31


def test_a_note_over_16_mib_is_parked_with_its_reason(isolated_settings, tmp_path):
    settings = isolated_settings
    db = open_database(settings)
    add_contacts(db, CID, [1, 2])
    huge = "<p>" + "word " * (17 * 1024 * 1024 // 5) + "</p>"  # 17 MiB: over what a document may hold
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        with ApiServer(settings) as api:
            r = api.post_batch(batch(CID, "huge-1", [note(1, 1, huge), note(2, 2)]))
            assert r.status_code == 202, r.text[:500]
            assert r.json()["accepted"] == 2
            wait_until(lambda: drained(api, CID, 1), 120, what="the batch with the huge note")
            counts = api.counts(CID)
            assert counts == {"cid": CID, "migrated": 1, "parked": {"content_too_large": 1}, "pending": 0}
        assert build_broker(settings).client.hlen(BatchQueue(build_broker(settings))._errors_key) == 0
        rec = db.contact_notes_migration_parked.find_one({"cid": CID, "legacy_crm_note_id": 1})
        assert rec["note"]["content_html"] == huge[:PARKED_CONTENT_KEPT_BYTES]
        assert rec["note_truncated"]["content_html_bytes"] == len(huge)
        assert rec["note_truncated"]["content_html_sha256"] == hashlib.sha256(huge.encode()).hexdigest()
        assert rec["attempts"] == 1

        # retry-parked cannot land a cut copy: it leaves the record alone
        retry_parked_notes(note_store(db), contact_resolver(db), transform_options(settings), [CID])
        again = db.contact_notes_migration_parked.find_one({"cid": CID, "legacy_crm_note_id": 1})
        assert again["attempts"] == 1 and again["note_truncated"] == rec["note_truncated"]
        assert db.contact_notes.count_documents({"cid": CID, "legacy_crm_note_id": 1}) == 0

        # parked again whole (the CRM copy shrank, still too large): the cut marks go
        store = MongoNoteStore(db)
        smaller = note(1, 1, "<p>" + "x" * (PARKED_CONTENT_MAX_BYTES // 4) + "</p>")
        store.park([park_record(CID, 1, smaller, "content_too_large", "still over 1 MiB")], rec["last_attempt_at"])
        whole = db.contact_notes_migration_parked.find_one({"cid": CID, "legacy_crm_note_id": 1})
        assert "note_truncated" not in whole and whole["note"]["content_html"] == smaller["content_html"]
        assert whole["attempts"] == 2
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]
