"""SPEC §3 "Contact gone": the one rule the worker, `run` and `reconcile` share.

A migration document points at the one contact of its cid that carried the note's person
(`source_id`) when it landed. That contact may since have been deleted, or no longer
carry the person. The note is then resolved again: to the one contact that carries the
person now (the document follows, unless edited in the CDP), or, with none or several,
the document is withdrawn and the note parked `contact_not_found` / `ambiguous_contact`.
A document edited in the CDP stays and is reported (parked `edited_in_cdp`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from bson import ObjectId

#: `source_id` → every contact `_id` of the cid with that `source_id`, for these persons.
ContactsOf = Callable[[int, Sequence[int]], Mapping[str, Sequence[ObjectId]]]


class StoredNotes(Protocol):
    """What the check reads of the store (`NoteStore` satisfies it)."""

    def find_notes(self, cid: int, legacy_ids: Sequence[int]) -> dict[int, dict[str, Any]]: ...


def contact_gone(stored: Mapping[str, Any], contact_ids: Collection[ObjectId]) -> bool:
    """Whether the contact a stored migration document points at no longer carries the
    note's person: deleted, or its `source_id` moved (`contact_ids`: the contacts of the
    cid that carry the person now)."""
    return stored.get("contact_id") not in contact_ids


def document_stays(stored: Mapping[str, Any], contact_ids: Collection[ObjectId], source_sha256: str | None) -> bool:
    """For a note that would park today while an unedited migration document of it is
    stored: whether that document stays, the note counting as migrated.

    It stays when it was migrated from this very legacy version and its contact still
    carries the note's person (say a second contact took the same `source_id`: the
    migration never guesses, nor undoes what it could decide before). Otherwise (the
    contact is gone, or the note changed in the CRM) the document is withdrawn and the
    note parked. `source_sha256` None (a note no longer valid, nothing to compare): it
    stays."""
    if source_sha256 is None:
        return True
    same_version = (stored.get("migration") or {}).get("source_sha256") == source_sha256
    return same_version and not contact_gone(stored, contact_ids)


def notes_with_contact_gone(
    store: StoredNotes, contacts_of: ContactsOf, cid: int, notes: Sequence[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], dict[str, Any]]]:
    """(note, stored document) for the notes (contract dicts) of one cid whose migration
    document points at a contact that no longer carries the note's person: what a pass of
    `run` sends to the worker again, even in a batch the API has already done. Two reads
    (the stored documents, then the contacts of their persons); one when nothing of the
    notes is stored."""
    stored = store.find_notes(cid, [int(n["legacy_crm_note_id"]) for n in notes])
    if not stored:
        return []
    landed = [n for n in notes if int(n["legacy_crm_note_id"]) in stored]
    carried = contacts_of(cid, [int(n["crm_person_id"]) for n in landed])
    gone = []
    for note in landed:
        doc = stored[int(note["legacy_crm_note_id"])]
        if contact_gone(doc, carried.get(str(note["crm_person_id"]), ())):
            gone.append((note, doc))
    return gone


def recheck_batch_id(batch_id: str, gone: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]]) -> str:
    """The id of the batch that sends the notes of `batch_id` whose contact is gone again:
    the same stored state gives the same id (sent once), a state changed since a new one."""
    state = [(int(n["legacy_crm_note_id"]), str(d.get("contact_id")), str(d.get("updated_at"))) for n, d in gone]
    return f"{batch_id}:recheck:{hashlib.sha256(repr(state).encode()).hexdigest()[:24]}"
