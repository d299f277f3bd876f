"""`crm-notes-migrate run` end to end: real PostgreSQL, FerretDB, Redis, API and worker
processes; `run` itself as a subprocess, behind a proxy that logs every request."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime

import psycopg
import pymongo
import pytest
import redis

from crm_notes_devtools.stack import LocalStack, cli_command, settings_env
from tests.e2e.run_support import LoggingProxy, load_fixture, run_cli, snapshot_notes

STATE = ".crm-notes-migrate/state.sqlite"


@pytest.fixture
def pipeline(isolated_settings, tmp_path):
    expected = load_fixture(isolated_settings)
    stack = LocalStack(isolated_settings, tmp_path / "stack").start()
    proxy = LoggingProxy(stack.settings.migration_api_url)
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri, tz_aware=True)[isolated_settings.cdp_mongodb_db]
    try:
        yield stack.settings, expected, proxy, db, tmp_path
    finally:
        proxy.close()
        stack.stop()


def assert_matches(out, expected):
    rows = {r["cid"]: r for r in out["cids"]}
    assert set(rows) == set(expected)
    for cid, exp in expected.items():
        row = rows[cid]
        assert (row["in_scope"], row["migrated"], row["parked"], row["pending"]) == (
            exp["in_scope"],
            exp["migrated"],
            exp["parked"],
            0,
        ), cid
        assert row["complete"] is True


def test_full_run_matches_expectations_and_a_second_run_changes_nothing(pipeline):
    settings, expected, proxy, db, cwd = pipeline
    code, out, err = run_cli(settings, cwd, "--batch-size", "7", api_url=proxy.url)
    assert code == 0, err
    assert_matches(out, expected)
    docs = snapshot_notes(db)
    assert len(docs) == sum(e["migrated"] for e in expected.values())
    assert db.contact_notes.count_documents({}) == len(docs)
    first_posts = proxy.posted()
    assert len(first_posts) == len(set(first_posts))

    proxy.log.clear()
    code, out, err = run_cli(settings, cwd, "--batch-size", "7", api_url=proxy.url)
    assert code == 0, err
    assert_matches(out, expected)
    # a completed pass makes the next run re-scan: same bodies, hence the same batch ids
    assert sorted(proxy.posted()) == sorted(first_posts)
    again = snapshot_notes(db)
    assert again.keys() == docs.keys()
    for legacy_id, doc in docs.items():
        after = again[legacy_id]
        for key in ("_id", "migrated_at", "content", "updated_at", "created_at", "mentions", "attachments"):
            assert after[key] == doc[key], (legacy_id, key)


def test_killed_mid_run_resumes_without_loss_duplicates_or_resent_acknowledged_batches(pipeline):
    settings, expected, proxy, db, cwd = pipeline
    proxy.delay_s = 0.15
    env = settings_env(settings)
    env["MIGRATION_API_URL"] = proxy.url
    proc = subprocess.Popen(
        cli_command("run", "--batch-size", "4", "--concurrency", "3", "--no-wait"),
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = cwd / STATE
    deadline = time.monotonic() + 120
    acked = 0
    while time.monotonic() < deadline and acked < 8:
        time.sleep(0.05)
        if state.exists():
            try:
                with sqlite3.connect(state) as c:
                    acked = c.execute("SELECT count(*) FROM acked_batch").fetchone()[0]
            except sqlite3.OperationalError:  # the file exists, its tables not yet
                continue
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(state) as c:
        acked_ids = {r[0] for r in c.execute("SELECT batch_id FROM acked_batch")}
    posted_before = set(proxy.posted())
    assert acked_ids and acked_ids <= posted_before

    proxy.log.clear()
    proxy.delay_s = 0
    code, out, err = run_cli(settings, cwd, "--batch-size", "4", "--concurrency", "3", api_url=proxy.url)
    assert code == 0, err
    assert_matches(out, expected)
    resent = set(proxy.posted())
    assert resent and not (resent & acked_ids)
    docs = snapshot_notes(db)
    assert db.contact_notes.count_documents({}) == len(docs) == sum(e["migrated"] for e in expected.values())
    parked = list(db.contact_notes_migration_parked.find({"cid": {"$in": list(expected)}}))
    assert len(parked) == len({(p["cid"], p["legacy_crm_note_id"]) for p in parked})
    assert len(parked) == sum(sum(e["parked"].values()) for e in expected.values())


def test_a_legacy_note_edited_after_migration_is_updated_by_the_next_run(pipeline):
    settings, expected, proxy, db, cwd = pipeline
    code, _, err = run_cli(settings, cwd, api_url=proxy.url)
    assert code == 0, err
    before = snapshot_notes(db)
    target = min(before)
    with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE crm_notes SET content = %s, updated_at = %s WHERE id = %s",
            ("<p>rewritten in the CRM</p>", datetime(2023, 5, 6, 7, 8, 9), target),
        )
    code, out, err = run_cli(settings, cwd, api_url=proxy.url)
    assert code == 0, err
    assert_matches(out, expected)
    after = snapshot_notes(db)
    doc = after[target]
    assert doc["content"] == "<p>rewritten in the CRM</p>"
    assert doc["updated_at"] == datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert (doc["_id"], doc["migrated_at"]) == (before[target]["_id"], before[target]["migrated_at"])
    for legacy_id in before.keys() - {target}:
        assert after[legacy_id]["content"] == before[legacy_id]["content"]


def test_a_note_edited_in_cdp_then_in_the_crm_is_parked_and_the_cdp_edit_kept(pipeline):
    settings, expected, proxy, db, cwd = pipeline
    code, _, err = run_cli(settings, cwd, api_url=proxy.url)
    assert code == 0, err
    target = min(snapshot_notes(db))
    doc = db.contact_notes.find_one(
        {"legacy_crm_note_id": target, "cid": db.contact_notes.find_one({"legacy_crm_note_id": target})["cid"]}
    )
    user_edit = datetime.now(UTC).replace(microsecond=0)
    db.contact_notes.update_one(
        {"_id": doc["_id"], "cid": doc["cid"]},
        {"$set": {"content": "<p>edited by a CDP user</p>", "updated_at": user_edit}},
    )
    with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE crm_notes SET content = %s, updated_at = %s WHERE id = %s",
            ("<p>changed in the CRM too</p>", datetime(2024, 1, 1), target),
        )
    code, out, err = run_cli(settings, cwd, api_url=proxy.url)
    assert code == 0, err
    kept = db.contact_notes.find_one({"_id": doc["_id"], "cid": doc["cid"]})
    assert kept["content"] == "<p>edited by a CDP user</p>"
    assert kept["updated_at"] == user_edit
    parked = list(db.contact_notes_migration_parked.find({"cid": doc["cid"], "legacy_crm_note_id": target}))
    assert [p["reason"] for p in parked] == ["edited_in_cdp"]
    row = next(r for r in out["cids"] if r["cid"] == doc["cid"])
    assert row["parked"].get("edited_in_cdp") == 1


def test_dry_run_reports_the_outcome_and_writes_nothing(isolated_settings, tmp_path):
    expected = load_fixture(isolated_settings)
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri)[isolated_settings.cdp_mongodb_db]
    r = redis.Redis.from_url(isolated_settings.redis_url)

    def world():
        cols = {name: db[name].count_documents({}) for name in sorted(db.list_collection_names())}
        with psycopg.connect(isolated_settings.crm_database_url) as conn:
            crm = conn.execute("SELECT count(*), sum(hashtext(content)) FROM crm_notes").fetchone()
        return cols, crm, sorted(r.scan_iter(f"{isolated_settings.queue_namespace}*"))

    before = world()
    # no API runs: a dry run must not need one
    code, out, err = run_cli(isolated_settings, tmp_path, "--dry-run", api_url="http://127.0.0.1:9")
    assert code == 0, err
    assert out["dry_run"] is True
    for row in out["cids"]:
        exp = expected[row["cid"]]
        assert (row["in_scope"], row["would_land"], row["parked"]) == (exp["in_scope"], exp["migrated"], exp["parked"])
    assert world() == before
    assert not (tmp_path / ".crm-notes-migrate").exists()


def test_sigterm_stops_cleanly_and_the_next_run_finishes_the_pass(pipeline):
    settings, expected, proxy, db, cwd = pipeline
    proxy.delay_s = 0.15
    env = settings_env(settings)
    env["MIGRATION_API_URL"] = proxy.url
    proc = subprocess.Popen(
        cli_command("run", "--batch-size", "4", "--concurrency", "2"),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(proxy.posted()) < 4:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    with sqlite3.connect(cwd / STATE) as c:
        acked_ids = {r[0] for r in c.execute("SELECT batch_id FROM acked_batch")}
        open_passes = c.execute("SELECT count(*) FROM cid_pass WHERE completed_at IS NULL").fetchone()[0]
    # every batch the API answered before the stop was recorded: a clean stop loses no acknowledgement
    assert acked_ids == {b for m, _, b, status in proxy.log if m == "POST" and status == 202}
    assert open_passes >= 1
    proxy.log.clear()
    proxy.delay_s = 0
    code, out, err = run_cli(settings, cwd, "--batch-size", "4", "--concurrency", "2", api_url=proxy.url)
    assert code == 0, err
    assert_matches(out, expected)
    assert not (set(proxy.posted()) & acked_ids)
