"""The writes of the worker: `contact_notes` and `contact_notes_migration_parked`.

`NoteStore` is the interface the ingest use case needs; `MongoNoteStore` implements it
on pymongo with few round trips, within what FerretDB supports (SPEC §9): every filter
carries `cid` equality; no upserts; the deterministic `_id` makes duplicates impossible.
`contact_notes` is shared with the CDP (SPEC §3): every read, update and delete there
names the migration documents (`migration_documents`), never a CDP-authored note.
On FerretDB, and only there, cid markers (`cid_markers.py`) spare the reads and deletes
that would find nothing; `NoteStore` does not show them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from .cid_markers import CidMarkers
from .mongo import CONTACT_NOTES, PARKED, is_ferretdb, migration_documents

DUPLICATE_KEY = 11000


class NoteStore(Protocol):
    """What the ingest use case reads and writes."""

    def insert_notes(self, docs: Sequence[dict[str, Any]], now: datetime) -> list[int]:
        """Insert new documents (migrated_at = now); returns the legacy ids that already existed."""

    def find_notes(self, cid: int, legacy_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Stored migration documents of these legacy ids of the cid, by legacy id."""

    def replace_note(self, doc: dict[str, Any], expected_updated_at: datetime) -> bool:
        """Overwrite the fields of a stored document (keeping `_id`, `migrated_at`) if its
        `updated_at` is still `expected_updated_at`; True when it was written."""

    def remove_note(self, cid: int, note_id: ObjectId, expected_updated_at: datetime) -> bool:
        """Delete a stored document if its `updated_at` is still `expected_updated_at`
        (never a user's edit made meanwhile); True when it went."""

    def unpark(self, cid: int, ids: Sequence[ObjectId]) -> int:
        """Remove the parked records of these `_id`s of the cid, where there are any;
        returns how many went (one round trip, no read first)."""

    def park(self, records: Sequence[dict[str, Any]], now: datetime) -> None:
        """Insert parked records, or refresh existing ones (reason, note, detail,
        last_attempt_at, attempts + 1; first_parked_at kept)."""


def _duplicate_indexes(exc: BulkWriteError) -> tuple[list[int], list[dict[str, Any]]]:
    dups: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for err in exc.details.get("writeErrors", []):
        (dups if err.get("code") == DUPLICATE_KEY else others).append(err)
    return [e["index"] for e in dups], others


class MongoNoteStore:
    """`NoteStore` on a pymongo database (MongoDB or FerretDB)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.notes = db[CONTACT_NOTES]
        self.parked = db[PARKED]
        self._markers: CidMarkers | None = None
        self._markers_known = False

    @property
    def markers(self) -> CidMarkers | None:
        """The cid markers on FerretDB, None on MongoDB (asked of the store on first use)."""
        if not self._markers_known:
            self._markers = CidMarkers(self.db) if is_ferretdb(self.db) else None
            self._markers_known = True
        return self._markers

    def insert_notes(self, docs: Sequence[dict[str, Any]], now: datetime) -> list[int]:
        if not docs:
            return []
        if self.markers is not None:
            self.markers.mark_notes(docs)
        rows = [{**doc, "migrated_at": now} for doc in docs]
        try:
            self.notes.insert_many(rows, ordered=False)
        except BulkWriteError as exc:
            indexes, others = _duplicate_indexes(exc)
            if others:
                raise
            return [int(rows[i]["legacy_crm_note_id"]) for i in indexes]
        return []

    def find_notes(self, cid: int, legacy_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not legacy_ids:
            return {}
        if self.markers is not None and not self.markers.may_have_notes(cid, legacy_ids):
            return {}
        filt = {**migration_documents(cid), "legacy_crm_note_id": {"$in": list(legacy_ids)}}
        return {int(d["legacy_crm_note_id"]): d for d in self.notes.find(filt)}

    def replace_note(self, doc: dict[str, Any], expected_updated_at: datetime) -> bool:
        fields = {k: v for k, v in doc.items() if k not in ("_id", "migrated_at")}
        filt = {**migration_documents(int(doc["cid"])), "_id": doc["_id"], "updated_at": expected_updated_at}
        return self.notes.update_one(filt, {"$set": fields}).matched_count == 1

    def remove_note(self, cid: int, note_id: ObjectId, expected_updated_at: datetime) -> bool:
        filt = {**migration_documents(cid), "_id": note_id, "updated_at": expected_updated_at}
        return self.notes.delete_one(filt).deleted_count == 1

    def unpark(self, cid: int, ids: Sequence[ObjectId]) -> int:
        if not ids:
            return 0
        if self.markers is not None and not self.markers.may_have_parked(cid, ids):
            return 0
        return self.parked.delete_many({"cid": cid, "_id": {"$in": list(ids)}}).deleted_count

    def park(self, records: Sequence[dict[str, Any]], now: datetime) -> None:
        if not records:
            return
        if self.markers is not None:
            self.markers.mark_parked(records)
        rows = [{**r, "first_parked_at": now, "last_attempt_at": now, "attempts": 1} for r in records]
        try:
            self.parked.insert_many(rows, ordered=False)
            return
        except BulkWriteError as exc:
            indexes, others = _duplicate_indexes(exc)
            if others:
                raise
        updates = []
        for i in indexes:
            r = rows[i]
            changed = {k: v for k, v in r.items() if k not in ("_id", "first_parked_at", "attempts")}
            update = {"$set": changed, "$inc": {"attempts": 1}}
            # a whole (unescaped) note now: forget an earlier copy's marks
            gone = {k: "" for k in ("note_truncated", "note_escaped") if k not in r}
            if gone:
                update["$unset"] = gone
            updates.append(UpdateOne({"_id": r["_id"], "cid": r["cid"]}, update))
        for op in updates:  # FerretDB aborts a multi-update command at its first error
            self.parked.bulk_write([op], ordered=False)

    def iter_parked(self, cid: int, exclude_reasons: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
        """Parked records of the cid (any order), skipping the given reasons."""
        skip = set(exclude_reasons)
        for rec in self.parked.find({"cid": cid}):
            if rec.get("reason") not in skip:
                yield rec
