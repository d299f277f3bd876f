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


class Fingerprint:
    """The order-free digest of one cid's migration documents, fed a document at a time
    (a sum of per-document hashes: memory stays one number). `migration_fingerprints` reads
    it from the store; reconcile takes it from the documents it compares, in the same pass."""

    __slots__ = ("count", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0

    def add(self, doc: Mapping[str, Any]) -> None:
        migration = doc.get("migration") or {}
        parts = [repr(doc.get(name)) for name in _FINGERPRINT_FIELDS]
        parts += [str(migration.get("content_sha256")), str(migration.get("source_sha256"))]
        digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
        self.total = (self.total + int.from_bytes(digest, "big")) % _MODULUS
        self.count += 1

    def value(self) -> str:
        return f"{self.count}:{self.total:064x}"


def migration_fingerprints(db: Database[Any], cids: Iterable[int]) -> dict[int, str]:
    """Per cid, the `Fingerprint` of its migration documents (ids, content and source
    hashes, contact, times, author): any landing, update or withdrawal changes it. One
    query for all the cids."""
    wanted = sorted({int(c) for c in cids})
    found = {cid: Fingerprint() for cid in wanted}
    if not wanted:
        return {}
    projection = {name: 1 for name in (*_FINGERPRINT_FIELDS, "cid", "migration")}
    for doc in db[CONTACT_NOTES].find(migration_documents(wanted), projection).batch_size(1000):
        fingerprint = found.get(int(doc["cid"]))
        if fingerprint is not None:
            fingerprint.add(doc)
    return {cid: fingerprint.value() for cid, fingerprint in found.items()}
