"""Legacy data a real CRM holds (SPEC §6a), end to end: a `SQL_ASCII` database whose text
is not all UTF-8, and timestamps Python cannot hold. `run`, `run --dry-run` and
`reconcile` all work on it; nothing is lost; the notes that cannot land are parked
`invalid_note` with the detail and the run goes on for the later cids."""

from __future__ import annotations

import json

import psycopg
import pymongo
import pytest
from bson import Int64, ObjectId

from crm_notes_devtools.seed.loader import create_crm_schema
from crm_notes_devtools.stack import LocalStack
from crm_notes_migration.source.crm import CrmSource
from tests.cli import cli_json
from tests.conftest import ADMIN_PG_URL
from tests.e2e.run_support import run_cli

ENC, TIMES, LATER = 41, 42, 43
T = "'2021-03-04 05:06:07'"
# id → (cid, person, content as an SQL literal, created_by, created_at, updated_at)
NOTES = {
    1: (ENC, 1, r"E'<p>caf\xE9</p>'", 1, T, "NULL"),  # Latin-1 / cp1252 é
    2: (ENC, 2, r"E'<p>\x93quoted\x94 \x85 na\xEFve</p>'", 2, T, "NULL"),  # cp1252 quotes, ellipsis
    3: (ENC, 3, r"E'<p>caf\xC3</p>'", None, T, "NULL"),  # UTF-8 cut in the middle of é
    4: (ENC, 4, r"E'<p>undefined \x81 byte</p>'", None, T, "NULL"),  # no character in cp1252
    5: (ENC, 5, "'<p>plain ASCII</p>'", None, T, "NULL"),  # an attachment's name is not UTF-8
    6: (ENC, 6, r"E'<p>caf\xC3\xA9 already UTF-8</p>'", None, T, "NULL"),
    11: (TIMES, 11, "'<p>infinity</p>'", None, "'infinity'", "NULL"),
    12: (TIMES, 12, "'<p>-infinity</p>'", None, "'-infinity'", "NULL"),
    13: (TIMES, 13, "'<p>BC</p>'", None, "'0001-01-01 00:00:00 BC'", "NULL"),
    14: (TIMES, 14, "'<p>updated in 10000</p>'", None, T, "'10000-01-01 00:00:00'"),
    15: (TIMES, 15, "'<p>fine</p>'", None, T, "'infinity'"),
    16: (TIMES, 16, "'<p>good</p>'", None, T, T),
    21: (LATER, 21, "'<p>later cid</p>'", None, T, "NULL"),
    22: (LATER, 22, "'<p>later cid too</p>'", None, T, "NULL"),
}
INVALID = {11, 12, 13, 14, 15}


def _make_sql_ascii_crm(settings) -> None:
    name = settings.crm_database_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}"')
        conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'")
    with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
        assert conn.execute("SHOW server_encoding").fetchone()[0] in ("SQL_ASCII", b"SQL_ASCII")
        create_crm_schema(conn)
        conn.execute(
            r"INSERT INTO crm_users VALUES (1, 41, E'Ren\xE9@x.co', E'Ren\xE9 Dupr\xE9'),"
            r" (2, 41, 'budi@x.co', E'Budi \x93B\x94 Santoso')"
        )
        for nid, (cid, person, content, author, created, updated) in NOTES.items():
            conn.execute(
                f"INSERT INTO crm_notes VALUES ({nid}, {cid}, {person}, {content},"
                f" {'NULL' if author is None else author}, {created}, {updated}, NULL)"
            )
        conn.execute(
            r"INSERT INTO crm_note_attachments VALUES"
            r" (1, 5, E'r\xE9sum\xE9.pdf', E'https://files.example/r\xE9sum\xE9.pdf', 'application/pdf', 3, now()),"
            r" (2, 1, 'fine.pdf', 'https://files.example/fine.pdf', NULL, NULL, 'infinity')"
        )


def _cdp(settings):
    db = pymongo.MongoClient(settings.cdp_mongodb_uri, tz_aware=True)[settings.cdp_mongodb_db]
    contacts = [{"_id": ObjectId(), "cid": Int64(c), "source_id": str(p)} for c, p, *_ in NOTES.values()]
    db.contacts.insert_many(contacts)
    db.users.insert_one({"_id": ObjectId(), "cid": Int64(ENC), "email": "rené@x.co", "name": "René"})
    return db


@pytest.fixture
def legacy(isolated_settings, tmp_path):
    _make_sql_ascii_crm(isolated_settings)
    db = _cdp(isolated_settings)
    yield isolated_settings, db, tmp_path
    db.client.close()


def test_the_reader_decodes_per_note_and_reads_odd_times_as_text(legacy):
    settings, _, _ = legacy
    with CrmSource(settings.crm_database_url) as source:
        notes = {n.id: (n, users) for cid in (ENC, TIMES) for p in source.iter_pages(cid, 0, 100, 50) for n, users in p}
    assert notes[1][0].content == "<p>café</p>" and notes[1][0].legacy_encoding
    assert notes[1][1][1].email == "René@x.co" and notes[1][1][1].full_name == "René Dupré"
    assert notes[2][0].content == "<p>\u201cquoted\u201d \u2026 naïve</p>"
    assert notes[2][1][2].full_name == "Budi \u201cB\u201d Santoso"
    assert notes[3][0].content == "<p>caf\u00c3</p>" and notes[3][0].legacy_encoding
    assert notes[4][0].content == "<p>undefined \ufffd byte</p>"
    assert notes[5][0].attachments[0].file_name == "résumé.pdf" and notes[5][0].legacy_encoding
    assert notes[6][0].content == "<p>café already UTF-8</p>" and not notes[6][0].legacy_encoding
    assert notes[1][0].attachments[0].created_at is None  # infinity, not in the contract
    assert [notes[i][0].created_at for i in (11, 12, 13)] == ["infinity", "-infinity", "0001-01-01 00:00:00 BC"]
    assert notes[14][0].updated_at == "10000-01-01 00:00:00" and notes[15][0].updated_at == "infinity"
    assert notes[16][0].updated_at == notes[16][0].created_at


def test_run_dry_run_and_reconcile_work_on_a_legacy_crm(legacy):
    settings, db, cwd = legacy
    code, out, err = run_cli(settings, cwd, "--dry-run", api_url="http://127.0.0.1:9")
    assert code == 0, err
    rows = {r["cid"]: r for r in out["cids"]}
    assert rows[ENC]["would_land"] == 6 and rows[TIMES]["parked"] == {"invalid_note": len(INVALID)}
    assert rows[LATER]["would_land"] == 2

    stack = LocalStack(settings, cwd / "stack").start()
    try:
        code, out, err = run_cli(stack.settings, cwd, "--batch-size", "3")
        assert code == 0, err + stack.log_tail("worker1")
        rows = {r["cid"]: r for r in out["cids"]}
        assert rows[ENC]["migrated"] == 6 and rows[LATER]["migrated"] == 2
        assert rows[TIMES]["migrated"] == 1 and rows[TIMES]["parked"] == {"invalid_note": len(INVALID)}
        report = cwd / "qa.html"
        code, summary, err = cli_json(
            stack.settings, cwd, "reconcile", "--json", "--report", str(report), "--sample", "20"
        )
        assert code == 0, err
    finally:
        stack.stop()

    docs = {d["legacy_crm_note_id"]: d for d in db.contact_notes.find({"cid": {"$in": [ENC, TIMES, LATER]}})}
    assert sorted(docs) == sorted(set(NOTES) - INVALID)
    assert docs[1]["content"] == "<p>café</p>" and docs[1]["created_by"] is not None  # René's email decoded
    assert "\u201cquoted\u201d" in docs[2]["content"]
    assert docs[5]["attachments"][0]["name"] == "résumé.pdf"
    assert docs[5]["attachments"][0]["url"] == "https://files.example/résumé.pdf"
    parked = {p["legacy_crm_note_id"]: p for p in db.contact_notes_migration_parked.find({"cid": TIMES})}
    assert sorted(parked) == sorted(INVALID)
    assert all(p["reason"] == "invalid_note" for p in parked.values())
    assert parked[11]["detail"].startswith("created_at:") and parked[14]["detail"].startswith("updated_at:")
    assert json.loads(parked[13]["note"])["created_at"] == "0001-01-01 00:00:00 BC"

    by_cid = {c["cid"]: c for c in summary["cids"]}
    assert by_cid[ENC]["anomalies"]["legacy_encoding"]["count"] == 5  # notes 1-5; note 6 was UTF-8
    assert by_cid[TIMES]["parked"] == {"invalid_note": len(INVALID)}
    assert "legacy_encoding" in report.read_text(encoding="utf-8")
