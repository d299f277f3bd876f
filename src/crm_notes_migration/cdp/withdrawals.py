"""`WithdrawalStore` on pymongo: the reads and deletes of withdrawing (usecases/withdraw.py).

Every `contact_notes` query names the cid and `source: "crm_migration"`: a CDP-authored
note (no `source`, no `legacy_crm_note_id`) can never match, whatever ids are asked for.
Within FerretDB's subset (SPEC §9): equality on `cid` first, `$in`/`$gt`/`$or` after.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database

from crm_notes_migration.transform.note import SOURCE

from .batches import BatchLedger
from .mongo import BATCHES, CONTACT_NOTES, PARKED
from .reconciliations import ReconciliationLog
from .signoffs import SignoffLog

#: Ids per `$in` / `$or` of one query.
CHUNK = 500
#: The fields withdrawing needs to decide about a document.
_FIELDS = {
    "_id": 1,
    "cid": 1,
    "legacy_crm_note_id": 1,
    "updated_at": 1,
    "deleted_at": 1,
    "migration.legacy_updated_at": 1,
}


def _chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class MongoWithdrawalStore:
    """The cid's migration documents, parked records and batch records on a pymongo database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.notes = db[CONTACT_NOTES]
        self.parked = db[PARKED]
        self.batches = db[BATCHES]

    def _migration(self, cid: int) -> dict[str, Any]:
        return {"cid": cid, "source": SOURCE}

    def pending_notes(self, cid: int) -> int:
        return BatchLedger(self.db).queued_notes(cid)

    def documents(self, cid: int, legacy_ids: Sequence[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for part in _chunks(sorted(set(legacy_ids))):
            filt = {**self._migration(cid), "legacy_crm_note_id": {"$in": list(part)}}
            out.extend(self.notes.find(filt, _FIELDS))
        return out

    def documents_after(self, cid: int, after: int, limit: int) -> list[dict[str, Any]]:
        filt = {**self._migration(cid), "legacy_crm_note_id": {"$gt": after}}
        return list(self.notes.find(filt, _FIELDS).sort("legacy_crm_note_id", ASCENDING).limit(limit))

    def delete_documents(self, cid: int, docs: Sequence[dict[str, Any]], unless_changed: bool) -> set[int]:
        wanted = {int(d["legacy_crm_note_id"]) for d in docs}
        gone = 0
        for part in _chunks(list(docs)):
            if unless_changed:
                alternatives = [{"_id": d["_id"], "updated_at": d.get("updated_at"), "deleted_at": None} for d in part]
                filt = {**self._migration(cid), "$or": alternatives}
            else:
                filt = {**self._migration(cid), "_id": {"$in": [d["_id"] for d in part]}}
            gone += self.notes.delete_many(filt).deleted_count
        if gone == len(wanted):
            return wanted
        still = {int(d["legacy_crm_note_id"]) for d in self.documents(cid, sorted(wanted))}
        return wanted - still

    def parked_ids(self, cid: int, legacy_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for part in _chunks(sorted(set(legacy_ids))):
            filt = {"cid": cid, "legacy_crm_note_id": {"$in": list(part)}}
            found.update(int(r["legacy_crm_note_id"]) for r in self.parked.find(filt, {"legacy_crm_note_id": 1}))
        return found

    def unpark(self, cid: int, legacy_ids: Sequence[int]) -> int:
        gone = 0
        for part in _chunks(sorted(set(legacy_ids))):
            gone += self.parked.delete_many({"cid": cid, "legacy_crm_note_id": {"$in": list(part)}}).deleted_count
        return gone

    def count_parked(self, cid: int) -> int:
        return self.parked.count_documents({"cid": cid})

    def unpark_all(self, cid: int) -> int:
        return self.parked.delete_many({"cid": cid}).deleted_count

    def delete_batches(self, cid: int) -> int:
        return self.batches.delete_many({"cid": cid}).deleted_count

    def forget_verdict(self, cid: int) -> None:
        """The cid's last reconcile verdict and its sign-off: a rollback starts its review over."""
        ReconciliationLog(self.db).forget(cid)
        SignoffLog(self.db).forget(cid)

    def legacy_ids_after(self, cid: int, after: int, limit: int) -> list[int]:
        """The legacy ids of the cid that the migration holds, as a migration document or a
        parked record, above `after`, ascending, at most `limit`: one page of the sorted
        stream `run` merges against the CRM's in-scope ids to find notes that left scope."""
        docs = self.notes.find(
            {**self._migration(cid), "legacy_crm_note_id": {"$gt": after}}, {"_id": 0, "legacy_crm_note_id": 1}
        )
        parked = self.parked.find(
            {"cid": cid, "legacy_crm_note_id": {"$gt": after}}, {"_id": 0, "legacy_crm_note_id": 1}
        )
        ids: set[int] = set()
        for cursor in (docs, parked):
            ids.update(int(r["legacy_crm_note_id"]) for r in cursor.sort("legacy_crm_note_id", ASCENDING).limit(limit))
        return sorted(ids)[:limit]
