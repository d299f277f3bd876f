"""Migration day end to end (issue 16): notes that leave scope are withdrawn by the next
`run`, a cid is rolled back and migrated again, `status` agrees with the collections. Real
PostgreSQL, FerretDB, Redis, API and worker processes; every command as a subprocess."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pymongo
import pytest
from bson import Int64, ObjectId
from bson.raw_bson import RawBSONDocument

from crm_notes_devtools.stack import LocalStack
from crm_notes_migration.cdp.withdrawals import MongoWithdrawalStore
from crm_notes_migration.source.checkpoint import Checkpoint
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.usecases import withdraw as withdraw_module
from crm_notes_migration.usecases.withdraw import WithdrawalRequest, withdraw
from tests.cli import cli_json
from tests.e2e.run_support import load_fixture, run_cli
from tests.integration.cdp_support import start_worker, stop_process, wait_until

STATE = ".crm-notes-migrate/state.sqlite"
MIGRATION = {"source": "crm_migration"}


def raw_state(db) -> dict[str, dict]:
    """Every document of every collection as raw BSON bytes, by `_id`."""
    raw = db.codec_options.with_options(document_class=RawBSONDocument)
    return {
        name: {repr(d["_id"]): d.raw for d in db[name].with_options(codec_options=raw).find({})}
        for name in sorted(db.list_collection_names())
    }


def of_cid(state: dict[str, dict], db, cid: int | None) -> dict[str, dict]:
    """The part of `raw_state` whose documents belong to `cid` (None: to no cid)."""
    out: dict[str, dict] = {}
    for name, docs in state.items():
        kept = {}
        for key, raw in docs.items():
            doc = RawBSONDocument(raw)
            owner = doc.get("cid")
            if (None if owner is None else int(owner)) == cid:
                kept[key] = raw
        out[name] = kept
    return out


def migration_docs(db, cid: int) -> dict[int, dict]:
    return {int(d["legacy_crm_note_id"]): d for d in db.contact_notes.find({"cid": cid, **MIGRATION})}


@pytest.fixture
def day(isolated_settings, tmp_path):
    expected = load_fixture(isolated_settings)
    stack = LocalStack(isolated_settings, tmp_path / "stack").start()
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri, tz_aware=True)[isolated_settings.cdp_mongodb_db]
    try:
        yield stack.settings, expected, db, tmp_path
    finally:
        stack.stop()
        db.client.close()


def crm(settings, sql: str, *params) -> None:
    with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
        conn.execute(sql, params)


def test_notes_that_left_scope_are_withdrawn_and_edited_ones_kept_and_reported(day):
    settings, expected, db, cwd = day
    code, out, err = run_cli(settings, cwd)
    assert code == 0, err
    docs = migration_docs(db, 11)
    deleted, edited, unpersoned = sorted(docs)[:3]
    parked = min(int(p["legacy_crm_note_id"]) for p in db.contact_notes_migration_parked.find({"cid": 11}))
    user_edit = docs[edited]["updated_at"] + timedelta(days=1)
    db.contact_notes.update_one(
        {"_id": docs[edited]["_id"], "cid": Int64(11)},
        {"$set": {"content": "<p>a user's edit</p>", "updated_at": user_edit}},
    )
    crm(
        settings,
        "UPDATE crm_notes SET deleted_at = %s WHERE id = ANY(%s)",
        datetime(2024, 2, 3),
        [deleted, edited, parked],
    )
    crm(settings, "UPDATE crm_notes SET crm_person_id = NULL WHERE id = %s", unpersoned)

    code, out, err = run_cli(settings, cwd)
    assert code == 0, err
    row = next(r for r in out["cids"] if r["cid"] == 11)
    assert row["left_scope"] == {"withdrawn": 2, "unparked": 1, "kept_edited_in_cdp": [edited]}
    assert all(
        r["left_scope"] == {"withdrawn": 0, "unparked": 0, "kept_edited_in_cdp": []}
        for r in out["cids"]
        if r["cid"] != 11
    )
    after = migration_docs(db, 11)
    assert set(docs) - set(after) == {deleted, unpersoned}
    assert after[edited]["content"] == "<p>a user's edit</p>"
    assert db.contact_notes_migration_parked.count_documents({"cid": 11, "legacy_crm_note_id": parked}) == 0
    assert row["migrated"] == len(docs) - 2

    code, rec, err = cli_json(settings, cwd, "reconcile", "--json")
    assert code == 0, err
    ledger = next(c for c in rec["cids"] if c["cid"] == 11)
    assert ledger["kept_edited_in_cdp"]["ids"] == [edited] and ledger["extra"]["count"] == 0

    code, out, err = run_cli(settings, cwd)  # the next pass: nothing more goes, the edit is reported again
    assert code == 0, err
    row = next(r for r in out["cids"] if r["cid"] == 11)
    assert row["left_scope"] == {"withdrawn": 0, "unparked": 0, "kept_edited_in_cdp": [edited]}
    code, text, err = cli_json(settings, cwd, "run")
    assert code == 0 and f"kept 1 edited in the CDP: {edited}" in err, err


def _authored(cid: int, n: int) -> list[dict]:
    return [
        {
            "_id": ObjectId(),
            "cid": Int64(cid),
            "contact_id": ObjectId(),
            "content": f"<p>CDP note {i}</p>",
            "created_at": datetime(2025, 1, i + 1),
            "updated_at": datetime(2025, 1, i + 1),
        }
        for i in range(n)
    ]


def _same_documents(before: dict[int, dict], after: dict[int, dict]) -> None:
    assert after.keys() == before.keys()
    for lid, doc in before.items():
        assert {k: v for k, v in after[lid].items() if k != "migrated_at"} == {
            k: v for k, v in doc.items() if k != "migrated_at"
        }, lid


def _leave_a_pass_half_done(settings, cwd, cid: int) -> None:
    """The checkpoint as a `run` killed half-way through the cid leaves it: a pass open with
    its first half acknowledged (a run after it resumes past that half)."""
    with CrmSource(settings.crm_database_url) as source:
        ids = list(source.iter_in_scope_ids(cid))
        checkpoint = Checkpoint(cwd / STATE, source.identity())
    try:
        opened = checkpoint.open_pass(cid, ids[-1])
        checkpoint.advance(cid, opened.pass_no, ids[len(ids) // 2])
    finally:
        checkpoint.close()


def test_rollback_of_one_cid_touches_nothing_else_and_run_brings_it_back_exactly(day):
    settings, expected, db, cwd = day
    code, _, err = run_cli(settings, cwd)
    assert code == 0, err
    db.contact_notes.insert_many(_authored(11, 3) + _authored(12, 2))
    _leave_a_pass_half_done(settings, cwd, 11)
    before = raw_state(db)
    docs_before = migration_docs(db, 11)
    state_before = (cwd / STATE).read_bytes()

    # --dry-run lists what would go and changes nothing
    code, plan, err = cli_json(settings, cwd, "rollback", "--cid", "11", "--dry-run", "--json")
    assert code == 0, err
    assert plan["dry_run"] is True
    assert plan["cids"] == [
        {
            "cid": 11,
            "withdrawn": expected[11]["migrated"],
            "unparked": sum(expected[11]["parked"].values()),
            "kept_edited_in_cdp": [],
            "absent": 0,
            "checkpoint_reset": False,
        }
    ]
    assert raw_state(db) == before and (cwd / STATE).read_bytes() == state_before

    code, done, err = cli_json(settings, cwd, "rollback", "--cid", "11", "--json")
    assert code == 0, err
    assert done["cids"] == [{**plan["cids"][0], "checkpoint_reset": True}]
    after = raw_state(db)
    for cid in (12, 13, None):
        assert of_cid(after, db, cid) == of_cid(before, db, cid), cid
    mine = of_cid(after, db, 11)
    assert {RawBSONDocument(r).get("source") for r in mine["contact_notes"].values()} == {None}  # only CDP-authored
    assert len(mine["contact_notes"]) == 3
    assert not mine["contact_notes_migration_parked"] and not mine["migration_batches"]

    code, status, err = cli_json(settings, cwd, "status", "--cid", "11", "--json")
    assert code == 1, err  # not signed off
    assert {k: status["cids"][0][k] for k in ("migrated", "parked", "pending")} == {
        "migrated": 0,
        "parked": {},
        "pending": 0,
    }

    code, again, err = cli_json(settings, cwd, "rollback", "--cid", "11", "--json")  # idempotent
    assert code == 0 and again["cids"][0]["withdrawn"] == 0, err

    code, out, err = run_cli(settings, cwd)
    assert code == 0, err
    row = next(r for r in out["cids"] if r["cid"] == 11)
    assert (row["migrated"], row["parked"]) == (expected[11]["migrated"], expected[11]["parked"])
    _same_documents(docs_before, migration_docs(db, 11))
    assert of_cid(raw_state(db), db, 12) == of_cid(before, db, 12)


def test_rollback_refuses_while_batches_are_pending(isolated_settings, tmp_path):
    load_fixture(isolated_settings)
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri)[isolated_settings.cdp_mongodb_db]
    with LocalStack(isolated_settings, tmp_path / "stack", workers=0) as stack:  # no worker: batches stay queued
        settings = stack.settings
        code, _, err = run_cli(settings, tmp_path, "--no-wait", "--cid", "11")
        assert code != 0 or "pending" in err
        before, state_before = raw_state(db), (tmp_path / STATE).read_bytes()
        code, out, err = cli_json(settings, tmp_path, "rollback", "--cid", "11", "--json")
        assert code == 1, err
        assert out["refused"][0]["cid"] == 11 and out["refused"][0]["pending"] > 0
        assert "refused: cid 11 has" in err and "nothing was rolled back" in err
        assert raw_state(db) == before and (tmp_path / STATE).read_bytes() == state_before
        worker = start_worker(settings, tmp_path / "worker.log")
        try:
            wait_until(
                lambda: db.migration_batches.count_documents({"cid": 11, "status": "queued"}) == 0,
                120,
                what="the queue to drain",
            )
            code, out, err = cli_json(settings, tmp_path, "rollback", "--cid", "11", "--json")
            assert code == 0 and out["cids"][0]["withdrawn"] > 0, err
        finally:
            stop_process(worker)
    db.client.close()


class Crash(Exception):
    pass


class CrashingStore:
    """The real store, failing after `deletes` document deletes (a rollback killed mid-way)."""

    def __init__(self, store: MongoWithdrawalStore, deletes: int) -> None:
        self.store, self.deletes = store, deletes

    def __getattr__(self, name):
        return getattr(self.store, name)

    def delete_documents(self, cid, docs, unless_changed):
        if self.deletes <= 0:
            raise Crash()
        self.deletes -= 1
        return self.store.delete_documents(cid, docs, unless_changed)


def test_a_rollback_interrupted_half_way_is_finished_by_running_it_again(day, monkeypatch):
    settings, expected, db, cwd = day
    code, _, err = run_cli(settings, cwd)
    assert code == 0, err
    docs_before = migration_docs(db, 12)
    other = of_cid(raw_state(db), db, 11)
    monkeypatch.setattr(withdraw_module, "PAGE_SIZE", 10)
    with pytest.raises(Crash):
        withdraw(CrashingStore(MongoWithdrawalStore(db), deletes=2), WithdrawalRequest(12, None, "rollback"))
    left = db.contact_notes.count_documents({"cid": 12, **MIGRATION})
    assert 0 < left < len(docs_before)  # half-way: batch records gone, some documents gone

    code, done, err = cli_json(settings, cwd, "rollback", "--cid", "12", "--json")
    assert code == 0, err
    assert done["cids"][0]["withdrawn"] == left
    assert db.contact_notes.count_documents({"cid": 12, **MIGRATION}) == 0
    assert db.contact_notes_migration_parked.count_documents({"cid": 12}) == 0
    assert of_cid(raw_state(db), db, 11) == other

    code, out, err = run_cli(settings, cwd)
    assert code == 0, err
    _same_documents(docs_before, migration_docs(db, 12))


def test_status_json_matches_the_collections(day):
    settings, expected, db, cwd = day
    code, _, err = run_cli(settings, cwd)
    assert code == 0, err
    code, never, err = cli_json(settings, cwd, "status", "--json")
    assert code == 1 and all(c["reconciled"] is None for c in never["cids"]), err
    code, _, err = cli_json(settings, cwd, "reconcile", "--report", str(cwd / "qa.html"), "--sample", "2", "--json")
    assert code == 0, err
    db.contact_notes_migration_parked.delete_one({"cid": 13})  # the status must show the store, not the plan
    code, status, err = cli_json(settings, cwd, "status", "--json")
    assert code == 1, err  # nothing is signed off yet
    assert status["ok"] is False
    assert [c["cid"] for c in status["cids"]] == sorted(expected)
    for row in status["cids"]:
        cid = row["cid"]
        parked: dict[str, int] = {}
        for p in db.contact_notes_migration_parked.find({"cid": cid}):
            parked[p["reason"]] = parked.get(p["reason"], 0) + 1
        assert row["in_scope"] == expected[cid]["in_scope"]
        assert row["migrated"] == db.contact_notes.count_documents({"cid": cid, **MIGRATION})
        assert row["parked"] == parked
        assert row["pending"] == 0
        verdict = db.migration_reconciliations.find_one({"_id": cid})
        assert row["reconciled"]["ok"] is True and row["reconciled"]["status"] == verdict["status"]
        assert row["reconciled"]["at"] == verdict["at"].isoformat()
        assert row["qa"] == {"passed": 0, "failed": 0, "unreviewed": verdict["samples"]} and verdict["samples"] > 0
        assert row["signoff"] == "pending"
    code, _, text = cli_json(settings, cwd, "status")
    assert code == 1 and "0 of 3 cids approved" in text, text
