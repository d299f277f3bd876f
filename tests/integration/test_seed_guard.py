"""`crm-notes-migrate seed` writes only into databases it made (SPEC §8), against the real
PostgreSQL and FerretDB: a foreign CRM or CDP is refused with one line and exit 2 and left
intact; its own databases are seeded again and again; the CDP-authored notes it writes are
read back byte-identical, and a changed or deleted one is noticed."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import psycopg
import pymongo
import pytest
from bson import Int64, ObjectId

from crm_notes_devtools.seed.cdp_notes import note_sha256, notes_digest
from crm_notes_devtools.seed.loader import load_seed
from crm_notes_devtools.seed.verify import check_cdp_authored
from crm_notes_migration.config import Settings
from tests.cli import seed_cli


def _seed(settings: Settings, notes: int = 60, cids: int = 3, seed: int = 5) -> subprocess.CompletedProcess:
    return seed_cli(settings, notes, cids, seed)


def _db(settings: Settings):
    return pymongo.MongoClient(settings.cdp_mongodb_uri)[settings.cdp_mongodb_db]


def _crm_tables(settings: Settings) -> set[str]:
    with psycopg.connect(settings.crm_database_url) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        return {r[0] for r in rows}


def _assert_refused(done: subprocess.CompletedProcess, database: str, variable: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "refusing to seed" in lines[0] and repr(database) in lines[0] and variable in lines[0]
    assert done.stdout == ""


def test_refuses_a_foreign_crm_database_and_leaves_it_intact(isolated_settings):
    with psycopg.connect(isolated_settings.crm_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE crm_notes (id bigint PRIMARY KEY, cid bigint NOT NULL, content text)")
        conn.execute("INSERT INTO crm_notes VALUES (1, 7, 'a production note')")

    done = _seed(isolated_settings)

    _assert_refused(done, isolated_settings.crm_database_url.rsplit("/", 1)[1], "CRM_DATABASE_URL")
    with psycopg.connect(isolated_settings.crm_database_url) as conn:
        assert conn.execute("SELECT id, cid, content FROM crm_notes").fetchall() == [(1, 7, "a production note")]
    assert _crm_tables(isolated_settings) == {"crm_notes"}
    assert _db(isolated_settings).list_collection_names() == []  # nothing written on the CDP side either


@pytest.mark.parametrize("collection", ["contacts", "users", "contact_notes"])
def test_refuses_a_foreign_cdp_database_and_leaves_it_intact(isolated_settings, collection):
    db = _db(isolated_settings)
    foreign = {
        "_id": ObjectId(),
        "cid": Int64(7),
        "content": "written in the CDP app",
        "created_at": datetime(2024, 5, 1, tzinfo=UTC),
    }
    db[collection].insert_one(foreign)
    db["contact_notes_migration_parked"].insert_one({"_id": "kept", "cid": Int64(7)})
    before = {name: list(db[name].find({})) for name in db.list_collection_names()}

    done = _seed(isolated_settings)

    _assert_refused(done, isolated_settings.cdp_mongodb_db, "CDP_MONGODB_DB")
    assert {name: list(db[name].find({})) for name in db.list_collection_names()} == before
    assert _crm_tables(isolated_settings) == set()  # the CRM database was not claimed either


def test_seeds_its_own_databases_again(isolated_settings):
    first = _seed(isolated_settings)
    assert first.returncode == 0, first.stderr
    db = _db(isolated_settings)
    db["contact_notes"].insert_one(
        {"_id": ObjectId(), "cid": Int64(1), "source": "crm_migration", "legacy_crm_note_id": Int64(1)}
    )

    again = _seed(isolated_settings)

    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert db["contact_notes"].count_documents({"source": "crm_migration"}) == 0
    assert "crm_notes_seed_fixture" in _crm_tables(isolated_settings)
    assert db["seed_fixture"].count_documents({}) == 1


def test_cdp_authored_notes_are_loaded_byte_identical_and_checked(isolated_settings):
    expectations = load_seed(isolated_settings, 300, 3, 9)
    cdp = expectations.to_json()["cdp_authored"]
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri, tz_aware=True)[isolated_settings.cdp_mongodb_db]
    stored = list(db["contact_notes"].find({}))
    assert len(stored) == cdp["notes"] > 0
    assert all("source" not in d and "legacy_crm_note_id" not in d for d in stored)
    assert notes_digest((d["_id"], note_sha256(d)) for d in stored) == cdp["sha256"]
    check = check_cdp_authored(db, expectations)
    assert (check.untouched, check.expected, check.ok) == (cdp["notes"], cdp["notes"], True)
    assert check.sha256 == cdp["sha256"]

    db["contact_notes"].update_one({"_id": stored[0]["_id"]}, {"$set": {"content": stored[0]["content"] + " "}})
    db["contact_notes"].update_one({"_id": stored[1]["_id"]}, {"$set": {"source": "crm_migration"}})
    db["contact_notes"].delete_one({"_id": stored[2]["_id"]})
    check = check_cdp_authored(db, expectations)
    assert (check.untouched, check.expected, check.ok) == (cdp["notes"] - 3, cdp["notes"], False)
    assert check.sha256 != cdp["sha256"]


def test_a_refused_seed_creates_no_crm_database(isolated_settings):
    _db(isolated_settings)["users"].insert_one({"_id": ObjectId(), "cid": Int64(7), "email": "a@x.co", "name": "A"})
    missing = isolated_settings.crm_database_url.rsplit("/", 1)[1] + "_never"
    settings = isolated_settings.model_copy(update={"crm_database_url": isolated_settings.crm_database_url + "_never"})

    done = _seed(settings)

    _assert_refused(done, isolated_settings.cdp_mongodb_db, "CDP_MONGODB_DB")
    with psycopg.connect(isolated_settings.crm_database_url) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (missing,)).fetchone() is None
