"""`demo` seeds only databases it made (SPEC §8): pointed at a CRM or CDP it did not create,
it refuses with one line and exit 2 before starting anything, and leaves the data intact.
The demo's database names are pointed at this test's own databases."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pymongo
from bson import Int64

import crm_notes_devtools.demo as demo


def _point_demo_at(monkeypatch, settings) -> None:
    monkeypatch.setattr(demo, "DEMO_CRM_DATABASE", settings.crm_database_url.rsplit("/", 1)[1])
    monkeypatch.setattr(demo, "DEMO_CDP_DATABASE", settings.cdp_mongodb_db)
    monkeypatch.setattr(demo, "DEMO_QUEUE_NAMESPACE", settings.queue_namespace)
    monkeypatch.setattr(demo, "SERVICES_SCRIPT", Path("/nonexistent/services.sh"))


def test_demo_refuses_a_foreign_crm_database(isolated_settings, monkeypatch, tmp_path, capsys):
    _point_demo_at(monkeypatch, isolated_settings)
    with psycopg.connect(isolated_settings.crm_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE crm_users (id bigint PRIMARY KEY, cid bigint NOT NULL)")
        conn.execute("INSERT INTO crm_users VALUES (42, 7)")

    code = demo.run_demo(isolated_settings, 40, 2, 5, tmp_path / "qa.html")

    assert code == 2
    refusal = [line for line in capsys.readouterr().err.splitlines() if "refusing to seed" in line]
    assert len(refusal) == 1 and "CRM_DATABASE_URL" in refusal[0] and "crm_users" in refusal[0]
    with psycopg.connect(isolated_settings.crm_database_url) as conn:
        assert conn.execute("SELECT * FROM crm_users").fetchall() == [(42, 7)]
    assert not (tmp_path / "qa.html").exists()


def test_demo_refuses_a_foreign_cdp_database(isolated_settings, monkeypatch, tmp_path, capsys):
    _point_demo_at(monkeypatch, isolated_settings)
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri)[isolated_settings.cdp_mongodb_db]
    db["contact_notes"].insert_one({"_id": "a CDP user's note", "cid": Int64(7), "content": "keep me"})

    code = demo.run_demo(isolated_settings, 40, 2, 5, tmp_path / "qa.html")

    assert code == 2
    refusal = [line for line in capsys.readouterr().err.splitlines() if "refusing to seed" in line]
    assert len(refusal) == 1 and "CDP_MONGODB_URI" in refusal[0] and "contact_notes" in refusal[0]
    assert list(db["contact_notes"].find({})) == [{"_id": "a CDP user's note", "cid": 7, "content": "keep me"}]
    assert db.list_collection_names() == ["contact_notes"]
