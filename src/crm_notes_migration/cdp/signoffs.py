"""The recorded QA sign-off of each cid, and the fingerprint that tells whether a cid's
migration documents changed since the report that was reviewed.

`migration_signoffs` holds one record per cid: `{_id: cid, cid, report_id, reviewer, at,
verdicts: {"<legacy id>": {verdict, comment, reviewed_at}}}`, written by `signoff` and
removed by a rollback of the cid. Every query names its cids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bson import Int64
from pymongo.database import Database

from .mongo import CONTACT_NOTES, migration_documents, put_per_cid

SIGNOFFS = "migration_signoffs"
#: Fields of a migration document that a reviewer's verdict depends on.
_FINGERPRINT_FIELDS = ("legacy_crm_note_id", "contact_id", "updated_at", "created_by")
_MODULUS = 2**256


class SignoffLog:
    """The `migration_signoffs` collection."""

    def __init__(self, db: Database[Any]) -> None:
        self.coll = db[SIGNOFFS]

    def record(
        self,
        cid: int,
        *,
        report_id: str,
        reviewer: str,
        at: datetime,
        verdicts: Mapping[int, Mapping[str, str]],
    ) -> None:
        """Replace the cid's sign-off."""
        doc = {
            "_id": Int64(cid),
            "cid": Int64(cid),
            "report_id": report_id,
            "reviewer": reviewer,
            "at": at,
            "verdicts": {str(k): dict(v) for k, v in verdicts.items()},
        }
        put_per_cid(self.coll, cid, doc)

    def latest(self, cids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The recorded sign-offs of these cids, by cid (a cid never signed off is absent)."""
        wanted = sorted({int(c) for c in cids})
        if not wanted:
            return {}
        return {int(r["cid"]): r for r in self.coll.find({"cid": {"$in": wanted}})}

    def forget(self, cid: int) -> None:
        self.coll.delete_one({"_id": Int64(cid), "cid": Int64(cid)})


def migration_fingerprints(db: Database[Any], cids: Iterable[int]) -> dict[int, str]:
    """Per cid, a digest of its migration documents (ids, content and source hashes,
    contact, times, author): any landing, update or withdrawal changes it. One query for
    all the cids; the digest is order-free (a sum of per-document hashes), so memory stays
    one number per cid."""
    wanted = sorted({int(c) for c in cids})
    sums = dict.fromkeys(wanted, 0)
    counts = dict.fromkeys(wanted, 0)
    if not wanted:
        return {}
    projection = {name: 1 for name in (*_FINGERPRINT_FIELDS, "cid", "migration")}
    for doc in db[CONTACT_NOTES].find(migration_documents(wanted), projection).batch_size(1000):
        cid = int(doc["cid"])
        if cid not in sums:
            continue
        migration = doc.get("migration") or {}
        parts = [repr(doc.get(name)) for name in _FINGERPRINT_FIELDS]
        parts += [str(migration.get("content_sha256")), str(migration.get("source_sha256"))]
        digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
        sums[cid] = (sums[cid] + int.from_bytes(digest, "big")) % _MODULUS
        counts[cid] += 1
    return {cid: f"{counts[cid]}:{sums[cid]:064x}" for cid in wanted}
