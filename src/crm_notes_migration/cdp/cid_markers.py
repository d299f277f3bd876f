"""On FerretDB only: which legacy ids of a cid the migration may have written to
`contact_notes`, and which parked records, so that the store skips the reads that would
find nothing.

FerretDB 1.24 answers every filter with a scan of the whole table, and a `contact_notes`
row costs PostgreSQL its whole document to test (about 9 µs each, content and all): the
worker's read of a batch's stored notes, and its delete of the parked records of the notes
it landed, cost as much as the collections are large, once per batch. On a first migration
both find nothing. A marker in `migration_note_cids`, written before each insert, records
the cid and what is written: for `contact_notes` the range of legacy ids (batches are id
ranges), for parked records their `_id`s (parked notes are scattered over a batch). No
matching marker means no such document was written before the markers were read, which is
what the read would have found (the read and other workers' writes were never ordered
anyway). Markers are only ever added, so one once seen stays in a process's memory; a miss
always reads the cid's markers again.

Every write of a migration document or a parked record goes through `MongoNoteStore`,
which marks first. A database written before markers existed has none: before its first
marker is read or written, each process checks for the `initialised` record; without it,
every cid the migration has received batches for (`migration_batches`, never a read of
`contact_notes`) is marked over all ids, then `initialised` is written. So the collection
may be dropped as a whole only with the migration's documents (the seed does), or while no
worker or API runs; single markers are never deleted.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from bson import Int64
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from .batches import BatchLedger

NOTE_CIDS = "migration_note_cids"
NOTES = "notes"
PARKED_KIND = "parked"
_INITIALISED = "initialised"
_MAX_ID = 2**63 - 1

#: (lo, hi, ids or None): a marker's legacy id range (NOTES), or its `_id`s (PARKED_KIND,
#: lo = hi = 0).
Entry = tuple[int, int, frozenset | None]


def _matches(entry: Entry, lo: int, hi: int, wanted: set[Any]) -> bool:
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

    def initialise(self) -> None:
        """Mark every cid of the batch ledger over all ids, once per database (see the module)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            if self.coll.find_one({"_id": _INITIALISED}) is None:
                rows = [
                    {"_id": f"{kind}:{cid}:all", "kind": kind, "cid": Int64(cid), "lo": Int64(0), "hi": Int64(_MAX_ID)}
                    for cid in sorted(BatchLedger(self.db).cids())
                    for kind in (NOTES, PARKED_KIND)
                ]
                self._insert([*rows, {"_id": _INITIALISED}])
            self._ready = True

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            self.coll.insert_many(rows, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    def _any(self, kind: str, cid: int, lo: int, hi: int, wanted: set[Any]) -> bool:
        return any(_matches(e, lo, hi, wanted) for e in self._known(kind, cid).values())

    def _may_have(self, kind: str, cid: int, wanted: set[Any]) -> bool:
        if not wanted:
            return False
        lo, hi = (0, 0) if kind == PARKED_KIND else (min(wanted), max(wanted))
        if self._any(kind, cid, lo, hi, wanted):
            return True
        self.initialise()
        found: dict[str, Entry] = {}
        for r in self.coll.find({"cid": cid, "kind": kind}):
            found[r["_id"]] = (int(r["lo"]), int(r["hi"]), frozenset(r["ids"]) if "ids" in r else None)
        self._publish(kind, cid, found)
        return self._any(kind, cid, lo, hi, wanted)

    def may_have_notes(self, cid: int, legacy_ids: Iterable[int]) -> bool:
        """Whether `contact_notes` may hold migration documents of these legacy ids of the cid."""
        return self._may_have(NOTES, cid, {int(i) for i in legacy_ids})

    def may_have_parked(self, cid: int, ids: Iterable[Any]) -> bool:
        """Whether the parked collection may hold records of the cid with these `_id`s."""
        return self._may_have(PARKED_KIND, cid, set(ids))

    def mark_notes(self, docs: Iterable[dict[str, Any]]) -> None:
        """Record the cids and legacy id ranges of documents before they are inserted."""
        self._mark(NOTES, ((int(d["cid"]), int(d["legacy_crm_note_id"])) for d in docs))

    def mark_parked(self, records: Iterable[dict[str, Any]]) -> None:
        """Record the cids and `_id`s of parked records before they are inserted."""
        self._mark(PARKED_KIND, ((int(r["cid"]), r["_id"]) for r in records))

    def _mark(self, kind: str, keys: Iterable[tuple[int, Any]]) -> None:
        by_cid: dict[int, set[Any]] = {}
        for cid, key in keys:
            by_cid.setdefault(cid, set()).add(key)
        rows, entries = [], []
        for cid, ids in by_cid.items():
            if self._covered(kind, cid, ids):
                continue  # every one is covered by a marker already written
            listed = frozenset(ids) if kind == PARKED_KIND else None
            lo, hi = (0, 0) if listed is not None else (min(ids), max(ids))
            key = f"{kind}:{cid}:{lo}-{hi}"
            row: dict[str, Any] = {"_id": key, "kind": kind, "cid": Int64(cid), "lo": Int64(lo), "hi": Int64(hi)}
            if listed is not None:
                row["_id"] = key + ":" + hashlib.sha256(",".join(sorted(map(str, ids))).encode()).hexdigest()[:16]
                row["ids"] = sorted(ids)
            rows.append(row)
            entries.append((cid, row["_id"], (lo, hi, listed)))
        if not rows:
            return
        self.initialise()
        self._insert(rows)
        for cid, key, entry in entries:
            self._publish(kind, cid, {key: entry})

    def _covered(self, kind: str, cid: int, ids: Sequence[Any] | set[Any]) -> bool:
        known = self._known(kind, cid).values()
        if kind == PARKED_KIND:
            return all(any(_matches(e, 0, 0, {i}) for e in known) for i in ids)
        return all(any(_matches(e, i, i, {i}) for e in known) for i in ids)
