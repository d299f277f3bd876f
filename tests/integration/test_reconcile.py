"""reconcile against the real stores: a clean run is ok and agrees with the seed; a missing,
an extra and a tampered note are each caught with their ids; --repair restores them."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import psycopg
import pymongo
import pytest

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_devtools.stack import LocalStack
from crm_notes_migration.cdp import note_streams
from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.client import MigrationApiClient, MigrationApiError, QueueStuck
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.transform import TransformOptions
from crm_notes_migration.usecases.reconcile import service
from crm_notes_migration.usecases.reconcile.service import reconcile, reconcile_and_repair, select_cids
from tests.cli import cli_json
from tests.e2e.run_support import run_cli


def _reconcile(settings, client=None, use=reconcile, **kwargs):
    """`use` (reconcile, or reconcile_and_repair) over every cid of the settings' stores."""
    db = open_database(settings)
    try:
        with CrmSource(settings.crm_database_url) as source:
            return use(
                db,
                source,
                select_cids(source, None),
                tz=ZoneInfo(settings.crm_timezone),
                options=TransformOptions.from_settings(settings),
                client=client,
                settings=settings,
                **kwargs,
            )
    finally:
        db.client.close()


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("reconcile")


def test_reconcile_catches_missing_extra_tampered_and_repair_restores(isolated_settings, tmp_path, monkeypatch):
    expectations = load_seed(isolated_settings, 300, 3, 5).to_json()
    with LocalStack(isolated_settings, tmp_path / "stack") as stack:
        settings = stack.settings
        code, out, err = run_cli(settings, tmp_path, "--batch-size", "100")
        assert code == 0, err

        # 1. clean: ok, from the stores alone and with the counts endpoint, and equal to the seed
        clean = _reconcile(isolated_settings)
        assert clean.ok, json.dumps(clean.as_dict(), default=str)[:2000]
        with MigrationApiClient(settings.migration_api_url, settings.migration_api_token) as client:
            checked = _reconcile(settings, client)
        assert checked.ok and all(x.api_counts is not None and not x.api_differences for x in checked.ledgers)
        for ledger in clean.ledgers:
            exp = expectations["per_cid"][str(ledger.cid)]
            want_parked = {k: v for k, v in exp["parked"].items() if v}
            assert (ledger.in_scope, ledger.migrated, dict(ledger.parked)) == (
                exp["in_scope"],
                exp["migrated"],
                want_parked,
            )

        # 2. break things: one of each kind, in different cids where possible
        db = pymongo.MongoClient(settings.cdp_mongodb_uri, tz_aware=True)[settings.cdp_mongodb_db]
        cids = sorted(int(c) for c in expectations["per_cid"])
        docs = {
            c: sorted(
                db.contact_notes.find({"cid": c, "source": "crm_migration"}), key=lambda d: d["legacy_crm_note_id"]
            )
            for c in cids
        }
        gone, tampered, moved, edited = docs[cids[0]][0], docs[cids[1]][1], docs[cids[1]][2], docs[cids[2]][0]
        soft_deleted = docs[cids[2]][3]
        parked = next(db.contact_notes_migration_parked.find({"cid": cids[0]}), None)
        assert parked is not None, "the seed should park some notes"
        db.contact_notes.delete_one({"_id": gone["_id"]})
        db.contact_notes_migration_parked.delete_one({"_id": parked["_id"]})
        db.contact_notes.update_one({"_id": tampered["_id"]}, {"$set": {"content": "<p>tampered</p>"}})
        db.contact_notes.update_one(
            {"_id": moved["_id"]}, {"$set": {"created_at": moved["created_at"] - timedelta(hours=7)}}
        )
        db.contact_notes.update_one(
            {"_id": edited["_id"]},
            {"$set": {"content": "<p>a user's edit</p>", "updated_at": edited["updated_at"] + timedelta(days=1)}},
        )
        with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
            conn.execute("UPDATE crm_notes SET deleted_at = now() WHERE id = %s", (soft_deleted["legacy_crm_note_id"],))

        code, out, err = cli_json(settings, tmp_path, "reconcile", "--json")
        assert code == 1 and out is not None, err
        by_cid = {row["cid"]: row for row in out["cids"]}
        assert by_cid[cids[0]]["missing"]["ids"] == sorted([gone["legacy_crm_note_id"], parked["legacy_crm_note_id"]])
        assert by_cid[cids[1]]["mismatched"]["ids"] == sorted(
            [tampered["legacy_crm_note_id"], moved["legacy_crm_note_id"]]
        )
        assert by_cid[cids[1]]["mismatches"]["content"]["ids"] == [tampered["legacy_crm_note_id"]]
        assert by_cid[cids[1]]["mismatches"]["created_at"]["ids"] == [moved["legacy_crm_note_id"]]
        assert by_cid[cids[2]]["extra"]["ids"] == [soft_deleted["legacy_crm_note_id"]]
        assert by_cid[cids[2]]["edited_in_cdp"]["ids"] == [edited["legacy_crm_note_id"]]
        assert by_cid[cids[2]]["mismatched"]["count"] == 0  # an edit is not a mismatch
        assert [row["cid"] for row in out["cids"] if not row["ok"]] == cids
        # the counts endpoint agrees with the stores even now (it reads the same stores)
        assert all(row["api_differences"] == [] for row in out["cids"])
        # the on-disk snapshot (FerretDB's one pass) read on two processes finds exactly the
        # same (the CLI used per-cid queries on one process for these 3 cids)
        monkeypatch.setattr(note_streams, "SNAPSHOT_MIN_CIDS", 1)
        fast = _reconcile(isolated_settings, workers=2)
        keys = (
            "in_scope",
            "migrated",
            "parked",
            "missing",
            "extra",
            "duplicates",
            "mismatched",
            "mismatches",
            "edited_in_cdp",
            "anomalies",
            "parked_stale",
            "store",
            "status",
        )
        got = json.loads(json.dumps(fast.as_dict()["cids"], default=str))
        assert [{k: row[k] for k in keys} for row in got] == [{k: row[k] for k in keys} for row in out["cids"]]

        # 3. repair: re-sends the missing and mismatched notes, waits, checks again
        code, out, err = cli_json(settings, tmp_path, "reconcile", "--json", "--repair")
        assert out is not None, err
        assert out["repair"]["resent"] == 4, out["repair"]
        assert out["totals"]["missing"] == 0 and out["totals"]["mismatched"] == 0, out["totals"]
        assert out["totals"]["extra"] == 1 and code == 1  # a note no longer in scope is never deleted
        assert db.contact_notes.find_one({"_id": gone["_id"]}) is not None
        assert db.contact_notes.find_one({"_id": tampered["_id"]})["content"] == tampered["content"]
        assert db.contact_notes_migration_parked.find_one({"_id": parked["_id"]})["reason"] == parked["reason"]
        assert db.contact_notes.find_one({"_id": edited["_id"]})["content"] == "<p>a user's edit</p>"

        # 4. the note back in scope: everything accounted for, exit 0
        with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
            conn.execute("UPDATE crm_notes SET deleted_at = NULL WHERE id = %s", (soft_deleted["legacy_crm_note_id"],))
        code, out, err = cli_json(settings, tmp_path, "reconcile", "--json")
        assert code == 0, (err, out and out["totals"])


class _QueueStuckClient:
    """The API as `reconcile --repair` sees it when its re-sent batches fail for good."""

    def __init__(self) -> None:
        self.posted: list[dict] = []

    def post_batch(self, body):
        self.posted.append(body)
        return {"batch_id": body["batch_id"], "accepted": len(body["notes"]), "rejected": []}

    def wait_drained(self, cids, timeout_s):
        raise QueueStuck(
            "no job is left on the queue but 1 that failed for good: `crm-notes-migrate failed-jobs` lists them", {}
        )

    def counts(self, cid=None, cids=None):
        return {"cids": [{"cid": c, "migrated": 0, "parked": {}, "pending": 0} for c in cids]}


def test_repair_says_why_the_queue_did_not_drain(isolated_settings):
    load_seed(isolated_settings, 40, 2, 5)  # nothing migrated: every in-scope note is missing
    client = _QueueStuckClient()
    result = _reconcile(isolated_settings, client, use=reconcile_and_repair)
    assert client.posted and result.repair["resent"] > 0
    assert result.repair["drained"] is False and "failed for good" in result.repair["drain_error"]
    assert not result.ok


class _UnreachableApi:
    def __init__(self) -> None:
        self.asked: list[int] = []

    def counts(self, cid=None, cids=None):
        self.asked.append(cids)
        raise MigrationApiError(
            "GET /v1/migrations/crm-notes/counts: unreachable after 8 attempts: ConnectError: connection refused"
        )


def test_an_unreachable_counts_endpoint_is_asked_once_not_once_per_cid(isolated_settings, monkeypatch):
    """Each ask retries for about half a minute: with 130 cids an unreachable API kept
    reconcile busy for an hour. Every cid still fails the check, saying why."""
    load_seed(isolated_settings, 60, 3, 5)
    monkeypatch.setattr(service, "COUNTS_CIDS_PER_ASK", 1)  # one ask per cid: the others are not asked
    api = _UnreachableApi()
    result = _reconcile(isolated_settings, api)
    assert len(api.asked) == 1 and len(result.ledgers) == 3
    first, *others = result.ledgers
    assert any("unreachable after 8 attempts" in e for e in first.errors)
    assert all(any(e == f"counts endpoint: not asked: it failed for cid {first.cid}" for e in x.errors) for x in others)
    assert not result.ok
