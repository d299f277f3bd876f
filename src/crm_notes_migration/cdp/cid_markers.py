"""Which cids the migration may have written `contact_notes` documents of.

FerretDB (SPEC §9) answers every filter on `contact_notes`, `_id` and `cid` equality
included, with a scan of the whole collection: the worker's read of a batch's stored
notes costs as much as the collection is large, once per batch. On a first migration
there is nothing to read. A marker per cid, written before the first insert of any of
its notes, lets the store skip that read when the cid has no marker: no marker means no
document of the cid was inserted by the migration before the marker was looked up, which
is what the read would have found (the read and the inserts of other workers were never
ordered anyway). Markers only ever get added, so a cid once seen marked stays marked in
a process's memory.

A database written before markers existed has no markers: the first store to look finds
no `initialised` record, marks every cid that has migrated documents (one pass, once per
database), then records `initialised`.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable

from bson import Int64
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from .mongo import CONTACT_NOTES, NOTE_CIDS

_INITIALISED = "initialised"


def _key(cid: int) -> str:
    return f"notes:{int(cid)}"


class CidMarkers:
    """The `migration_note_cids` collection, with a memory of the cids seen marked."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.coll = db[NOTE_CIDS]
        self._marked: set[int] = set()
        self._ready = False
        self._lock = threading.Lock()

    def _ensure_initialised(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if self.coll.find_one({"_id": _INITIALISED}) is None:
                cids = self.db[CONTACT_NOTES].distinct("cid", {"legacy_crm_note_id": {"$exists": True}})
                self._insert([_key(c) for c in cids] + [_INITIALISED])
            self._ready = True

    def _insert(self, keys: list[str]) -> None:
        if not keys:
            return
        try:
            self.coll.insert_many([{"_id": k} for k in keys], ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    def may_have_notes(self, cid: int) -> bool:
        """Whether `contact_notes` may hold migrated documents of the cid."""
        if cid in self._marked:
            return True
        self._ensure_initialised()
        if self.coll.find_one({"_id": _key(cid)}) is None:
            return False
        self._marked.add(cid)
        return True

    def mark(self, cids: Iterable[int]) -> None:
        """Record the cids before documents of theirs are inserted."""
        for cid in {int(c) for c in cids} - self._marked:
            self._ensure_initialised()
            try:
                self.coll.insert_one({"_id": _key(cid), "cid": Int64(cid)})
            except DuplicateKeyError:
                pass
            self._marked.add(cid)
