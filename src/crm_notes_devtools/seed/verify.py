"""Are the seed's CDP-authored notes still byte-identical after a migration ran?

Reads them back by `_id`, with a filter naming their cids, and compares each note's BSON
with the one seed wrote (expectations.cdp_authored). A note changed, deleted or given
migration fields is not untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bson import Int64, ObjectId

from crm_notes_devtools.seed.cdp_notes import note_sha256, notes_digest
from crm_notes_devtools.seed.expectations import SeedExpectations

#: `_id`s per query: bounds the size of one `$in`.
IDS_PER_QUERY = 5000


@dataclass(frozen=True, slots=True)
class CdpAuthoredCheck:
    """How many of the seed's CDP-authored notes are as seed wrote them, and their digest now."""

    untouched: int
    expected: int
    sha256: str

    @property
    def ok(self) -> bool:
        return self.untouched == self.expected


def check_cdp_authored(db: Any, expectations: SeedExpectations) -> CdpAuthoredCheck:
    """Compare the CDP-authored notes in `db.contact_notes` with what seed wrote."""
    expected = expectations.cdp_authored
    found: dict[ObjectId, bytes] = {}
    cids = [Int64(cid) for cid in sorted(expectations.cdp_authored_per_cid)]
    for ids in _slices(sorted(expected), IDS_PER_QUERY):
        for doc in db["contact_notes"].find({"cid": {"$in": cids}, "_id": {"$in": ids}}):
            found[doc["_id"]] = note_sha256(doc)
    untouched = sum(found.get(oid) == digest for oid, digest in expected.items())
    return CdpAuthoredCheck(untouched, len(expected), notes_digest(found.items()))


def _slices(items: list[ObjectId], size: int) -> Iterator[list[ObjectId]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
