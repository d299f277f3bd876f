"""The count endpoint's figures against a batch that finishes while they are being read
(real FerretDB): "nothing pending" must never come with that batch's notes uncounted,
since `run` stops waiting at "nothing pending" and reports what the counts say.

The worker writes a batch's notes, then marks it done. Here the batch finishes right
after the figures' first read of a collection, the moment where the two used to cross."""

from __future__ import annotations

from datetime import UTC, datetime

import pymongo
import pytest
from bson import Int64
from pymongo.collection import Collection

from crm_notes_migration.cdp.batches import QUEUED, BatchLedger
from crm_notes_migration.cdp.counts import counts_for_all, counts_for_cid
from crm_notes_migration.cdp.mongo import CONTACT_NOTES, ensure_indexes
from crm_notes_migration.transform import note_object_id

CID = 7
NOTES = 3


@pytest.fixture
def db(isolated_settings):
    database = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri)[isolated_settings.cdp_mongodb_db]
    ensure_indexes(database)
    BatchLedger(database).claim({"_id": "b1", "cid": CID, "accepted": NOTES, "status": QUEUED})
    return database


def _finish_the_batch(db) -> None:
    """What the worker does for the batch: its notes, then the ledger says done."""
    db[CONTACT_NOTES].insert_many(
        [
            {
                "_id": note_object_id(CID, lid),
                "cid": Int64(CID),
                "legacy_crm_note_id": Int64(lid),
                "source": "crm_migration",
            }
            for lid in range(1, NOTES + 1)
        ]
    )
    BatchLedger(db).mark_done("b1", datetime.now(UTC))


def _finish_after_first_read_of(monkeypatch, db, method: str, collection: str) -> list[bool]:
    """Make the batch finish just after `collection`'s first `method` call returns."""
    done: list[bool] = []
    real = getattr(Collection, method)

    def read_then_finish(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        if self.name == collection and not done:
            if method == "find":
                result = list(result)  # the read happens now, not when iterated later
            done.append(True)
            _finish_the_batch(db)
        return result

    monkeypatch.setattr(Collection, method, read_then_finish)
    return done


def _consistent(figures: dict) -> bool:
    return figures["pending"] > 0 or figures["migrated"] == NOTES


def test_one_cid_never_shows_a_finished_batch_without_its_notes(db, monkeypatch):
    done = _finish_after_first_read_of(monkeypatch, db, "count_documents", CONTACT_NOTES)
    figures = counts_for_cid(db, CID)
    assert done, "the batch did not finish during the read"
    assert _consistent(figures), figures
    assert counts_for_cid(db, CID) == {"cid": CID, "migrated": NOTES, "parked": {}, "pending": 0}


def test_every_cid_never_shows_a_finished_batch_without_its_notes(db, monkeypatch):
    done = _finish_after_first_read_of(monkeypatch, db, "find", CONTACT_NOTES)
    figures = {f["cid"]: f for f in counts_for_all(db)}
    assert done, "the batch did not finish during the read"
    assert _consistent(figures[CID]), figures
    assert {f["cid"]: f for f in counts_for_all(db)}[CID] == {"cid": CID, "migrated": NOTES, "parked": {}, "pending": 0}
