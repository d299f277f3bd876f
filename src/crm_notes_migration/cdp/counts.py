"""The count endpoint's figures (SPEC §4): migrated, parked by reason, pending, per cid.

One cid: equality-on-cid queries (pushed down by FerretDB). Every cid: one pass over
each collection (`$group` by cid; FerretDB has `$sum`), not a `distinct` plus a count
per cid."""
from __future__ import annotations

from typing import Any

from pymongo.database import Database

from .batches import BatchLedger
from .mongo import CONTACT_NOTES, PARKED


def _parked_by_reason(db: Database, cid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in db[PARKED].find({"cid": cid}, {"reason": 1}):
        out[rec.get("reason", "")] = out.get(rec.get("reason", ""), 0) + 1
    return out


def counts_for_cid(db: Database, cid: int) -> dict[str, Any]:
    """`{"cid", "migrated", "parked": {reason: n}, "pending"}` for one cid."""
    return {
        "cid": cid,
        "migrated": db[CONTACT_NOTES].count_documents({"cid": cid}),
        "parked": _parked_by_reason(db, cid),
        "pending": BatchLedger(db).queued_notes(cid),
    }


def counts_for_all(db: Database) -> list[dict[str, Any]]:
    """`counts_for_cid` of every cid seen in contact_notes, the parked collection or the
    batch ledger, ascending by cid, in three passes (one per collection)."""
    migrated = {int(r["_id"]): int(r["n"]) for r in
                db[CONTACT_NOTES].aggregate([{"$group": {"_id": "$cid", "n": {"$sum": 1}}}])}
    parked: dict[int, dict[str, int]] = {}
    for r in db[PARKED].aggregate([{"$group": {"_id": {"cid": "$cid", "reason": "$reason"}, "n": {"$sum": 1}}}]):
        key = r["_id"]
        parked.setdefault(int(key["cid"]), {})[key.get("reason", "")] = int(r["n"])
    ledger = BatchLedger(db)
    pending = ledger.queued_notes_by_cid()
    cids = set(migrated) | set(parked) | ledger.cids()
    return [{"cid": c, "migrated": migrated.get(c, 0), "parked": parked.get(c, {}), "pending": pending.get(c, 0)}
            for c in sorted(cids)]


def counts(db: Database, cid: int | None = None) -> dict[str, Any]:
    """One cid's counts, or `{"cids": [...]}` for every cid."""
    if cid is not None:
        return counts_for_cid(db, cid)
    return {"cids": counts_for_all(db)}
