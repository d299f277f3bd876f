"""A small seed, extracted with the CRM reader and posted through the API, lands exactly
as the seed's expectations say, per cid and per reason code."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.transform import legacy_note_to_contract

from .cdp_support import ApiServer, batch, start_worker, stop_process, wait_until


def test_small_seed_lands_as_expected(isolated_settings, tmp_path):
    settings = isolated_settings
    expectations = load_seed(settings, 300, 4, 7)
    tz = ZoneInfo(settings.crm_timezone)
    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        with ApiServer(settings) as api, CrmSource(settings.crm_database_url) as source:
            for cid in source.cids():
                for k, page in enumerate(source.iter_pages(cid, 0, source.max_note_id(cid), 40)):
                    notes = [legacy_note_to_contract(n, users, tz)[0] for n, users in page]
                    r = api.post_batch(batch(cid, f"seed-{cid}-{k}", notes))
                    assert r.status_code == 202 and r.json()["rejected"] == [], r.text

            def all_drained():
                return all(c["pending"] == 0 for c in api.counts()["cids"])

            wait_until(all_drained, 90, what="the seed to drain")
            got = {c["cid"]: c for c in api.counts()["cids"]}
        expected = {int(cid): e for cid, e in expectations.per_cid.items() if e["in_scope"]}
        assert set(got) == set(expected)
        for cid, e in expected.items():
            assert got[cid]["migrated"] == e["migrated"], cid
            assert got[cid]["parked"] == {r: n for r, n in e["parked"].items() if n}, cid
        reasons = {r for c in got.values() for r in c["parked"]}
        assert {"contact_not_found", "ambiguous_contact", "content_too_large"} <= reasons
        db = open_database(settings)
        total = sum(e["in_scope"] for e in expected.values())
        migrated = db.contact_notes.count_documents({"source": "crm_migration"})
        assert migrated + db.contact_notes_migration_parked.count_documents({}) == total
        # the seed's CDP-authored notes are still there, beside the migration documents
        authored = expectations.to_json()["cdp_authored"]["notes"]
        assert authored > 0 and db.contact_notes.count_documents({}) == migrated + authored
    finally:
        assert stop_process(worker) == 0
