"""A full `run` over a small synthetic seed reaches exactly the seed's expectations."""

from __future__ import annotations

import pymongo

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_devtools.stack import LocalStack
from tests.e2e.run_support import run_cli


def test_full_run_on_a_small_seed_matches_its_expectations(isolated_settings, tmp_path):
    expectations = load_seed(isolated_settings, 900, 6, 7).to_json()
    with LocalStack(isolated_settings, tmp_path / "stack") as stack:
        code, out, err = run_cli(stack.settings, tmp_path, "--batch-size", "100", "--wait-timeout", "120")
        worker_log = stack.log_tail("worker1", 30)
    assert out is not None, err + worker_log
    rows = {r["cid"]: r for r in out["cids"]}
    expected = {int(c): e for c, e in expectations["per_cid"].items() if e["in_scope"]}
    assert set(rows) == set(expected)
    for cid, exp in expected.items():
        row = rows[cid]
        want_parked = {k: v for k, v in exp["parked"].items() if v}
        assert (row["in_scope"], row["migrated"], row["parked"], row["pending"]) == (
            exp["in_scope"],
            exp["migrated"],
            want_parked,
            0,
        ), (cid, worker_log)
    assert code == 0, err
    db = pymongo.MongoClient(isolated_settings.cdp_mongodb_uri)[isolated_settings.cdp_mongodb_db]
    total = expectations["totals"]
    assert (
        sum(db.contact_notes.count_documents({"cid": c, "source": "crm_migration"}) for c in expected)
        == total["migrated"]
    )
