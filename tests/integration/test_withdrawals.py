"""The withdrawals endpoint (SPEC §4) on the real store: what goes, what stays (a user's
edit, a CDP-authored note, other cids), idempotency, the 409 while batches are pending,
strict validation, and the paged read of the legacy ids the migration holds."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from bson import Int64, ObjectId
from bson.raw_bson import RawBSONDocument

from crm_notes_migration.bootstrap import batch_handler as make_batch_handler
from crm_notes_migration.cdp.batches import DONE, BatchLedger
from crm_notes_migration.cdp.mongo import open_database

from .cdp_support import ApiServer, add_contacts, batch, note

CID, OTHER = 31, 32
WITHDRAW = "/v1/migrations/crm-notes/withdrawals"


def raw_state(db) -> dict[str, dict]:
    """Every document of every collection, as raw BSON bytes by `_id` (byte-identical checks)."""
    raw = db.codec_options.with_options(document_class=RawBSONDocument)
    return {
        name: {repr(d["_id"]): d.raw for d in db[name].with_options(codec_options=raw).find({})}
        for name in sorted(db.list_collection_names())
    }


@pytest.fixture
def landed(isolated_settings):
    """cids 31 and 32 with notes 1..8 landed (5 and 6 parked: no contact), and CDP-authored
    notes of cid 31 (one of them carrying a stray `legacy_crm_note_id`, 99, but no `source`)."""
    settings = isolated_settings.model_copy(update={"max_batch_notes": 20})
    db = open_database(settings)
    handler = make_batch_handler(settings, db)
    for cid in (CID, OTHER):
        add_contacts(db, cid, [1, 2, 3, 4, 7, 8])
        handler(cid, f"landed-{cid}", [note(i, i) for i in range(1, 9)])
        BatchLedger(db).claim({"_id": f"landed-{cid}", "cid": cid, "accepted": 8, "status": DONE})
    authored = [
        {"_id": ObjectId(), "cid": Int64(CID), "content": "<p>written in the CDP</p>", "contact_id": ObjectId()},
        {"_id": ObjectId(), "cid": Int64(CID), "content": "<p>stray</p>", "legacy_crm_note_id": Int64(99)},
    ]
    db.contact_notes.insert_many(authored)
    with ApiServer(settings) as api:
        yield api, db
    db.client.close()


def _migrated(db, cid):
    return sorted(int(d["legacy_crm_note_id"]) for d in db.contact_notes.find({"cid": cid, "source": "crm_migration"}))


def _parked(db, cid):
    return sorted(int(d["legacy_crm_note_id"]) for d in db.contact_notes_migration_parked.find({"cid": cid}))


def test_left_scope_withdraws_unedited_keeps_edited_and_is_idempotent(landed):
    api, db = landed
    assert _migrated(db, CID) == [1, 2, 3, 4, 7, 8] and _parked(db, CID) == [5, 6]
    edited = db.contact_notes.find_one({"cid": CID, "source": "crm_migration", "legacy_crm_note_id": 3})
    db.contact_notes.update_one(
        {"_id": edited["_id"], "cid": CID}, {"$set": {"updated_at": edited["updated_at"] + timedelta(hours=1)}}
    )
    marked = db.contact_notes.find_one({"cid": CID, "source": "crm_migration", "legacy_crm_note_id": 4})
    db.contact_notes.update_one({"_id": marked["_id"], "cid": CID}, {"$set": {"deleted_at": marked["updated_at"]}})
    before = raw_state(db)["contact_notes"]
    withdrawn = db.contact_notes.find_one({"cid": CID, "source": "crm_migration", "legacy_crm_note_id": 2})["_id"]

    body = {"cid": CID, "legacy_crm_note_ids": [2, 3, 4, 5, 99], "reason": "left_scope"}
    r = api.client.post(WITHDRAW, json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"cid": CID, "withdrawn": 1, "unparked": 1, "kept_edited_in_cdp": [3, 4], "absent": 1}
    assert _migrated(db, CID) == [1, 3, 4, 7, 8] and _parked(db, CID) == [6]
    # everything else, the CDP-authored notes (one names legacy id 99) and cid 32 included, is byte-identical
    after = raw_state(db)["contact_notes"]
    assert after == {k: v for k, v in before.items() if k != repr(withdrawn)}
    assert _migrated(db, OTHER) == [1, 2, 3, 4, 7, 8] and _parked(db, OTHER) == [5, 6]

    again = api.client.post(WITHDRAW, json=body)
    assert again.json() == {"cid": CID, "withdrawn": 0, "unparked": 0, "kept_edited_in_cdp": [3, 4], "absent": 3}
    with_edits = api.client.post(WITHDRAW, json={**body, "include_edited": True})
    assert with_edits.json()["withdrawn"] == 2 and _migrated(db, CID) == [1, 7, 8]


def test_rollback_all_takes_everything_of_the_cid_and_nothing_else(landed):
    api, db = landed
    before = raw_state(db)
    r = api.client.post(WITHDRAW, json={"cid": CID, "legacy_crm_note_ids": "all", "reason": "rollback"})
    assert r.status_code == 200, r.text
    assert r.json() == {"cid": CID, "withdrawn": 6, "unparked": 2, "kept_edited_in_cdp": [], "absent": 0}
    after = raw_state(db)
    assert (
        _migrated(db, CID) == [] and _parked(db, CID) == [] and db.migration_batches.count_documents({"cid": CID}) == 0
    )
    for name in ("contact_notes", "contact_notes_migration_parked", "migration_batches"):
        kept = {k: v for k, v in before[name].items() if k in after[name]}
        assert kept == after[name], name  # what is left is byte-identical
    left = [db.contact_notes.find_one({"_id": eval(k, {"ObjectId": ObjectId})}) for k in after["contact_notes"]]
    assert sorted((int(d["cid"]), "source" in d) for d in left if int(d["cid"]) == CID) == [(CID, False), (CID, False)]
    assert _migrated(db, OTHER) == [1, 2, 3, 4, 7, 8] and db.migration_batches.count_documents({"cid": OTHER}) == 1
    again = api.client.post(WITHDRAW, json={"cid": CID, "legacy_crm_note_ids": "all", "reason": "rollback"})
    assert again.json() == {"cid": CID, "withdrawn": 0, "unparked": 0, "kept_edited_in_cdp": [], "absent": 0}
    assert raw_state(db) == after


def test_all_is_refused_while_the_cid_has_batches_pending(landed):
    api, db = landed
    # no worker runs: the batch stays queued
    assert api.post_batch(batch(CID, "queued", [note(20, 1)])).status_code == 202
    before = raw_state(db)
    r = api.client.post(WITHDRAW, json={"cid": CID, "legacy_crm_note_ids": "all", "reason": "rollback"})
    assert r.status_code == 409 and r.json()["error"] == "batches_pending", r.text
    assert raw_state(db) == before
    ok = api.client.post(WITHDRAW, json={"cid": OTHER, "legacy_crm_note_ids": "all", "reason": "rollback"})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "body, field",
    [
        ({"cid": True, "legacy_crm_note_ids": [1], "reason": "left_scope"}, "cid"),
        ({"cid": "31", "legacy_crm_note_ids": [1], "reason": "left_scope"}, "cid"),
        ({"cid": 0, "legacy_crm_note_ids": [1], "reason": "left_scope"}, "cid"),
        ({"cid": 2**63, "legacy_crm_note_ids": [1], "reason": "left_scope"}, "cid"),
        ({"cid": 31, "legacy_crm_note_ids": [1.0], "reason": "left_scope"}, "legacy_crm_note_ids.0"),
        ({"cid": 31, "legacy_crm_note_ids": [-1], "reason": "left_scope"}, "legacy_crm_note_ids.0"),
        ({"cid": 31, "legacy_crm_note_ids": "all", "reason": "left_scope"}, "legacy_crm_note_ids"),
        ({"cid": 31, "legacy_crm_note_ids": "some", "reason": "rollback"}, "legacy_crm_note_ids"),
        ({"cid": 31, "legacy_crm_note_ids": [1], "reason": "gone"}, "reason"),
        ({"cid": 31, "legacy_crm_note_ids": [1]}, "reason"),
        ({"cid": 31, "legacy_crm_note_ids": [1], "reason": "rollback", "include_edited": 1}, "include_edited"),
        ({"cid": 31, "legacy_crm_note_ids": [1], "reason": "rollback", "extra": 1}, "extra"),
    ],
)
def test_strict_validation_names_the_field(landed, body, field):
    api, db = landed
    before = raw_state(db)
    r = api.client.post(WITHDRAW, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{field}:"), r.json()
    assert raw_state(db) == before


def test_limits_auth_and_not_json(landed, isolated_settings):
    api, _ = landed
    r = api.client.post(WITHDRAW, json={"cid": CID, "legacy_crm_note_ids": list(range(1, 22)), "reason": "left_scope"})
    assert r.status_code == 413
    r = api.client.post(WITHDRAW, content=b"not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"].startswith("body:")
    r = httpx.post(api.url + WITHDRAW, json={"cid": CID, "legacy_crm_note_ids": "all", "reason": "rollback"})
    assert r.status_code == 401


def test_legacy_ids_pages_documents_and_parked_records_ascending(landed):
    api, db = landed
    got, after = [], 0
    while True:
        r = api.client.get("/v1/migrations/crm-notes/legacy-ids", params={"cid": CID, "after": after, "limit": 3})
        assert r.status_code == 200, r.text
        page = r.json()["legacy_crm_note_ids"]
        got += page
        if len(page) < 3:
            break
        after = page[-1]
    assert got == list(range(1, 9))  # documents 1-4, 7, 8 and parked 5, 6; not the stray CDP note
