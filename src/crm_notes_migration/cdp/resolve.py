"""Resolving a batch's people and users against the CDP, scoped to the batch's cid.

One `contacts` query and one `users` query per call, whatever the batch size."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from bson import ObjectId
from pymongo.database import Database

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import CdpUser, Resolution, normalise_email

from .mongo import CONTACTS, USERS


def contacts_by_person(db: Database, cid: int, person_ids: Sequence[int]) -> dict[str, tuple[ObjectId, ...]]:
    """`source_id` → every contact `_id` of this cid with that source_id (one query)."""
    wanted = sorted({str(p) for p in person_ids})
    found: dict[str, list[ObjectId]] = defaultdict(list)
    if not wanted:
        return {}
    cursor = db[CONTACTS].find({"cid": cid, "source_id": {"$in": wanted}}, {"_id": 1, "source_id": 1})
    for row in cursor:
        found[str(row.get("source_id"))].append(row["_id"])
    return {key: tuple(sorted(ids)) for key, ids in found.items()}


def users_of_cid(db: Database, cid: int) -> tuple[dict[str, CdpUser], dict[str, CdpUser]]:
    """(users_by_email, users_by_id) of the cid (one query). On a duplicate email the
    first user by `_id` wins, so the choice is stable."""
    by_email: dict[str, CdpUser] = {}
    by_id: dict[str, CdpUser] = {}
    rows = sorted(db[USERS].find({"cid": cid}, {"_id": 1, "email": 1, "name": 1}), key=lambda r: r["_id"])
    for row in rows:
        user = CdpUser(id=row["_id"], name=row.get("name") or "", email=row.get("email"))
        by_id[str(row["_id"])] = user
        key = normalise_email(row.get("email"))
        if key and key not in by_email:
            by_email[key] = user
    return by_email, by_id


def resolve_notes(db: Database, cid: int, notes: Sequence[NoteV1]) -> list[Resolution]:
    """One `Resolution` per note, in order, all looked up within `cid` only."""
    contacts = contacts_by_person(db, cid, [n.crm_person_id for n in notes])
    by_email, by_id = users_of_cid(db, cid) if notes else ({}, {})
    return [
        Resolution(
            contact_ids=contacts.get(str(n.crm_person_id), ()),
            users_by_email=by_email,
            users_by_id=by_id,
        )
        for n in notes
    ]
