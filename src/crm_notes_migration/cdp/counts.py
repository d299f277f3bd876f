"""The count endpoint's figures (SPEC §4): migrated, parked by reason, pending, per cid.

`contact_notes` is shared (SPEC §3): `migrated` counts migration documents only, and every
query names the cids it counts. "Every cid" is the cids the migration has received batches
for (its own `migration_batches`), never a read of `contact_notes` as a whole.

One cid: equality-on-cid queries. Several cids: on MongoDB one indexed count per cid; on
FerretDB, which scans its whole table on every filter, one streamed pass over each
collection with a filter naming all of them, reading only `cid` (and `reason`), counted
here: not a count per cid (cids × collection size), and not a `$group` (FerretDB 1.24
holds every document of the collection in memory for it).

`pending` is read first, then the collections: a batch is marked done only after its notes
are written, so "nothing pending" read first means every note of it is in the figures
read after. Read last, a batch finishing in between showed as done with its notes not yet
counted, and `run`, which stops waiting at "nothing pending", reported them missing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pymongo.database import Database

from .batches import BatchLedger
from .mongo import CONTACT_NOTES, PARKED, is_ferretdb, migration_documents

#: Documents per reply of the counting passes (each reply holds only `cid` and `reason`).
PASS_BATCH = 10_000


def _parked_by_reason(db: Database, cid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in db[PARKED].find({"cid": cid}, {"_id": 0, "reason": 1}):
        out[rec.get("reason", "")] = out.get(rec.get("reason", ""), 0) + 1
    return out


def counts_for_cid(db: Database, cid: int) -> dict[str, Any]:
    """`{"cid", "migrated", "parked": {reason: n}, "pending"}` for one cid (pending first)."""
    pending = BatchLedger(db).queued_notes(cid)
    return {
        "cid": cid,
        "migrated": db[CONTACT_NOTES].count_documents(migration_documents(cid)),
        "parked": _parked_by_reason(db, cid),
        "pending": pending,
    }


def _one_pass(db: Database, cids: list[int]) -> tuple[dict[int, int], dict[int, dict[str, int]]]:
    """(migrated, parked by reason) per cid, in one filtered pass over each collection."""
    migrated: dict[int, int] = {}
    for r in db[CONTACT_NOTES].find(migration_documents(cids), {"_id": 0, "cid": 1}, batch_size=PASS_BATCH):
        migrated[int(r["cid"])] = migrated.get(int(r["cid"]), 0) + 1
    parked: dict[int, dict[str, int]] = {}
    for r in db[PARKED].find({"cid": {"$in": cids}}, {"_id": 0, "cid": 1, "reason": 1}, batch_size=PASS_BATCH):
        by_reason, reason = parked.setdefault(int(r["cid"]), {}), r.get("reason", "")
        by_reason[reason] = by_reason.get(reason, 0) + 1
    return migrated, parked


def counts_for_cids(db: Database, cids: Iterable[int]) -> list[dict[str, Any]]:
    """`counts_for_cid` of each of `cids`, ascending by cid (pending first)."""
    wanted = sorted({int(c) for c in cids})
    if not wanted:
        return []
    pending = BatchLedger(db).queued_notes_by_cid(wanted)
    if is_ferretdb(db):
        migrated, parked = _one_pass(db, wanted)
    else:
        migrated = {c: db[CONTACT_NOTES].count_documents(migration_documents(c)) for c in wanted}
        parked = {c: _parked_by_reason(db, c) for c in wanted}
    return [
        {"cid": c, "migrated": migrated.get(c, 0), "parked": parked.get(c, {}), "pending": pending.get(c, 0)}
        for c in wanted
    ]


def counts_for_all(db: Database) -> list[dict[str, Any]]:
    """`counts_for_cids` of every cid the migration has received batches for."""
    return counts_for_cids(db, BatchLedger(db).cids())


def counts(db: Database, cid: int | Iterable[int] | None = None) -> dict[str, Any]:
    """One cid's counts; `{"cids": [...]}` for several cids, or for every cid (None)."""
    if isinstance(cid, int):
        return counts_for_cid(db, cid)
    return {"cids": counts_for_all(db) if cid is None else counts_for_cids(db, cid)}
