"""Batch idempotency and `pending` bookkeeping, kept durably in `migration_batches`.

One record per `batch_id` (its `_id`): the cid, the sha256 of the canonical body, the
answer given, how many notes were accepted, and `status` queued → done. Inserting the
record with the deterministic `_id` first is the claim: a duplicate-key error means the
batch is someone else's (or ours, earlier), and the stored record decides the answer."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from crm_notes_migration.canonical import canonical_json

from .mongo import BATCHES

QUEUED = "queued"
DONE = "done"
#: A batch whose job failed for good and was discarded (`failed-jobs --discard`): no
#: longer pending; sent again (the next `run` does), it is queued again.
DISCARDED = "discarded"


def canonical_sha256(payload: Any) -> str:
    """sha256 of the JSON body in canonical form (sorted keys, no spaces)."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


class BatchLedger:
    """The `migration_batches` collection."""

    def __init__(self, db: Database) -> None:
        self.coll = db[BATCHES]

    def get(self, batch_id: str) -> dict[str, Any] | None:
        return self.coll.find_one({"_id": batch_id})

    def claim(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """Insert the record; None when it was ours, else the record that was there."""
        try:
            self.coll.insert_one(record)
            return None
        except DuplicateKeyError:
            return self.get(record["_id"])

    def mark_done(self, batch_id: str, now: datetime) -> None:
        self.coll.update_one({"_id": batch_id, "status": QUEUED}, {"$set": {"status": DONE, "done_at": now}})

    def discard(self, batch_id: str, now: datetime) -> bool:
        """Mark a queued batch discarded (its notes are no longer pending); True if it was queued."""
        result = self.coll.update_one(
            {"_id": batch_id, "status": QUEUED}, {"$set": {"status": DISCARDED, "discarded_at": now}}
        )
        return result.modified_count == 1

    def revive(self, batch_id: str) -> bool:
        """Queue a discarded batch again; True for the one caller that did it."""
        result = self.coll.update_one(
            {"_id": batch_id, "status": DISCARDED}, {"$set": {"status": QUEUED}, "$unset": {"discarded_at": ""}}
        )
        return result.modified_count == 1

    def queued_notes(self, cid: int | None = None) -> int:
        """Accepted notes of batches still queued (of one cid, or of all)."""
        filt: dict[str, Any] = {"status": QUEUED}
        if cid is not None:
            filt["cid"] = cid
        return sum(int(r.get("accepted", 0)) for r in self.coll.find(filt, {"accepted": 1}))

    def queued_notes_by_cid(self, cids: list[int]) -> dict[int, int]:
        """Accepted notes of batches still queued, per cid of `cids`."""
        out: dict[int, int] = {}
        for r in self.coll.find({"status": QUEUED, "cid": {"$in": list(cids)}}, {"cid": 1, "accepted": 1}):
            out[int(r["cid"])] = out.get(int(r["cid"]), 0) + int(r.get("accepted", 0))
        return out

    def forget(self, cid: int, batch_id: str) -> None:
        """Delete a batch's record (a discarded failed job): the same batch sent again is new work."""
        self.coll.delete_one({"_id": batch_id, "cid": cid})

    def cids(self) -> set[int]:
        """Every cid the migration has received batches for."""
        return {int(c) for c in self.coll.distinct("cid")}
