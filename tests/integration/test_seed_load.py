"""`crm-notes-migrate seed` against the real PostgreSQL and FerretDB: the printed expectations
match an independent count of what was loaded, and the same seed loads byte-identical data."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections import Counter, defaultdict

import bson
import psycopg
import pymongo
from bs4 import BeautifulSoup
from bson import Int64

from crm_notes_migration.config import Settings
from tests.cli import seed_cli

MIB = 1024 * 1024
NOTES, CIDS, SEED = 1500, 8, 99
ADMIN_PG_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")


def _seed_cli(settings: Settings, notes: int, cids: int, seed: int) -> dict:
    done = seed_cli(settings, notes, cids, seed)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@contextlib.contextmanager
def _second_databases(like: Settings):
    """Another fresh CRM database and CDP database, removed afterwards."""
    suffix = uuid.uuid4().hex[:10]
    crm_db, cdp_db = f"crm_test_{suffix}", f"cdp_test_{suffix}"
    url = like.crm_database_url.rsplit("/", 1)[0] + "/" + crm_db
    try:
        yield Settings(
            _env_file=None, crm_database_url=url, cdp_mongodb_uri=like.cdp_mongodb_uri, cdp_mongodb_db=cdp_db
        )
    finally:
        pymongo.MongoClient(like.cdp_mongodb_uri).drop_database(cdp_db)
        with psycopg.connect(ADMIN_PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{crm_db}" WITH (FORCE)')


def _without_code(html: str) -> int:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "iframe", "object", "embed", "form", "noscript"]):
        tag.decompose()
    return len(str(soup).encode("utf-8"))


def _count_independently(settings: Settings) -> dict[str, dict]:
    """Per cid, from SQL on crm_notes and cid-equality queries on contacts."""
    per_cid: dict[str, dict] = {}
    db = pymongo.MongoClient(settings.cdp_mongodb_uri)[settings.cdp_mongodb_db]
    with psycopg.connect(settings.crm_database_url) as conn:
        scope = conn.execute(
            "SELECT cid, count(*) FILTER (WHERE deleted_at IS NOT NULL),"
            " count(*) FILTER (WHERE deleted_at IS NULL AND crm_person_id IS NULL),"
            " count(*) FILTER (WHERE deleted_at IS NULL AND crm_person_id IS NOT NULL)"
            " FROM crm_notes GROUP BY cid"
        ).fetchall()
        in_scope = conn.execute(
            "SELECT id, cid, crm_person_id, octet_length(content) FROM crm_notes"
            " WHERE deleted_at IS NULL AND crm_person_id IS NOT NULL"
        ).fetchall()
        big = dict(
            conn.execute("SELECT id, content FROM crm_notes WHERE octet_length(content) > %s", (MIB,)).fetchall()
        )
    for cid, deleted, no_person, n_in in scope:
        per_cid[str(cid)] = {
            "in_scope": n_in,
            "migrated": 0,
            "parked": Counter(),
            "out_of_scope": {"deleted": deleted, "no_person": no_person},
        }
    contacts = {}
    for cid in {row[1] for row in in_scope}:
        docs = db.contacts.find({"cid": Int64(cid)}, {"source_id": 1})
        contacts[cid] = Counter(d.get("source_id") for d in docs)
    for nid, cid, person, size in in_scope:
        entry = per_cid[str(cid)]
        n_contacts = contacts[cid][str(person)]
        if n_contacts == 0:
            entry["parked"]["contact_not_found"] += 1
        elif n_contacts >= 2:
            entry["parked"]["ambiguous_contact"] += 1
        elif size is not None and size > MIB and _without_code(big[nid]) > MIB:
            entry["parked"]["content_too_large"] += 1
        else:
            entry["migrated"] += 1
    return per_cid


def test_printed_expectations_match_an_independent_count(isolated_settings):
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri)[isolated_settings.cdp_mongodb_db]
    _seed_cli(isolated_settings, 10, 2, SEED)  # a database seed made, then a migration left documents in it
    for name in ("contact_notes", "contact_notes_migration_parked", "migration_batches", "migration_note_cids"):
        db[name].insert_one({"_id": "left-over", "cid": Int64(1)})

    printed = _seed_cli(isolated_settings, NOTES, CIDS, SEED)

    assert (printed["seed"], printed["notes"], printed["cids"]) == (SEED, NOTES, CIDS)
    counted = _count_independently(isolated_settings)
    assert set(printed["per_cid"]) == set(counted) and len(counted) == CIDS
    for cid, want in counted.items():
        got = printed["per_cid"][cid]
        assert got["in_scope"] == want["in_scope"], cid
        assert got["migrated"] == want["migrated"], cid
        assert got["out_of_scope"] == want["out_of_scope"], cid
        assert {r: n for r, n in got["parked"].items() if n} == dict(want["parked"]), cid
    totals = printed["totals"]
    assert totals["notes"] == NOTES
    assert totals["in_scope"] == totals["migrated"] + sum(totals["parked"].values())
    assert all(totals["parked"][r] > 0 for r in ("contact_not_found", "ambiguous_contact", "content_too_large"))
    assert totals["parked"]["invalid_note"] == 0
    cdp_authored = Counter(str(d["cid"]) for d in db.contact_notes.find({"legacy_crm_note_id": {"$exists": False}}))
    assert printed["cdp_authored"]["per_cid"] == dict(sorted(cdp_authored.items(), key=lambda kv: int(kv[0])))
    assert printed["cdp_authored"]["notes"] == db.contact_notes.count_documents({}) > 0
    assert set(printed["cdp_authored"]["per_cid"]) - set(counted)  # CDP-only cids: contacts, no CRM notes
    for name in ("contact_notes", "contact_notes_migration_parked", "migration_batches", "migration_note_cids"):
        assert db[name].find_one({"_id": "left-over"}) is None


def test_schema_and_types_as_the_spec_says(isolated_settings):
    printed = _seed_cli(isolated_settings, 200, 3, 5)
    with psycopg.connect(isolated_settings.crm_database_url) as conn:
        indexes = {r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'")}
        fks = conn.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
        ).fetchall()
        dangling = conn.execute(
            "SELECT count(*) FROM crm_notes n WHERE created_by IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM crm_users u WHERE u.id = n.created_by)"
        ).fetchone()[0]
    assert any("(cid, id)" in i and "crm_notes" in i for i in indexes)
    assert any("(note_id)" in i and "crm_note_attachments" in i for i in indexes)
    assert sum("UNIQUE" in i and "(id)" in i for i in indexes) == 3
    assert ("crm_note_attachments", "crm_notes") in fks
    assert dangling > 0
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri)[isolated_settings.cdp_mongodb_db]
    for cid in map(int, printed["per_cid"]):
        contact = db.contacts.find_one({"cid": Int64(cid), "source_id": {"$exists": True, "$ne": None}})
        user = db.users.find_one({"cid": Int64(cid)})
        assert isinstance(contact["cid"], Int64) and isinstance(user["cid"], Int64)
        assert contact["source_id"].isdigit() and isinstance(contact["_id"], bson.ObjectId)


def _dump(settings: Settings) -> dict[str, str]:
    out = {}
    with psycopg.connect(settings.crm_database_url) as conn, conn.cursor() as cur:
        for table in ("crm_users", "crm_notes", "crm_note_attachments"):
            h = hashlib.sha256()
            with cur.copy(f"COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT") as copy:
                for data in copy:
                    h.update(data)
            out[table] = h.hexdigest()
    db = pymongo.MongoClient(settings.cdp_mongodb_uri)[settings.cdp_mongodb_db]
    for name in ("contacts", "users", "contact_notes"):
        h = hashlib.sha256()
        by_cid = defaultdict(list)
        for doc in db[name].find({}):
            by_cid[doc["cid"]].append(doc)
        for doc in sorted((d for docs in by_cid.values() for d in docs), key=lambda d: d["_id"]):
            h.update(bson.encode(doc))
        out[name] = h.hexdigest()
    return out


def test_same_seed_loads_byte_identical_data_in_two_databases(isolated_settings):
    first = _seed_cli(isolated_settings, 400, 4, 11)
    dump = _dump(isolated_settings)
    with _second_databases(isolated_settings) as other:
        assert _seed_cli(other, 400, 4, 11) == first
        assert _dump(other) == dump
        assert _seed_cli(other, 400, 4, 12) != first
        assert _dump(other)["crm_notes"] != dump["crm_notes"]
    _seed_cli(isolated_settings, 400, 4, 11)  # re-seeding the same databases drops and reloads
    assert _dump(isolated_settings) == dump
