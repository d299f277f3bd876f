"""What reconcile reads of the CDP: the asked cids' migration documents and parked records,
each cid's ascending by legacy note id, with filters that name those cids; and the
contacts and users that re-transforming a cid's source notes resolves against.

On MongoDB each cid is an index range (`{cid, legacy_crm_note_id}`, the identity index),
read as it is merged: nothing is held but a cursor's batch. FerretDB (SPEC §9) answers
every filter with a scan of its whole table, so one query per cid costs cids × collection
size; there, from SNAPSHOT_MIN_CIDS cids on, each collection is read once with a filter
naming all the asked cids (raw BSON, nothing decoded) into a local SQLite file indexed by
(collection, cid, note id), and each cid comes back from disk as a sorted stream. The
asked cids' contacts and users are spilled the same way: resolving each page of source
notes with a `contacts` and a `users` query is two scans per page on FerretDB, which made
reconcile grow with pages × table size; from the snapshot it is two indexed SQLite reads.
Either way memory does not grow with the data, and no other tenant's document is read
into it. The form is chosen here, from the store (`is_ferretdb`), never by the caller.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING
from pymongo.database import Database

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import Resolution

from .mongo import CONTACT_NOTES, CONTACTS, PARKED, USERS, is_ferretdb, migration_documents
from .resolve import CONTACT_FIELDS, USER_FIELDS, resolve_notes, resolve_rows

#: The projections reconcile reads (parked records without their copy of the note).
PROJECTIONS: dict[str, dict[str, int] | None] = {CONTACT_NOTES: None, PARKED: {"note": 0}}
#: On FerretDB, from this many cids on, one pass per collection beats one query per cid.
SNAPSHOT_MIN_CIDS = 4
NO_ID = -1
_ROWS = 1000
#: Source ids per SQLite lookup of contacts (under SQLite's limit of bound parameters).
_KEYS = 500


def note_id_of(value: Any) -> int:
    """`legacy_crm_note_id` as an int, or NO_ID (sorts first; an in-scope note never has it)."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else NO_ID


def scope_filter(collection: str, cids: int | Iterable[int]) -> dict[str, Any]:
    """The filter of what reconcile reads of `collection` for these cids: migration
    documents only in `contact_notes` (SPEC §3), every record in the parked collection
    (the migration's own)."""
    if collection == CONTACT_NOTES:
        return migration_documents(cids)
    return {"cid": cids if isinstance(cids, int) else {"$in": sorted({int(c) for c in cids})}}


class CidStores(Protocol):
    """The stored documents of one cid and collection, ascending by legacy note id; and
    the resolutions of a cid's notes (`cdp.resolve.resolve_notes`)."""

    def stream(self, collection: str, cid: int) -> Iterator[dict[str, Any]]: ...  # pragma: no cover

    def resolve(self, cid: int, notes: Sequence[NoteV1]) -> list[Resolution]: ...  # pragma: no cover


class IndexedStreams:
    """One query per cid and collection, sorted by legacy note id: an index range on MongoDB."""

    spec: str | None = None

    def __init__(self, db: Database) -> None:
        self.db = db

    def stream(self, collection: str, cid: int) -> Iterator[dict[str, Any]]:
        cursor = self.db[collection].find(scope_filter(collection, cid), PROJECTIONS[collection])
        return iter(cursor.sort("legacy_crm_note_id", ASCENDING).batch_size(_ROWS))

    def resolve(self, cid: int, notes: Sequence[NoteV1]) -> list[Resolution]:
        return resolve_notes(self.db, cid, notes)

    def close(self) -> None:
        pass


class SpilledSnapshot:
    """Both collections of the asked cids, and their contacts and users, read once each,
    indexed on local disk (FerretDB)."""

    def __init__(self, path: Path, codec_options: CodecOptions) -> None:
        self.path = Path(path)
        self.spec: str | None = str(self.path)
        self.codec_options = codec_options
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def build(cls, db: Database, path: Path, cids: Iterable[int]) -> SpilledSnapshot:
        """Reads each collection once, filtered on `cids`, into `path`."""
        wanted = sorted({int(c) for c in cids})
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("CREATE TABLE docs (coll TEXT, cid INTEGER, note_id INTEGER, seq INTEGER, doc BLOB)")
        # contacts: `source_id` only when a string (what `{"source_id": {"$in": [str, ...]}}` matches)
        conn.execute("CREATE TABLE contacts (cid INTEGER, source_id TEXT, doc BLOB)")
        conn.execute("CREATE TABLE users (cid INTEGER, doc BLOB)")
        raw = db.codec_options.with_options(document_class=RawBSONDocument)
        in_cids = {"cid": {"$in": wanted}}

        def spill(name: str, where: dict[str, Any], projection: Any, sql: str, row: Any) -> None:
            rows = []
            cursor = db[name].with_options(codec_options=raw).find(where, projection)
            for doc in cursor.batch_size(_ROWS):
                rows.append(row(doc))
                if len(rows) >= _ROWS:
                    conn.executemany(sql, rows)
                    rows = []
            conn.executemany(sql, rows)

        seq = iter(range(1, 2**62))
        for name, projection in PROJECTIONS.items():
            spill(
                name,
                scope_filter(name, wanted),
                projection,
                "INSERT INTO docs VALUES (?, ?, ?, ?, ?)",
                lambda doc, name=name: (
                    name,
                    int(doc["cid"]),
                    note_id_of(doc.get("legacy_crm_note_id")),
                    next(seq),
                    doc.raw,
                ),
            )
        spill(
            CONTACTS,
            in_cids,
            {**CONTACT_FIELDS, "cid": 1},
            "INSERT INTO contacts VALUES (?, ?, ?)",
            lambda doc: (int(doc["cid"]), _text_or_none(doc.get("source_id")), doc.raw),
        )
        spill(
            USERS,
            in_cids,
            {**USER_FIELDS, "cid": 1},
            "INSERT INTO users VALUES (?, ?)",
            lambda doc: (int(doc["cid"]), doc.raw),
        )
        conn.execute("CREATE INDEX docs_order ON docs (coll, cid, note_id, seq)")
        conn.execute("CREATE INDEX contacts_key ON contacts (cid, source_id)")
        conn.execute("CREATE INDEX users_cid ON users (cid)")
        conn.commit()
        conn.close()
        return cls(path, db.codec_options)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        return self._conn

    def stream(self, collection: str, cid: int) -> Iterator[dict[str, Any]]:
        rows = self._connection().execute(
            "SELECT doc FROM docs WHERE coll = ? AND cid = ? ORDER BY note_id, seq", (collection, int(cid))
        )
        return (bson.decode(row[0], codec_options=self.codec_options) for row in rows)

    def resolve(self, cid: int, notes: Sequence[NoteV1]) -> list[Resolution]:
        """`resolve_notes` of the cid, from the spilled contacts and users."""
        conn, cid = self._connection(), int(cid)

        def contacts(wanted: list[str]) -> Iterator[dict[str, Any]]:
            for at in range(0, len(wanted), _KEYS):
                keys = wanted[at : at + _KEYS]
                marks = ", ".join("?" * len(keys))
                sql = f"SELECT doc FROM contacts WHERE cid = ? AND source_id IN ({marks})"
                for row in conn.execute(sql, (cid, *keys)):
                    yield bson.decode(row[0], codec_options=self.codec_options)

        def users() -> Iterator[dict[str, Any]]:
            for row in conn.execute("SELECT doc FROM users WHERE cid = ?", (cid,)):
                yield bson.decode(row[0], codec_options=self.codec_options)

        return resolve_rows(notes, contacts, users)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


Streams = IndexedStreams | SpilledSnapshot


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def open_streams(db: Database, cids: Iterable[int], directory: Path) -> Streams:
    """The streams reconcile reads for `cids`: a snapshot in `directory` on FerretDB with
    SNAPSHOT_MIN_CIDS cids or more, else per-cid queries. `close()` it when done; its
    `spec` reopens it in another process (`reopen_streams`)."""
    cids = list(cids)
    if len(cids) >= SNAPSHOT_MIN_CIDS and is_ferretdb(db):
        return SpilledSnapshot.build(db, directory / "stores.sqlite", cids)
    return IndexedStreams(db)


def reopen_streams(db: Database, spec: str | None) -> Streams:
    """In another process, the streams that `open_streams` gave (by their `spec`)."""
    return SpilledSnapshot(Path(spec), db.codec_options) if spec else IndexedStreams(db)
