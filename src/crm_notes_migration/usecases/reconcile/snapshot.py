"""Where reconcile reads the CDP side of a cid: per-cid queries, or one pass spilled to disk.

FerretDB pushes `{"cid": X}` down to PostgreSQL as a jsonb containment (`@>`), which no
btree index serves: every per-cid query is a sequential scan of the whole collection
(measured: ~250 ms per cid on 18k notes, the same for ids-only projections). Reconciling
many cids that way costs cids × collection size. `StoreSnapshot` instead reads each
collection once (one unfiltered cursor, raw BSON, nothing decoded) into a local SQLite
file indexed by (collection, cid, note id); each cid's documents then come back as a
sorted stream from disk. Memory stays bounded (SQLite pages, one batch at a time); the
file lives in a temporary directory and is shared read-only by the worker processes.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING
from pymongo.database import Database

from crm_notes_migration.cdp.mongo import CONTACT_NOTES, PARKED

#: The projections reconcile reads (parked records without their copy of the note).
PROJECTIONS: dict[str, dict[str, int] | None] = {CONTACT_NOTES: None, PARKED: {"note": 0}}
#: From this many cids on, one pass per collection beats one query per cid.
SNAPSHOT_MIN_CIDS = 4
NO_ID = -1


def note_id_of(value: Any) -> int:
    """`legacy_crm_note_id` as an int, or NO_ID (sorts first; an in-scope note never has it)."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else NO_ID


class CidStores(Protocol):
    """The stored documents of one cid and collection, ascending by legacy note id."""

    def stream(self, collection: str, cid: int) -> Iterator[dict[str, Any]]: ...  # pragma: no cover


class LiveStores:
    """Per-cid queries (an equality filter FerretDB pushes down): best for a few cids."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def stream(self, collection: str, cid: int) -> Iterator[dict[str, Any]]:
        cursor = self.db[collection].find({"cid": cid}, PROJECTIONS[collection]).sort("legacy_crm_note_id", ASCENDING)
        return iter(cursor.batch_size(1000))

    def cids(self) -> set[int]:
        return {int(c) for name in PROJECTIONS for c in self.db[name].distinct("cid")}


class StoreSnapshot:
    """Both collections of the selected cids, read once each, sorted on local disk."""

    def __init__(self, path: Path, codec_options: CodecOptions) -> None:
        self.path = Path(path)
        self.codec_options = codec_options
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def build(cls, db: Database, path: Path, cids: Iterable[int] | None = None) -> StoreSnapshot:
        """Reads `contact_notes` and the parked collection once each into `path`
        (only the cids in `cids`, when given)."""
        wanted = None if cids is None else {int(c) for c in cids}
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("CREATE TABLE docs (coll TEXT, cid INTEGER, note_id INTEGER, seq INTEGER, doc BLOB)")
        raw = db.codec_options.with_options(document_class=RawBSONDocument)
        seq = 0
        for name, projection in PROJECTIONS.items():
            rows = []
            for doc in db[name].with_options(codec_options=raw).find({}, projection).batch_size(1000):
                cid = doc.get("cid")
                if not isinstance(cid, int) or (wanted is not None and int(cid) not in wanted):
                    continue
                seq += 1
                rows.append((name, int(cid), note_id_of(doc.get("legacy_crm_note_id")), seq, doc.raw))
                if len(rows) >= 1000:
                    conn.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?)", rows)
                    rows = []
            conn.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("CREATE INDEX docs_order ON docs (coll, cid, note_id, seq)")
        conn.commit()
        conn.close()
        return cls(path, db.codec_options)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        return self._conn

    def stream(self, collection: str, cid: int) -> Iterator[dict[str, Any]]:
        rows = self._connection().execute(
            "SELECT doc FROM docs WHERE coll = ? AND cid = ? ORDER BY note_id, seq", (collection, int(cid)))
        return (bson.decode(row[0], codec_options=self.codec_options) for row in rows)

    def cids(self) -> set[int]:
        return {row[0] for row in self._connection().execute("SELECT DISTINCT cid FROM docs")}

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
