"""Batch idempotency and `pending` bookkeeping, kept durably in `migration_batches`.

One record per `batch_id` (its `_id`): the cid, the sha256 of the canonical body, the
answer given, how many notes were accepted, and `status` queued → done. Inserting the
record with the deterministic `_id` first is the claim: a duplicate-key error means the
batch is someone else's (or ours, earlier), and the stored record decides the answer."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import orjson
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from .mongo import BATCHES

QUEUED = "queued"
DONE = "done"


def _may_hold_float(value: Any) -> bool:
    """Whether `value` may hold a float (or anything but dicts, lists, str, int, bool, None)."""
    kind = type(value)
    if kind is dict:
        for item in value.values():
            if _may_hold_float(item):
                return True
        return False
    if kind is list:
        for item in value:
            if _may_hold_float(item):
                return True
        return False
    return not (kind is str or kind is int or kind is bool or value is None)


def canonical_json(payload: Any) -> bytes:
    """`json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` in
    UTF-8. Written by orjson (several times faster) when that gives the same bytes: for
    dicts with str keys, lists, str, int, bool and None. Floats are left to the standard
    encoder (orjson writes `1e-07` as `1e-7` and NaN as null), and so is what orjson
    refuses: an integer over 64 bits, a lone surrogate, nesting over 254 levels."""
    try:
        plain = not _may_hold_float(payload)
    except RecursionError:
        plain = False
    if plain:
        try:
            return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            pass
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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

    def queued_notes(self, cid: int | None = None) -> int:
        """Accepted notes of batches still queued (of one cid, or of all)."""
        filt: dict[str, Any] = {"status": QUEUED}
        if cid is not None:
            filt["cid"] = cid
        return sum(int(r.get("accepted", 0)) for r in self.coll.find(filt, {"accepted": 1}))

    def queued_notes_by_cid(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for r in self.coll.find({"status": QUEUED}, {"cid": 1, "accepted": 1}):
            out[int(r["cid"])] = out.get(int(r["cid"]), 0) + int(r.get("accepted", 0))
        return out

    def cids(self) -> set[int]:
        return {int(c) for c in self.coll.distinct("cid")}
