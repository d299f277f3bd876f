"""Loads a generated seed: the CRM schema of SPEC §2 in PostgreSQL, contacts/users in MongoDB.

Streams: each chunk of the generator goes straight into three open binary COPYs (one
connection per table, written by psycopg's queue thread) and into a MongoDB writer thread,
so generation, COPY and inserts overlap and no whole-dataset list is ever held.

It writes only into databases seed made (guard.py): a CRM or CDP it did not create is
refused before anything is written.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from contextlib import ExitStack

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.copy import QueuedLibpqWriter

from crm_notes_devtools.seed.expectations import SeedExpectations
from crm_notes_devtools.seed.generator import generate
from crm_notes_devtools.seed.guard import SEED_CDP_FIX, SEED_CRM_FIX, check_cdp, check_crm, mark_cdp, mark_crm
from crm_notes_migration.config import Settings

#: MongoDB collections `seed` resets (INTERFACES.md): those it fills and those the migration writes.
FILLED_COLLECTIONS = ("contacts", "users", "contact_notes")
RESET_COLLECTIONS = ("contact_notes_migration_parked", "migration_batches", "migration_note_cids")
INSERT_BATCH = 1000

_TABLES = {
    "crm_users": (
        "id bigint NOT NULL, cid bigint NOT NULL, email text, full_name text",
        ("int8", "int8", "text", "text"),
    ),
    "crm_notes": (
        "id bigint NOT NULL, cid bigint NOT NULL, crm_person_id bigint, content text, "
        "created_by bigint, created_at timestamp without time zone NOT NULL, "
        "updated_at timestamp without time zone, deleted_at timestamp without time zone",
        ("int8", "int8", "int8", "text", "int8", "timestamp", "timestamp", "timestamp"),
    ),
    "crm_note_attachments": (
        "id bigint NOT NULL, note_id bigint NOT NULL, file_name text NOT NULL, "
        "file_url text NOT NULL, content_type text, file_size bigint, "
        "created_at timestamp without time zone NOT NULL",
        ("int8", "int8", "text", "text", "text", "int8", "timestamp"),
    ),
}
_AFTER_LOAD = (
    "ALTER TABLE crm_users ADD PRIMARY KEY (id)",
    "ALTER TABLE crm_notes ADD PRIMARY KEY (id)",
    "ALTER TABLE crm_note_attachments ADD PRIMARY KEY (id)",
    "ALTER TABLE crm_note_attachments ADD CONSTRAINT crm_note_attachments_note_id_fkey "
    "FOREIGN KEY (note_id) REFERENCES crm_notes(id)",
    "CREATE INDEX crm_notes_cid_id_idx ON crm_notes (cid, id)",
    "CREATE INDEX crm_note_attachments_note_id_idx ON crm_note_attachments (note_id)",
    "ANALYZE crm_users",
    "ANALYZE crm_notes",
    "ANALYZE crm_note_attachments",
)


def create_crm_schema(conn: psycopg.Connection) -> None:
    """Create SPEC §2's tables, keys and indexes on an empty CRM database (tests that
    write their own rows use this; `load_seed` adds the keys after its COPY instead)."""
    for table, (columns, _types) in _TABLES.items():
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(columns)))
    for statement in _AFTER_LOAD:
        conn.execute(statement)


def ensure_database(conninfo: str) -> None:
    """Create the database of `conninfo` when it does not exist yet."""
    params = conninfo_to_dict(conninfo)
    name = str(params.get("dbname") or "postgres")
    admin = make_conninfo(conninfo, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


class _MongoWriter(threading.Thread):
    """Inserts (collection, documents) items in unordered batches on its own thread."""

    def __init__(self, db) -> None:
        super().__init__(name="seed-mongo-writer", daemon=True)
        self.db = db
        self.items: queue.Queue = queue.Queue(maxsize=16)
        self.error: BaseException | None = None

    def run(self) -> None:
        while (item := self.items.get()) is not None:
            if self.error is not None:
                continue  # keep draining so the producer never blocks
            name, docs = item
            try:
                self.db[name].insert_many(docs, ordered=False)
            except BaseException as exc:  # re-raised on the caller's thread by finish()
                self.error = exc

    def finish(self) -> None:
        self.items.put(None)
        self.join()
        if self.error is not None:
            raise self.error


def _reset_mongo(db) -> None:
    for name in FILLED_COLLECTIONS + RESET_COLLECTIONS:
        db.drop_collection(name)


def load_seed(
    settings: Settings,
    notes: int,
    cids: int,
    seed: int,
    on_progress: Callable[[int], None] | None = None,
    crm_fix: str = SEED_CRM_FIX,
    cdp_fix: str = SEED_CDP_FIX,
) -> SeedExpectations:
    """Drop and reload the synthetic CRM and CDP contacts/users/CDP-authored notes; return
    what the migration must reach. Raises guard.ForeignDatabase, naming `crm_fix` or
    `cdp_fix` as the remedy, when either database holds data seed did not make.

    Example: `load_seed(Settings(), 21000, 130, 42).to_json()`.
    """
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(settings.cdp_mongodb_uri)
    try:
        db = client[settings.cdp_mongodb_db]
        check_cdp(db, cdp_fix)
        ensure_database(settings.crm_database_url)
        with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
            check_crm(conn, crm_fix)
            mark_crm(conn, seed, notes, cids)
        mark_cdp(db, seed, notes, cids)
        _reset_mongo(db)
        expectations = _load(settings.crm_database_url, db, notes, cids, seed, on_progress)
        db["contacts"].create_index([("cid", 1), ("source_id", 1)], name="cid_1_source_id_1")
        db["users"].create_index([("cid", 1), ("email", 1)], name="cid_1_email_1")
        return expectations
    finally:
        client.close()


def _load(conninfo: str, db, notes: int, cids: int, seed: int, on_progress) -> SeedExpectations:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS crm_note_attachments, crm_notes, crm_users CASCADE")
    expectations = SeedExpectations(seed, notes, cids)
    mongo = _MongoWriter(db)
    mongo.start()
    buffers: dict[str, list[dict]] = {name: [] for name in FILLED_COLLECTIONS}
    done = 0
    try:
        with ExitStack() as stack:
            copies = {}
            for table, (columns, types) in _TABLES.items():
                conn = stack.enter_context(psycopg.connect(conninfo))
                conn.execute("SET synchronous_commit = off")
                conn.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(columns)))
                cur = stack.enter_context(conn.cursor())
                stmt = sql.SQL("COPY {} FROM STDIN (FORMAT BINARY, FREEZE)").format(sql.Identifier(table))
                copy = stack.enter_context(cur.copy(stmt, writer=QueuedLibpqWriter(cur)))
                copy.set_types(types)
                copies[table] = copy
            for chunk in generate(notes, cids, seed):
                if mongo.error is not None:
                    break  # finish() below raises it
                for table, rows in (
                    ("crm_users", chunk.crm_users),
                    ("crm_notes", chunk.notes),
                    ("crm_note_attachments", chunk.attachments),
                ):
                    write = copies[table].write_row
                    for row in rows:
                        write(row)
                for name, docs in (
                    ("contacts", chunk.contacts),
                    ("users", chunk.users),
                    ("contact_notes", chunk.cdp_notes),
                ):
                    buf = buffers[name]
                    buf.extend(docs)
                    while len(buf) >= INSERT_BATCH:
                        mongo.items.put((name, buf[:INSERT_BATCH]))
                        del buf[:INSERT_BATCH]
                expectations.add(chunk)
                if chunk.notes and on_progress is not None:
                    done += len(chunk.notes)
                    on_progress(done)
        # leaving the stack ended every COPY and committed every connection
        for name, buf in buffers.items():
            if buf:
                mongo.items.put((name, buf))
    finally:
        mongo.finish()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in _AFTER_LOAD:
            conn.execute(statement)
    return expectations
