"""Resolving a batch's people and users against the CDP, scoped to the batch's cid.

One `contacts` query and one `users` query per call, whatever the batch size. The rows
are turned into resolutions by `resolve_rows`, which reconcile's FerretDB snapshot
(`note_streams`) feeds from its local copy of the same rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import CdpUser, Resolution, normalise_email

from .mongo import CONTACTS, USERS

#: What is read of a contact and of a user.
CONTACT_FIELDS = {"_id": 1, "source_id": 1}
USER_FIELDS = {"_id": 1, "email": 1, "name": 1}

#: The contacts of a cid whose `source_id` is one of these strings (the rows of `contacts_by_person`).
ContactRows = Callable[[list[str]], Iterable[dict[str, Any]]]
#: Every user of a cid (the rows of `users_of_cid`).
UserRows = Callable[[], Iterable[dict[str, Any]]]


def _contacts(rows: ContactRows, person_ids: Sequence[int]) -> dict[str, tuple[ObjectId, ...]]:
    wanted = sorted({str(p) for p in person_ids})
    found: dict[str, list[ObjectId]] = defaultdict(list)
    if not wanted:
        return {}
    for row in rows(wanted):
        found[str(row.get("source_id"))].append(row["_id"])
    return {key: tuple(sorted(ids)) for key, ids in found.items()}


def contacts_by_person(db: Database, cid: int, person_ids: Sequence[int]) -> dict[str, tuple[ObjectId, ...]]:
    """`source_id` → every contact `_id` of this cid with that source_id (one query)."""
    return _contacts(
        lambda wanted: db[CONTACTS].find({"cid": cid, "source_id": {"$in": wanted}}, CONTACT_FIELDS), person_ids
    )


def _users(rows: UserRows) -> tuple[dict[str, CdpUser], dict[str, CdpUser]]:
    by_email: dict[str, CdpUser] = {}
    by_id: dict[str, CdpUser] = {}
    for row in sorted(rows(), key=lambda r: r["_id"]):
        user = CdpUser(id=row["_id"], name=row.get("name") or "", email=row.get("email"))
        by_id[str(row["_id"])] = user
        key = normalise_email(row.get("email"))
        if key and key not in by_email:
            by_email[key] = user
    return by_email, by_id


def users_of_cid(db: Database, cid: int) -> tuple[dict[str, CdpUser], dict[str, CdpUser]]:
    """(users_by_email, users_by_id) of the cid (one query). On a duplicate email the
    first user by `_id` wins, so the choice is stable."""
    return _users(lambda: db[USERS].find({"cid": cid}, USER_FIELDS))


def resolve_notes(db: Database, cid: int, notes: Sequence[NoteV1]) -> list[Resolution]:
    """One `Resolution` per note, in order, all looked up within `cid` only."""
    return resolve_rows(
        notes,
        lambda wanted: db[CONTACTS].find({"cid": cid, "source_id": {"$in": wanted}}, CONTACT_FIELDS),
        lambda: db[USERS].find({"cid": cid}, USER_FIELDS),
    )


def resolve_rows(notes: Sequence[NoteV1], contact_rows: ContactRows, user_rows: UserRows) -> list[Resolution]:
    """`resolve_notes` from rows read elsewhere: `contact_rows(source_ids)` the cid's
    contacts with those source ids, `user_rows()` the cid's users (as the queries give them)."""
    contacts = _contacts(contact_rows, [n.crm_person_id for n in notes])
    by_email, by_id = _users(user_rows) if notes else ({}, {})
    return [
        Resolution(
            contact_ids=contacts.get(str(n.crm_person_id), ()),
            users_by_email=by_email,
            users_by_id=by_id,
        )
        for n in notes
    ]
