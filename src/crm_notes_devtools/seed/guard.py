"""`seed` and `demo` write only into databases they made (SPEC §8).

A database seed made carries a marker: the table `crm_notes_seed_fixture` in the CRM
database, the collection `seed_fixture` (one document) in the CDP database. A database
that holds a CRM (`crm_users`, `crm_notes`, `crm_note_attachments`) or CDP collections
(`contacts`, `users`, `contact_notes`) without that marker belongs to someone else: seed
refuses it before writing anything anywhere. An empty database is claimed (marked) first.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

CRM_MARKER_TABLE = "crm_notes_seed_fixture"
CRM_TABLES = ("crm_users", "crm_notes", "crm_note_attachments")
CDP_MARKER_COLLECTION = "seed_fixture"
CDP_MARKER_ID = "crm-notes-migrate seed"
CDP_COLLECTIONS = ("contacts", "users", "contact_notes")
#: What a refused `seed` tells the user to do.
SEED_CRM_FIX = "set CRM_DATABASE_URL to an empty database or to one seed made"
SEED_CDP_FIX = "set CDP_MONGODB_URI / CDP_MONGODB_DB to an empty database or to one seed made"


class ForeignDatabase(RuntimeError):
    """A database seed did not make holds a CRM or a CDP: one line saying which and what to set."""


def crm_database_name(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    return str(row[0]) if row else "?"


def check_crm(conn: psycopg.Connection, fix: str = SEED_CRM_FIX) -> None:
    """Raise ForeignDatabase when the CRM database holds CRM tables but no seed marker."""
    found = [t for t in CRM_TABLES if _table_exists(conn, t)]
    if found and not _table_exists(conn, CRM_MARKER_TABLE):
        raise ForeignDatabase(
            f"refusing to seed: CRM database {crm_database_name(conn)!r} holds {', '.join(found)} that seed "
            f"did not create (no {CRM_MARKER_TABLE} table); it is left as it is: {fix}"
        )


def check_cdp(db: Any, fix: str = SEED_CDP_FIX) -> None:
    """Raise ForeignDatabase when the CDP database holds CDP collections but no seed marker."""
    names = set(db.list_collection_names())
    found = [c for c in CDP_COLLECTIONS if c in names]
    if found and db[CDP_MARKER_COLLECTION].find_one({"_id": CDP_MARKER_ID}) is None:
        raise ForeignDatabase(
            f"refusing to seed: CDP database {db.name!r} holds {', '.join(found)} that seed did not create "
            f"(no {CDP_MARKER_COLLECTION} collection); it is left as it is: {fix}"
        )


def mark_crm(conn: psycopg.Connection, seed: int, notes: int, cids: int) -> None:
    """Claim the CRM database for seed: its marker table, with the seed's parameters."""
    table = sql.Identifier(CRM_MARKER_TABLE)
    conn.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (made_by text NOT NULL, seed bigint, notes bigint, cids bigint)").format(
            table
        )
    )
    conn.execute(sql.SQL("DELETE FROM {}").format(table))
    conn.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(table), (CDP_MARKER_ID, seed, notes, cids))


def mark_cdp(db: Any, seed: int, notes: int, cids: int) -> None:
    """Claim the CDP database for seed: its marker document."""
    db[CDP_MARKER_COLLECTION].replace_one(
        {"_id": CDP_MARKER_ID}, {"made_by": CDP_MARKER_ID, "seed": seed, "notes": notes, "cids": cids}, upsert=True
    )


def _table_exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
    return bool(row and row[0])
