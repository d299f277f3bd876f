"""The count endpoint's figures (SPEC §4): migrated, parked by reason, pending, per cid."""
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


def all_cids(db: Database) -> list[int]:
    """Every cid seen in contact_notes, the parked collection or the batch ledger."""
    cids = {int(c) for c in db[CONTACT_NOTES].distinct("cid")}
    cids |= {int(c) for c in db[PARKED].distinct("cid")}
    cids |= BatchLedger(db).cids()
    return sorted(cids)


def counts(db: Database, cid: int | None = None) -> dict[str, Any]:
    """One cid's counts, or `{"cids": [...]}` for every cid."""
    if cid is not None:
        return counts_for_cid(db, cid)
    return {"cids": [counts_for_cid(db, c) for c in all_cids(db)]}
