"""Which legacy ids of which cids the migration may have written to `contact_notes` or
to the parked collection.

FerretDB (SPEC §9) answers every filter, `_id` and `cid` equality included, with a scan
of the whole collection: the worker's read of a batch's stored notes, and its delete of
the parked records of the notes it landed, cost as much as the collections are large,
once per batch. On a first migration there is nothing to read and nothing to unpark. A
marker, written before each insert, records the cid and what was written (for
`contact_notes` the range of legacy ids, batches being ranges of ids; for parked records
their `_id`s, parked notes being scattered over a batch and unparked by `_id`); the store skips the read (the
delete) when no marker of the cid matches the batch's ids. No matching marker means no
such document was written before the markers were looked up, which is what the read
would have found (the read and the writes of other workers were never ordered anyway).
Markers only ever get added, so a marker once seen stays in a process's memory.

A database written before markers existed has none: the first store to look finds no
`initialised` record, marks every cid that has migrated or parked documents over all ids
(one pass over each collection, once per database), then records `initialised`. So the
collection may be dropped as a whole while no worker or API runs (a running one keeps
what it saw); single markers must never be deleted.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from bson import Int64
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from .mongo import CONTACT_NOTES, NOTE_CIDS, PARKED

NOTES = "notes"
PARKED_KIND = "parked"
_INITIALISED = "initialised"
_MAX_ID = 2**63 - 1

#: (lo, hi, ids or None): a marker's legacy id range (NOTES), or its `_id`s (PARKED_KIND,
#: lo = hi = 0).
Entry = tuple[int, int, frozenset | None]


def _matches(entry: Entry, lo: int, hi: int, wanted: set[int]) -> bool:
    a, b, ids = entry
    return a <= hi and lo <= b and (ids is None or not ids.isdisjoint(wanted))


class CidMarkers:
    """The `migration_note_cids` collection, with a memory of the markers seen.

    One instance serves every thread of a worker. The memory is copied on write: each
    (kind, cid) maps to a dict that is never changed once published, and an update
    publishes a new one under a lock, so a thread may read and iterate it while another
    adds markers of the same cid (iterating a dict that another thread grows raises)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.coll = db[NOTE_CIDS]
        self._seen: dict[tuple[str, int], dict[str, Entry]] = {}
        self._ready = False
        self._lock = threading.Lock()
        self._publish_lock = threading.Lock()

    def _known(self, kind: str, cid: int) -> dict[str, Entry]:
        """The markers seen of (kind, cid): a dict no one changes (see the class)."""
        return self._seen.get((kind, cid), {})

    def _publish(self, kind: str, cid: int, entries: dict[str, Entry]) -> None:
        """Add markers seen: a new dict replaces the published one."""
        with self._publish_lock:
            self._seen[(kind, cid)] = {**self._seen.get((kind, cid), {}), **entries}

    def _ensure_initialised(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if self.coll.find_one({"_id": _INITIALISED}) is None:
                rows = []
                for kind, name in ((NOTES, CONTACT_NOTES), (PARKED_KIND, PARKED)):
                    for cid in self.db[name].distinct("cid", {"legacy_crm_note_id": {"$exists": True}}):
                        rows.append({"_id": f"{kind}:{int(cid)}:all", "kind": kind, "cid": Int64(cid),
                                     "lo": Int64(0), "hi": Int64(_MAX_ID)})
                self._insert(rows + [{"_id": _INITIALISED}])
            self._ready = True

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            self.coll.insert_many(rows, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    def _any(self, kind: str, cid: int, lo: int, hi: int, wanted: set[int]) -> bool:
        return any(_matches(e, lo, hi, wanted) for e in self._known(kind, cid).values())

    def may_have(self, kind: str, cid: int, keys: Sequence[Any]) -> bool:
        """Whether documents of the cid with these keys may have been written: legacy ids
        in `contact_notes` (kind NOTES), `_id`s in the parked collection (PARKED_KIND)."""
        if not keys:
            return False
        wanted = set(keys) if kind == PARKED_KIND else {int(i) for i in keys}
        lo, hi = (0, 0) if kind == PARKED_KIND else (min(wanted), max(wanted))
        if self._any(kind, cid, lo, hi, wanted):
            return True
        self._ensure_initialised()
        found: dict[str, Entry] = {}
        for r in self.coll.find({"cid": cid}):
            if r.get("kind", NOTES) == kind:
                found[r["_id"]] = (int(r["lo"]), int(r["hi"]), frozenset(r["ids"]) if "ids" in r else None)
        self._publish(kind, cid, found)
        return self._any(kind, cid, lo, hi, wanted)

    def may_have_notes(self, cid: int, legacy_ids: Sequence[int]) -> bool:
        """Whether `contact_notes` may hold migrated documents of these ids of the cid."""
        return self.may_have(NOTES, cid, legacy_ids)

    def mark(self, docs: Iterable[dict[str, Any]], kind: str = NOTES) -> None:
        """Record the cid and keys of documents (of `kind`) before they are inserted."""
        by_cid: dict[int, set[Any]] = {}
        for doc in docs:
            key = doc["_id"] if kind == PARKED_KIND else int(doc["legacy_crm_note_id"])
            by_cid.setdefault(int(doc["cid"]), set()).add(key)
        rows, entries = [], []
        for cid, ids in by_cid.items():
            known = self._known(kind, cid).values()
            listed = frozenset(ids) if kind == PARKED_KIND else None
            lo, hi = (0, 0) if listed is not None else (min(ids), max(ids))
            if all(any(_matches(e, *((0, 0) if listed is not None else (i, i)), {i}) for e in known) for i in ids):
                continue  # every one is covered by a marker already written
            digest = hashlib.sha256(",".join(sorted(map(str, ids))).encode()).hexdigest()[:16]
            key = f"{kind}:{cid}:{lo}-{hi}" + (f":{digest}" if listed is not None else "")
            row = {"_id": key, "kind": kind, "cid": Int64(cid), "lo": Int64(lo), "hi": Int64(hi)}
            if listed is not None:
                row["ids"] = sorted(ids)
            rows.append(row)
            entries.append((cid, key, (lo, hi, listed)))
        if not rows:
            return
        self._ensure_initialised()
        self._insert(rows)
        for cid, key, entry in entries:
            self._publish(kind, cid, {key: entry})
