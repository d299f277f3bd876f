"""Which legacy ids of which cids the migration may have written to `contact_notes`.

FerretDB (SPEC §9) answers every filter on `contact_notes`, `_id` and `cid` equality
included, with a scan of the whole collection: the worker's read of a batch's stored
notes costs as much as the collection is large, once per batch. On a first migration
there is nothing to read. A marker, written before each insert, records the cid and the
range of legacy ids inserted; the store skips the read when no marker of the cid overlaps
the batch's ids. No overlapping marker means no document of those ids was inserted by the
migration before the markers were looked up, which is what the read would have found (the
read and the inserts of other workers were never ordered anyway). Markers only ever get
added, so a range once seen stays in a process's memory.

A database written before markers existed has none: the first store to look finds no
`initialised` record, marks every cid that has migrated documents over all ids (one pass,
once per database), then records `initialised`.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from bson import Int64
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from .mongo import CONTACT_NOTES, NOTE_CIDS

_INITIALISED = "initialised"
_ALL = (0, 2**63 - 1)


def _marker(cid: int, lo: int, hi: int) -> dict[str, Any]:
    return {"_id": f"notes:{cid}:{lo}-{hi}", "cid": Int64(cid), "lo": Int64(lo), "hi": Int64(hi)}


class CidMarkers:
    """The `migration_note_cids` collection, with a memory of the ranges seen."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.coll = db[NOTE_CIDS]
        self._ranges: dict[int, set[tuple[int, int]]] = {}
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
                self._insert([_marker(int(c), *_ALL) for c in cids] + [{"_id": _INITIALISED}])
            self._ready = True

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            self.coll.insert_many(rows, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    def _overlaps(self, cid: int, lo: int, hi: int) -> bool:
        return any(a <= hi and lo <= b for a, b in self._ranges.get(cid, ()))

    def may_have_notes(self, cid: int, legacy_ids: Sequence[int]) -> bool:
        """Whether `contact_notes` may hold migrated documents of these ids of the cid."""
        if not legacy_ids:
            return False
        lo, hi = min(legacy_ids), max(legacy_ids)
        if self._overlaps(cid, lo, hi):
            return True
        self._ensure_initialised()
        found = {(int(r["lo"]), int(r["hi"])) for r in self.coll.find({"cid": cid}, {"lo": 1, "hi": 1})}
        self._ranges.setdefault(cid, set()).update(found)
        return self._overlaps(cid, lo, hi)

    def mark(self, docs: Iterable[dict[str, Any]]) -> None:
        """Record the (cid, legacy id range) of documents before they are inserted."""
        spans: dict[int, list[int]] = {}
        for doc in docs:
            cid, lid = int(doc["cid"]), int(doc["legacy_crm_note_id"])
            span = spans.setdefault(cid, [lid, lid])
            span[0], span[1] = min(span[0], lid), max(span[1], lid)
        new = [(cid, lo, hi) for cid, (lo, hi) in spans.items() if (lo, hi) not in self._ranges.get(cid, ())]
        if not new:
            return
        self._ensure_initialised()
        self._insert([_marker(*span) for span in new])
        for cid, lo, hi in new:
            self._ranges.setdefault(cid, set()).add((lo, hi))
