"""SPEC §3 "Contact gone": the rule the worker, reconcile and the API's check share."""

from __future__ import annotations

from bson import ObjectId

from crm_notes_migration.usecases.contact_gone import (
    contact_gone,
    document_stays,
    notes_with_contact_gone,
    recheck_batch_id,
)

A, B = ObjectId(), ObjectId()


def _doc(contact=A, sha="s1", updated="u1"):
    return {"contact_id": contact, "updated_at": updated, "migration": {"source_sha256": sha}}


def test_a_document_stays_only_from_the_same_version_on_a_contact_that_still_carries_the_person():
    assert document_stays(_doc(), (A,), "s1")
    assert document_stays(_doc(), (A, B), "s1")  # a second contact took the source_id: no guess, no undo
    assert not document_stays(_doc(), (), "s1")  # contact deleted
    assert not document_stays(_doc(), (B,), "s1")  # source_id moved to another contact
    assert not document_stays(_doc(), (A,), "s2")  # changed in the CRM
    assert document_stays(_doc(), (), None)  # an invalid note: nothing to compare
    assert contact_gone(_doc(), (B,)) and not contact_gone(_doc(), (A,))


class _Store:
    def __init__(self, docs):
        self.docs = docs
        self.asked = []

    def find_notes(self, cid, legacy_ids):
        self.asked.append((cid, list(legacy_ids)))
        return {lid: d for lid, d in self.docs.items() if lid in legacy_ids}


def test_the_notes_of_a_done_batch_whose_contact_is_gone_are_found_and_named_by_their_state():
    store = _Store({1: _doc(A), 2: _doc(B)})
    persons = []

    def contacts_of(cid, wanted):
        persons.append(sorted(wanted))
        return {"10": (A,), "20": (A,)}  # person 20's contact is now A, not B

    notes = [
        {"legacy_crm_note_id": 1, "crm_person_id": 10},
        {"legacy_crm_note_id": 2, "crm_person_id": 20},
        {"legacy_crm_note_id": 3, "crm_person_id": 30},
    ]
    gone = notes_with_contact_gone(store, contacts_of, 7, notes)
    assert [n["legacy_crm_note_id"] for n, _ in gone] == [2]
    assert store.asked == [(7, [1, 2, 3])] and persons == [[10, 20]]  # only the stored notes' persons
    same = recheck_batch_id("b", gone)
    assert same == recheck_batch_id("b", notes_with_contact_gone(store, contacts_of, 7, notes))
    store.docs[2] = _doc(B, updated="u2")  # the state changed since: another recheck
    assert recheck_batch_id("b", notes_with_contact_gone(store, contacts_of, 7, notes)) != same
    assert same.startswith("b:recheck:")
    assert notes_with_contact_gone(_Store({}), contacts_of, 7, notes) == [] and len(persons) == 3
