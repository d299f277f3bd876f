"""The count endpoint's figures (SPEC §4): migrated, parked by reason, pending, per cid.

One cid: equality-on-cid queries (pushed down by FerretDB). Every cid: one streamed pass
over each collection reading only `cid` (and `reason`), counted here: not a `distinct`
plus a count per cid (on FerretDB each filtered query scans the whole collection), and
not a `$group` (FerretDB 1.24 holds every document of the collection in memory for it:
at 210k notes that took minutes and gigabytes, and the client's retries piled more on).

`pending` is read first, then the collections: a batch is marked done only after its notes
are written, so "nothing pending" read first means every note of it is in the figures
read after. Read last, a batch finishing in between showed as done with its notes not yet
counted, and `run`, which stops waiting at "nothing pending", reported them missing."""
from __future__ import annotations

from typing import Any

from pymongo.database import Database

from ..transform.note import SOURCE
from .batches import QUEUED, BatchLedger
from .mongo import BATCHES, CONTACT_NOTES, PARKED

#: Documents per reply of the counting passes (each reply holds only `cid` and `reason`).
PASS_BATCH = 10_000


def _parked_by_reason(db: Database, cid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in db[PARKED].find({"cid": cid}, {"reason": 1}):
        out[rec.get("reason", "")] = out.get(rec.get("reason", ""), 0) + 1
    return out


def counts_for_cid(db: Database, cid: int) -> dict[str, Any]:
    """`{"cid", "migrated", "parked": {reason: n}, "pending"}` for one cid (pending first)."""
    pending = BatchLedger(db).queued_notes(cid)
    return {
        "cid": cid,
        "migrated": db[CONTACT_NOTES].count_documents({"cid": cid, "source": SOURCE}),  # migration documents only
        "parked": _parked_by_reason(db, cid),
        "pending": pending,
    }


def counts_for_all(db: Database) -> list[dict[str, Any]]:
    """`counts_for_cid` of every cid seen in contact_notes, the parked collection or the
    batch ledger, ascending by cid, in three passes (one per collection; the ledger first)."""
    ledger = BatchLedger(db)
    seen = ledger.cids()  # before `pending`: a batch claimed in between is in `pending`
    pending = ledger.queued_notes_by_cid()
    migrated: dict[int, int] = {}
    for r in db[CONTACT_NOTES].find({}, {"_id": 0, "cid": 1}, batch_size=PASS_BATCH):
        cid = int(r["cid"])
        migrated[cid] = migrated.get(cid, 0) + 1
    parked: dict[int, dict[str, int]] = {}
    for r in db[PARKED].find({}, {"_id": 0, "cid": 1, "reason": 1}, batch_size=PASS_BATCH):
        by_reason, reason = parked.setdefault(int(r["cid"]), {}), r.get("reason", "")
        by_reason[reason] = by_reason.get(reason, 0) + 1
    cids = set(migrated) | set(parked) | seen | set(pending)
    return [{"cid": c, "migrated": migrated.get(c, 0), "parked": parked.get(c, {}), "pending": pending.get(c, 0)}
            for c in sorted(cids)]


def counts(db: Database, cid: int | None = None) -> dict[str, Any]:
    """One cid's counts, or `{"cids": [...]}` for every cid."""
    if cid is not None:
        return counts_for_cid(db, cid)
    return {"cids": counts_for_all(db)}


def counts_for_cids(db: Database, cids: list[int]) -> dict[int, dict[str, Any]]:
    """`counts_for_cid` of each of `cids`, by cid, in one pass per collection (pending
    first, as there): every query names the cids (`$in`), and reads only `cid` (and
    `reason`). On FerretDB each filtered query scans the whole collection, so a view of
    many cids costs three scans instead of three per cid."""
    wanted = sorted({int(c) for c in cids})
    out = {c: {"cid": c, "migrated": 0, "parked": {}, "pending": 0} for c in wanted}
    if not wanted:
        return out
    for r in db[BATCHES].find({"cid": {"$in": wanted}, "status": QUEUED}, {"_id": 0, "cid": 1, "accepted": 1}):
        out[int(r["cid"])]["pending"] += int(r.get("accepted", 0))
    notes = db[CONTACT_NOTES].find({"cid": {"$in": wanted}, "source": SOURCE}, {"_id": 0, "cid": 1},
                                   batch_size=PASS_BATCH)
    for r in notes:
        out[int(r["cid"])]["migrated"] += 1
    for r in db[PARKED].find({"cid": {"$in": wanted}}, {"_id": 0, "cid": 1, "reason": 1}, batch_size=PASS_BATCH):
        by_reason, reason = out[int(r["cid"])]["parked"], r.get("reason", "")
        by_reason[reason] = by_reason.get(reason, 0) + 1
    return out
