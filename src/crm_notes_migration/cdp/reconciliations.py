"""The last reconcile verdict of each cid, kept in the CDP for `status` (SPEC §8).

One record per cid in `migration_reconciliations`: `{_id: cid, cid, ok, status, at,
report, samples, summary, report_id, sample_ids, fingerprint}`: whether the cid reconciled
clean, reconcile's status word (`ok`, `warn`, `fail`), when, the QA report it went into
(its path, or None), how many of its notes were sampled into that report, the ledger's
counts, and of the last reconcile that wrote a report: that report's id, the legacy ids
of the cid's samples in it, and the fingerprint (`signoffs.Fingerprint`) of the cid's
migration documents as that reconcile read them, which `signoff` checks. Written by `reconcile`
after each pass, removed by a rollback of the cid. Every query names its cids.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import Int64
from pymongo.database import Database

from .mongo import put_per_cid

RECONCILIATIONS = "migration_reconciliations"
#: What a record keeps of the last reconcile that wrote a QA report.
REVIEWED_FIELDS = ("report_id", "sample_ids", "fingerprint")


class ReconciliationLog:
    """The `migration_reconciliations` collection."""

    def __init__(self, db: Database) -> None:
        self.coll = db[RECONCILIATIONS]

    def record(
        self,
        cid: int,
        *,
        ok: bool,
        status: str,
        at: datetime,
        report: str | None,
        samples: int,
        summary: dict[str, Any],
        reviewed: dict[str, Any] | None = None,
    ) -> None:
        """Replace the cid's verdict.

        `reviewed` (`report_id`, `sample_ids`, `fingerprint`) is given when this reconcile
        wrote a report; without it the last report's fields are kept."""
        if reviewed is None:
            before = self.coll.find_one({"_id": Int64(cid), "cid": Int64(cid)}) or {}
            reviewed = {k: before.get(k) for k in REVIEWED_FIELDS}
        doc = {
            "_id": Int64(cid),
            "cid": Int64(cid),
            "ok": ok,
            "status": status,
            "at": at,
            "report": report,
            "samples": samples,
            "summary": summary,
            **{k: reviewed.get(k) for k in REVIEWED_FIELDS},
        }
        put_per_cid(self.coll, cid, doc)

    def latest(self, cids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The recorded verdicts of these cids, by cid (a cid never reconciled is absent)."""
        out: dict[int, dict[str, Any]] = {}
        for cid in cids:
            rec = self.coll.find_one({"_id": Int64(cid), "cid": Int64(cid)})
            if rec is not None:
                out[int(cid)] = rec
        return out

    def forget(self, cid: int) -> None:
        self.coll.delete_one({"_id": Int64(cid), "cid": Int64(cid)})
