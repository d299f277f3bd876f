"""A live CDP (issue 14, SPEC §3): `contact_notes` already holds CDP-authored notes, of the
migrated cids (some on the very contacts that receive migrated notes) and of a tenant the
migration is never asked about. `run`, the counts endpoint, `reconcile` (and `--repair`)
and `retry-parked` see migration documents only, and leave every CDP-authored note
byte-identical. A contact deleted, or whose `source_id` moved to another contact, after
landing: `run` applies SPEC §3's "Contact gone", and `reconcile` then exits 0."""

from __future__ import annotations

from datetime import timedelta

import pymongo
import pytest
from bson import Int64, ObjectId

from crm_notes_devtools.stack import LocalStack
from crm_notes_migration.client import MigrationApiClient
from tests.cli import cli, cli_json
from tests.e2e.live_cdp_support import add_cdp_authored_notes, raw_notes
from tests.e2e.run_support import load_fixture, run_cli
from tests.e2e.test_run import assert_matches

CIDS = (11, 12, 13)


@pytest.fixture
def live(isolated_settings, tmp_path):
    expected = load_fixture(isolated_settings, cids=CIDS)
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri, tz_aware=True)[isolated_settings.cdp_mongodb_db]
    cdp_ids = add_cdp_authored_notes(db, CIDS)
    before = raw_notes(db, cdp_ids)
    stack = LocalStack(isolated_settings, tmp_path / "stack").start()
    try:
        yield stack.settings, expected, db, tmp_path, before
    finally:
        stack.stop()
        db.client.close()


def _migration_docs(db, cid: int) -> list[dict]:
    return list(db.contact_notes.find({"cid": cid, "source": "crm_migration"}))


def test_run_counts_reconcile_repair_and_retry_parked_leave_cdp_authored_notes_alone(live):
    settings, expected, db, cwd, before = live
    code, out, err = run_cli(settings, cwd, "--batch-size", "20")
    assert code == 0, err
    assert_matches(out, expected)  # the counts endpoint: migration documents only

    with MigrationApiClient(settings.migration_api_url, settings.migration_api_token) as api:
        assert [api.counts(c)["migrated"] for c in CIDS] == [expected[c]["migrated"] for c in CIDS]
        every = api.counts()["cids"]
        assert [row["cid"] for row in every] == list(CIDS)  # never the other tenant
        assert [row["migrated"] for row in every] == [expected[c]["migrated"] for c in CIDS]

    code, rec, err = cli_json(settings, cwd, "reconcile", "--json")
    assert code == 0, (err, rec and rec["totals"])
    assert rec["totals"]["extra"] == 0 and [row["cid"] for row in rec["cids"]] == list(CIDS)

    # a migration document lost in the CDP: --repair restores it, the CDP notes stay
    lost = sorted(_migration_docs(db, 12), key=lambda d: d["legacy_crm_note_id"])[0]
    db.contact_notes.delete_one({"_id": lost["_id"]})
    code, rec, err = cli_json(settings, cwd, "reconcile", "--json", "--repair")
    assert code == 0 and rec["repair"]["resent"] == 1, (err, rec and rec["repair"])
    assert db.contact_notes.find_one({"_id": lost["_id"]}) is not None

    # contacts synced later: retry-parked (every cid: the CRM's list) lands the parked notes
    parked = list(db.contact_notes_migration_parked.find({"cid": 11}))
    assert parked and all(p["reason"] == "contact_not_found" for p in parked)
    db.contacts.insert_many(
        [{"_id": ObjectId(), "cid": Int64(11), "source_id": str(p["note"]["crm_person_id"])} for p in parked]
    )
    proc = cli(settings, cwd, "retry-parked")
    assert proc.returncode == 0, proc.stderr
    assert db.contact_notes_migration_parked.count_documents({"cid": 11}) == 0
    assert len(_migration_docs(db, 11)) == expected[11]["migrated"] + len(parked)
    code, rec, err = cli_json(settings, cwd, "reconcile", "--json")
    assert code == 0, (err, rec and rec["totals"])

    assert raw_notes(db, list(before)) == before  # every CDP-authored note byte-identical


def test_contact_deleted_or_its_source_id_moved_run_then_reconcile_exits_0(live):
    settings, expected, db, cwd, before = live
    code, out, err = run_cli(settings, cwd, "--batch-size", "20")
    assert code == 0, err

    # cid 11: two contacts deleted from `contacts`, the note of one of them edited by a CDP
    # user (it stays, and is reported); cid 12: a contact's source_id moved to another contact
    first, second = sorted(_migration_docs(db, 11), key=lambda d: d["legacy_crm_note_id"])[:2]
    gone_contacts = [first["contact_id"], second["contact_id"]]
    db.contacts.delete_many({"_id": {"$in": gone_contacts}})
    orphaned = sorted(d["legacy_crm_note_id"] for d in _migration_docs(db, 11) if d["contact_id"] in gone_contacts)
    edited = first
    db.contact_notes.update_one(
        {"_id": edited["_id"]},
        {"$set": {"content": "<p>a user's edit</p>", "updated_at": edited["updated_at"] + timedelta(days=1)}},
    )
    orphaned.remove(edited["legacy_crm_note_id"])
    old = db.contacts.find_one({"cid": 12, "_id": _migration_docs(db, 12)[0]["contact_id"]})
    new_id = ObjectId()
    db.contacts.update_one({"_id": old["_id"]}, {"$set": {"source_id": "moved-away"}})
    db.contacts.insert_one({"_id": new_id, "cid": Int64(12), "source_id": old["source_id"]})
    followed = sorted(d["legacy_crm_note_id"] for d in _migration_docs(db, 12) if d["contact_id"] == old["_id"])
    assert orphaned and followed
    # cid 13: a second contact takes the source_id of a contact that keeps it: the document stays
    kept = _migration_docs(db, 13)[0]
    person = db.contacts.find_one({"_id": kept["contact_id"]})["source_id"]
    db.contacts.insert_one({"_id": ObjectId(), "cid": Int64(13), "source_id": person})

    code, out, err = run_cli(settings, cwd, "--batch-size", "20")
    assert code == 0, err
    left = [d for d in _migration_docs(db, 11) if d["contact_id"] in gone_contacts]
    assert [d["_id"] for d in left] == [edited["_id"]] and left[0]["content"] == "<p>a user's edit</p>"
    parked = {int(p["legacy_crm_note_id"]): p["reason"] for p in db.contact_notes_migration_parked.find({"cid": 11})}
    assert all(parked.get(lid) == "contact_not_found" for lid in orphaned)  # the others withdrawn, parked
    assert parked[int(edited["legacy_crm_note_id"])] == "edited_in_cdp"
    now = {int(d["legacy_crm_note_id"]): d["contact_id"] for d in _migration_docs(db, 12)}
    assert [now[lid] for lid in followed] == [new_id] * len(followed)  # resolved again
    assert db.contact_notes.find_one({"_id": kept["_id"]}) == kept

    code, rec, err = cli_json(settings, cwd, "reconcile", "--json")
    assert code == 0, (err, rec and rec["totals"])
    by_cid = {row["cid"]: row for row in rec["cids"]}
    assert by_cid[11]["edited_in_cdp"]["ids"] == [edited["legacy_crm_note_id"]]
    assert raw_notes(db, list(before)) == before
