"""The ingest use case against an in-memory store with the same interface as MongoNoteStore."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from bson import ObjectId

from crm_notes_migration.transform import Resolution, TransformOptions
from crm_notes_migration.usecases.ingest import ingest_notes

NOW = datetime(2025, 1, 1, tzinfo=UTC)
LATER = datetime(2025, 2, 1, tzinfo=UTC)
CID = 5
CONTACT = ObjectId()


class MemoryStore:
    """NoteStore in memory (same methods and semantics as cdp.store.MongoNoteStore)."""

    def __init__(self):
        self.notes: dict[ObjectId, dict] = {}
        self.parked: dict[ObjectId, dict] = {}

    def insert_notes(self, docs, now):
        dups = []
        for d in docs:
            if d["_id"] in self.notes:
                dups.append(int(d["legacy_crm_note_id"]))
            else:
                self.notes[d["_id"]] = {**copy.deepcopy(d), "migrated_at": now}
        return dups

    def find_notes(self, cid, legacy_ids):
        return {
            int(d["legacy_crm_note_id"]): copy.deepcopy(d)
            for d in self.notes.values()
            if d["cid"] == cid and d["legacy_crm_note_id"] in legacy_ids
        }

    def existing_ids(self, cid, legacy_ids):
        return set(self.find_notes(cid, legacy_ids))

    def replace_note(self, doc, expected_updated_at):
        stored = self.notes.get(doc["_id"])
        if stored is None or stored["updated_at"] != expected_updated_at:
            return False
        stored.update({k: v for k, v in doc.items() if k not in ("_id", "migrated_at")})
        return True

    def remove_note(self, cid, note_id, expected_updated_at):
        stored = self.notes.get(note_id)
        if stored is None or stored["cid"] != cid or stored["updated_at"] != expected_updated_at:
            return False
        del self.notes[note_id]
        return True

    def parked_ids(self, cid, ids):
        return {i for i in ids if i in self.parked and self.parked[i]["cid"] == cid}

    def unpark(self, cid, ids):
        return sum(1 for i in ids if self.parked.pop(i, None) is not None)

    def park(self, records, now):
        for r in records:
            old = self.parked.get(r["_id"])
            if old is None:
                self.parked[r["_id"]] = {**r, "first_parked_at": now, "last_attempt_at": now, "attempts": 1}
            else:
                old.update(
                    {
                        **r,
                        "last_attempt_at": now,
                        "attempts": old["attempts"] + 1,
                        "first_parked_at": old["first_parked_at"],
                    }
                )


def _note(lid, content="<p>hi</p>", updated="2021-03-05T00:00:00+00:00", person=1):
    return {
        "legacy_crm_note_id": lid,
        "crm_person_id": person,
        "content_html": content,
        "created_at": "2021-03-04T05:06:07+00:00",
        "updated_at": updated,
    }


def _resolver(contacts):
    return lambda cid, notes: [Resolution(contact_ids=contacts.get(n.crm_person_id, ())) for n in notes]


def _run(store, notes, contacts=None, now=NOW):
    return ingest_notes(
        store, _resolver(contacts if contacts is not None else {1: (CONTACT,)}), CID, notes, TransformOptions(), now
    )


def test_repeat_is_a_no_op_and_keeps_migrated_at():
    store = MemoryStore()
    first = _run(store, [_note(1), _note(2)])
    assert first.inserted == 2
    again = _run(store, [_note(1), _note(2)], now=LATER)
    assert (again.inserted, again.unchanged, again.updated) == (0, 2, 0)
    assert {d["migrated_at"] for d in store.notes.values()} == {NOW}


def test_changed_legacy_note_updates_unless_edited_in_cdp():
    store = MemoryStore()
    _run(store, [_note(1), _note(2)])
    one = next(d for d in store.notes.values() if d["legacy_crm_note_id"] == 1)
    one.update(content="<p>user edit</p>", updated_at=LATER)
    out = _run(
        store,
        [_note(1, "<p>v2</p>", "2022-01-01T00:00:00+00:00"), _note(2, "<p>v2</p>", "2022-01-01T00:00:00+00:00")],
        now=LATER,
    )
    assert out.updated == 1 and dict(out.parked) == {"edited_in_cdp": 1}
    assert one["content"] == "<p>user edit</p>"
    two = next(d for d in store.notes.values() if d["legacy_crm_note_id"] == 2)
    assert "v2" in two["content"] and two["migrated_at"] == NOW
    assert [p["reason"] for p in store.parked.values()] == ["edited_in_cdp"]


def test_parked_note_lands_later_and_leaves_the_parked_collection():
    store = MemoryStore()
    out = _run(store, [_note(1, person=9), {"legacy_crm_note_id": 2, "crm_person_id": "x"}])
    assert dict(out.parked) == {"contact_not_found": 1, "invalid_note": 1}
    out = _run(store, [_note(1, person=9)])
    assert store.parked[next(k for k, p in store.parked.items() if p["reason"] == "contact_not_found")]["attempts"] == 2
    out = _run(store, [_note(1, person=9)], contacts={9: (CONTACT,)})
    assert out.inserted == 1 and out.unparked == 1
    assert [p["reason"] for p in store.parked.values()] == ["invalid_note"]


def test_a_migrated_note_whose_contact_is_gone_is_withdrawn_and_parked():
    store = MemoryStore()
    _run(store, [_note(1)])
    out = _run(store, [_note(1)], contacts={})
    assert dict(out.parked) == {"contact_not_found": 1} and store.notes == {}
    assert [p["reason"] for p in store.parked.values()] == ["contact_not_found"]


def test_a_migrated_note_follows_its_person_to_the_contact_that_carries_it_now():
    store = MemoryStore()
    _run(store, [_note(1)])
    other = ObjectId()
    out = _run(store, [_note(1)], contacts={1: (other,)})
    assert out.updated == 1 and [d["contact_id"] for d in store.notes.values()] == [other] and store.parked == {}


def test_a_migrated_note_stays_while_its_contact_still_carries_the_person():
    store = MemoryStore()
    _run(store, [_note(1)])
    out = _run(store, [_note(1)], contacts={1: (CONTACT, ObjectId())})  # a second contact: ambiguous now
    assert dict(out.parked) == {} and len(store.notes) == 1 and store.parked == {}


def test_a_migrated_note_whose_contact_is_gone_keeps_a_users_edit():
    store = MemoryStore()
    _run(store, [_note(1)])
    (doc,) = store.notes.values()
    doc.update(content="<p>user edit</p>", updated_at=LATER)
    out = _run(store, [_note(1)], contacts={1: (ObjectId(), ObjectId())})
    assert dict(out.parked) == {"edited_in_cdp": 1} and list(store.notes.values()) == [doc]
    (rec,) = store.parked.values()
    assert "ambiguous_contact" in rec["detail"]


def _run_small(store, notes, now=NOW):
    return ingest_notes(store, _resolver({1: (CONTACT,)}), CID, notes, TransformOptions(max_note_html_bytes=200), now)


def test_a_changed_note_that_now_parks_replaces_its_stale_copy():
    store = MemoryStore()
    _run_small(store, [_note(1), _note(2)])
    big = "<p>" + "x" * 300 + "</p>"
    out = _run_small(store, [_note(1, big, "2022-01-01T00:00:00+00:00")], now=LATER)
    assert dict(out.parked) == {"content_too_large": 1}
    assert [d["legacy_crm_note_id"] for d in store.notes.values()] == [2]  # in exactly one collection
    (rec,) = store.parked.values()
    assert rec["legacy_crm_note_id"] == 1 and rec["reason"] == "content_too_large"
    assert rec["note"]["content_html"] == big  # the newer version is kept, nothing lost


def test_a_changed_note_that_now_parks_keeps_a_users_edit():
    store = MemoryStore()
    _run_small(store, [_note(1)])
    (doc,) = store.notes.values()
    doc.update(content="<p>user edit</p>", updated_at=LATER)
    big = "<p>" + "x" * 300 + "</p>"
    out = _run_small(store, [_note(1, big, "2022-01-01T00:00:00+00:00")], now=LATER)
    assert dict(out.parked) == {"edited_in_cdp": 1}
    assert doc["content"] == "<p>user edit</p>" and list(store.notes.values()) == [doc]
    (rec,) = store.parked.values()
    assert rec["reason"] == "edited_in_cdp" and "content_too_large" in rec["detail"]
    assert rec["note"]["content_html"] == big
