"""The worker lands notes exactly once, with SPEC §3's reasons, through the real API,
Redis queue, FerretDB store and worker processes."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from crm_notes_migration.bootstrap import contact_resolver, note_store, transform_options
from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.queue.broker import BatchQueue, batch_message, build_broker
from crm_notes_migration.usecases.retry_parked import retry_parked_notes

from .cdp_support import ApiServer, add_contacts, batch, drained, note, start_worker, stop_process, wait_until

CID = 7


def _ids_once(db, cid: int) -> list[int]:
    ids = [d["legacy_crm_note_id"] for d in db.contact_notes.find({"cid": cid}, {"legacy_crm_note_id": 1})]
    assert len(ids) == len(set(ids)), "a note landed twice"
    return sorted(ids)


def _parked(db, cid: int) -> dict[int, str]:
    return {d["legacy_crm_note_id"]: d["reason"] for d in db.contact_notes_migration_parked.find({"cid": cid})}


def test_reasons_edits_updates_and_retry(isolated_settings, tmp_path):
    settings = isolated_settings.model_copy(update={"max_note_html_bytes": 4000})
    db = open_database(settings)
    add_contacts(db, CID, list(range(1, 11)), twice=(9,))
    add_contacts(db, CID + 1, [20])  # person 20 exists only in another company
    notes = [note(i, i) for i in range(1, 9)]
    notes += [
        note(9, 9),  # two contacts: ambiguous_contact
        note(10, 10, "<p>" + "x" * 5000 + "</p>"),  # content_too_large
        note(11, 11),  # contact_not_found
        note(12, 20),  # contact only in cid 8: contact_not_found
        note(13, 1, created_at="2021-03-04T05:06:07"),  # naive time: invalid_note
    ]
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        with ApiServer(settings) as api:
            r = api.post_batch(batch(CID, "b-1", notes))
            assert r.status_code == 202, r.text
            assert r.json()["accepted"] == 12
            assert [(x["legacy_crm_note_id"], x["reason"]) for x in r.json()["rejected"]] == [(13, "invalid_note")]
            wait_until(lambda: drained(api, CID, 8), 60, what="first batch")
            counts = api.counts(CID)
            assert counts["parked"] == {
                "ambiguous_contact": 1,
                "content_too_large": 1,
                "contact_not_found": 2,
                "invalid_note": 1,
            }
            assert _ids_once(db, CID) == list(range(1, 9))
            doc = db.contact_notes.find_one({"cid": CID, "legacy_crm_note_id": 1})
            assert doc["notifications_suppressed"] is True and doc["source"] == "crm_migration"
            first_migrated_at = doc["migrated_at"]

            # A user edits note 1 in the CDP; notes 1 and 2 then change in the CRM.
            edited_at = datetime(2024, 1, 1, tzinfo=UTC)
            db.contact_notes.update_one(
                {"_id": doc["_id"]}, {"$set": {"content": "<p>user edit</p>", "updated_at": edited_at}}
            )
            changed = [
                note(1, 1, "<p>legacy v2</p>", updated_at="2022-01-01T00:00:00+00:00"),
                note(2, 2, "<p>legacy v2</p>", updated_at="2022-01-01T00:00:00+00:00"),
                note(3, 3),
            ]
            assert api.post_batch(batch(CID, "b-2", changed)).status_code == 202
            wait_until(lambda: api.counts(CID)["pending"] == 0, 60, what="second batch")
            one = db.contact_notes.find_one({"cid": CID, "legacy_crm_note_id": 1})
            assert one["content"] == "<p>user edit</p>" and one["updated_at"] == edited_at
            assert _parked(db, CID)[1] == "edited_in_cdp"
            two = db.contact_notes.find_one({"cid": CID, "legacy_crm_note_id": 2})
            assert "legacy v2" in two["content"]
            assert two["updated_at"] == datetime(2022, 1, 1, tzinfo=UTC)
            assert db.contact_notes.find_one({"legacy_crm_note_id": 1})["migrated_at"] == first_migrated_at
            assert _ids_once(db, CID) == list(range(1, 9))

            # Contacts synced later: retry-parked lands the note, which leaves the parked collection.
            add_contacts(db, CID, [11])
            results = retry_parked_notes(note_store(db), contact_resolver(db), transform_options(settings), [CID])
            assert 11 in results[CID].landed_ids
            parked = _parked(db, CID)
            assert 11 not in parked and parked[1] == "edited_in_cdp" and parked[12] == "contact_not_found"
            assert _ids_once(db, CID) == list(range(1, 9)) + [11]
            assert api.counts(CID)["parked"] == {
                "ambiguous_contact": 1,
                "content_too_large": 1,
                "contact_not_found": 1,
                "invalid_note": 1,
                "edited_in_cdp": 1,
            }
    finally:
        assert stop_process(worker) == 0, (tmp_path / "worker.log").read_text()[-3000:]


def test_batches_twice_and_two_workers_leave_one_document_per_note(isolated_settings, tmp_path):
    settings = isolated_settings
    db = open_database(settings)
    add_contacts(db, CID, list(range(1, 301)))
    batches = [batch(CID, f"b-{k}", [note(k * 30 + i, k * 30 + i) for i in range(1, 31)]) for k in range(10)]
    workers = [start_worker(settings, tmp_path / f"w{i}.log") for i in range(2)]
    try:
        with ApiServer(settings) as api:
            with ThreadPoolExecutor(4) as pool:  # each batch twice, concurrently
                answers = list(pool.map(api.post_batch, batches + batches))
            assert {r.status_code for r in answers} == {202}
            for first, again in zip(answers[:10], answers[10:], strict=False):
                assert first.json() == again.json()
            queue = BatchQueue(build_broker(settings))
            for b in batches:  # and delivered twice more, bypassing the API's guard
                queue.broker.enqueue(batch_message(b["cid"], b["batch_id"], b["notes"]))
            wait_until(
                lambda: queue.broker.do_qsize("crm_note_batches") == 0 and drained(api, CID, 300), 90, what="drain"
            )
            assert _ids_once(db, CID) == list(range(1, 301))
            assert _parked(db, CID) == {}
            assert api.post_batch(batches[0]).json() == answers[0].json()  # done: same answer again
            changed = dict(batches[0], notes=batches[0]["notes"][:-1])
            assert api.post_batch(changed).status_code == 409
    finally:
        for w in workers:
            assert stop_process(w) == 0


def test_sigkilled_worker_batches_are_redelivered_within_a_minute(isolated_settings, tmp_path):
    settings = isolated_settings
    db = open_database(settings)
    n_batches, size = 6, 100
    add_contacts(db, CID, list(range(1, n_batches * size + 1)))
    batches = [
        batch(
            CID, f"k-{k}", [note(k * size + i, k * size + i, "<p>%s</p>" % ("word " * 200)) for i in range(1, size + 1)]
        )
        for k in range(n_batches)
    ]
    with ApiServer(settings) as api:
        for b in batches:
            assert api.post_batch(b).status_code == 202
        victim = start_worker(settings, tmp_path / "victim.log", threads=1)
        wait_until(
            lambda: db.contact_notes.count_documents({"cid": CID}) > 0, 60, interval=0.05, what="the first notes"
        )
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed_at = time.monotonic()
        landed_before = db.contact_notes.count_documents({"cid": CID})
        assert landed_before < n_batches * size, "the worker finished before it could be killed"
        rescuer = start_worker(settings, tmp_path / "rescuer.log")
        try:
            wait_until(lambda: drained(api, CID, n_batches * size), 75, what="redelivery")
            assert time.monotonic() - killed_at < 60
            assert _ids_once(db, CID) == list(range(1, n_batches * size + 1))
        finally:
            assert stop_process(rescuer) == 0


def test_a_batch_sent_again_after_the_cdp_side_was_reset_is_enqueued_and_lands(isolated_settings, tmp_path):
    """`seed` (or a restore) drops the ledger but leaves Redis alone: the same batch_id must
    then count as new work, not be held back by the queue's marker of the earlier delivery."""
    db = open_database(isolated_settings)
    add_contacts(db, CID, [1, 2, 3])
    body = batch(CID, "b-reset", [note(i, i) for i in (1, 2, 3)])
    worker = start_worker(isolated_settings, tmp_path / "worker.log")
    try:
        with ApiServer(isolated_settings) as api:
            assert api.post_batch(body).status_code == 202
            wait_until(lambda: drained(api, CID, 3), 60, what="first delivery")
            for name in ("contact_notes", "contact_notes_migration_parked", "migration_batches", "migration_note_cids"):
                db[name].drop()
            r = api.post_batch(body)
            assert r.status_code == 202 and r.json()["accepted"] == 3
            wait_until(lambda: drained(api, CID, 3), 60, what="delivery after the reset")
            assert _ids_once(db, CID) == [1, 2, 3]
    finally:
        stop_process(worker)
