"""What keeps reconcile linear in the notes on FerretDB (issue 19): the snapshot resolves a
cid's people and users exactly as the per-page store queries do, without asking the store;
the counts endpoint is asked for many cids at once, and each ledger still gets its own cid's
answer, in cid order."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from bson import Int64, ObjectId
from pymongo import monitoring

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_migration.cdp import note_streams
from crm_notes_migration.cdp.mongo import CONTACT_NOTES, CONTACTS, MIGRATION_SOURCE, USERS, is_ferretdb, open_database
from crm_notes_migration.cdp.note_streams import SpilledSnapshot
from crm_notes_migration.cdp.resolve import resolve_notes
from crm_notes_migration.cdp.signoffs import migration_fingerprints
from crm_notes_migration.usecases.reconcile import service
from tests.integration.test_reconcile import _reconcile


class _Reads(monitoring.CommandListener):
    """Names of the collections `find` was sent to."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.found.append(str(event.command.get("find")))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def _contact(cid, source_id):
    return {"_id": ObjectId(), "cid": cid, "source_id": source_id, "name": "x"}


def test_the_snapshot_resolves_people_and_users_like_the_store_queries(isolated_settings, tmp_path):
    reads = _Reads()
    db = open_database(isolated_settings, event_listeners=[reads])
    try:
        db[CONTACTS].insert_many(
            [
                _contact(Int64(1), "10"),
                _contact(Int64(1), "11"),
                _contact(Int64(1), "11"),  # ambiguous: two contacts of the person
                _contact(Int64(1), 12),  # not a string: `{"$in": ["12"]}` does not match it
                _contact(1.0, "13"),  # a double cid is the same cid
                _contact(Int64(2), "10"),  # same person id, another cid
                _contact(Int64(9), "14"),  # a cid not asked
            ]
        )
        first, second = ObjectId(), ObjectId()
        db[USERS].insert_many(
            [
                {"_id": second, "cid": Int64(1), "email": "A@x.org", "name": "second"},
                {"_id": first, "cid": Int64(1), "email": "a@x.org ", "name": "first"},  # first by _id wins
                {"_id": ObjectId(), "cid": Int64(1), "email": None, "name": "no email"},
                {"_id": ObjectId(), "cid": Int64(2), "email": "b@x.org", "name": "other cid"},
                {"_id": ObjectId(), "cid": Int64(9), "email": "a@x.org", "name": "not asked"},
            ]
        )
        notes = [SimpleNamespace(crm_person_id=p) for p in (10, 11, 12, 13, 14, 15, 10)]
        snapshot = SpilledSnapshot.build(db, tmp_path / "s.sqlite", [1, 2])
        try:
            for cid in (1, 2):
                reads.found.clear()
                got = snapshot.resolve(cid, notes)
                assert reads.found == [], "the snapshot asked the store"
                assert got == resolve_notes(db, cid, notes)
            one = snapshot.resolve(1, notes)
            assert [len(r.contact_ids) for r in one] == [1, 2, 0, 1, 0, 0, 1]
            assert one[0].users_by_email["a@x.org"].name == "first" and len(one[0].users_by_id) == 3
            assert snapshot.resolve(1, []) == []
        finally:
            snapshot.close()
    finally:
        db.client.close()


class _Counting:
    """The counts endpoint as reconcile sees it: every asked cid counts 0 (nothing migrated);
    asked for every cid, it answers for `known` (the cids it has received batches for)."""

    def __init__(self, drop: int | None = None, known: list[int] | None = None) -> None:
        self.asked: list[list[int] | None] = []
        self.drop = drop
        self.known = known or []

    def counts(self, cid=None, cids=None):
        assert cid is None, "reconcile asks by `cids`, or for every cid"
        self.asked.append(list(cids) if cids is not None else None)
        rows = [
            {"cid": c, "migrated": 0, "parked": {}, "pending": 0}
            for c in (self.known if cids is None else cids)
            if c != self.drop
        ]
        return {"cids": rows}


def test_the_counts_endpoint_is_asked_for_many_cids_at_once(isolated_settings, monkeypatch):
    load_seed(isolated_settings, 60, 3, 5)  # nothing migrated
    monkeypatch.setattr(service, "COUNTS_CIDS_PER_ASK", 3)
    api = _Counting()
    result = _reconcile(isolated_settings, api)
    cids = [x.cid for x in result.ledgers]
    assert cids == sorted(cids) and len(cids) == 3
    assert api.asked == [cids]  # one ask for the 3 cids

    def clean(result):
        return all(
            x.api_counts == {"cid": x.cid, "migrated": 0, "parked": {}, "pending": 0}
            and not x.api_differences
            and not x.errors
            for x in result.ledgers
        )

    assert clean(result)

    # more cids than one ask takes: every cid the endpoint knows at once (one pass on
    # FerretDB), then the cids it lacks, in asks of at most COUNTS_CIDS_PER_ASK
    monkeypatch.setattr(service, "COUNTS_CIDS_PER_ASK", 1)
    api = _Counting(known=[cids[0], cids[2], 999])
    result = _reconcile(isolated_settings, api)
    assert api.asked == [None, [cids[1]]]
    assert clean(result)
    monkeypatch.setattr(service, "COUNTS_CIDS_PER_ASK", 3)

    # a cid the answer leaves out fails its check, saying so; the others are checked
    api = _Counting(drop=cids[1])
    result = _reconcile(isolated_settings, api)
    by_cid = {x.cid: x for x in result.ledgers}
    assert by_cid[cids[1]].errors == [f"counts endpoint: its answer has no cid {cids[1]}: check the API's version"]
    assert not by_cid[cids[0]].errors and not by_cid[cids[2]].errors
    assert not result.ok


@pytest.mark.parametrize("per_ask", [1, 100])
def test_progress_comes_per_cid_in_cid_order(isolated_settings, monkeypatch, per_ask):
    load_seed(isolated_settings, 60, 3, 5)
    monkeypatch.setattr(service, "COUNTS_CIDS_PER_ASK", per_ask)
    seen: list[int] = []
    db = open_database(isolated_settings)
    try:
        from zoneinfo import ZoneInfo

        from crm_notes_migration.source.crm import CrmSource
        from crm_notes_migration.transform import TransformOptions

        with CrmSource(isolated_settings.crm_database_url) as source:
            cids = service.select_cids(source, None)
            result = service.reconcile(
                db,
                source,
                cids,
                tz=ZoneInfo(isolated_settings.crm_timezone),
                options=TransformOptions.from_settings(isolated_settings),
                client=_Counting(),
                on_cid=lambda ledger: seen.append(ledger.cid),
            )
    finally:
        db.client.close()
    assert seen == cids == [x.cid for x in result.ledgers]


def _migration_doc(cid, note_id, **extra):
    return {
        "_id": ObjectId(),
        "cid": Int64(cid),
        "source": MIGRATION_SOURCE,
        "legacy_crm_note_id": Int64(note_id),
        "contact_id": ObjectId(),
        "content": "<p>x</p>",
        "migration": {"content_sha256": f"c{note_id}", "source_sha256": f"s{note_id}"},
        **extra,
    }


@pytest.mark.parametrize("snapshot", [True, False], ids=["snapshot", "per-cid queries"])
def test_reconcile_fingerprints_the_documents_it_read_as_the_store_query_does(isolated_settings, monkeypatch, snapshot):
    """The fingerprint a report's sign-off is checked against comes from reconcile's own
    read: no second pass over `contact_notes` (one more whole-table scan on FerretDB)."""
    load_seed(isolated_settings, 60, 5, 7)
    db = open_database(isolated_settings)
    try:
        cids = sorted(db[CONTACTS].distinct("cid"))[:4]
        db[CONTACT_NOTES].insert_many(
            [_migration_doc(cids[0], 1), _migration_doc(cids[0], 2, created_by=ObjectId()), _migration_doc(cids[1], 3)]
            + [_migration_doc(cids[2], 4, legacy_crm_note_id="not an id")]  # an odd id still counts
            + [{"_id": ObjectId(), "cid": Int64(cids[0]), "content": "a CDP user's own note"}]
        )
        if not snapshot:
            monkeypatch.setattr(note_streams, "SNAPSHOT_MIN_CIDS", 10**6)
        reads = _StreamsOpened()
        monkeypatch.setattr(service, "open_streams", _counting(service.open_streams, reads))
        result = _reconcile(isolated_settings, workers=1)
        got = {ledger.cid: ledger.fingerprint for ledger in result.ledgers if ledger.cid in cids}
        assert got == migration_fingerprints(db, cids)
        assert got[cids[0]] != got[cids[3]] and got[cids[3]] == "0:" + "0" * 64
        assert reads.found == [snapshot and is_ferretdb(db)]  # the path this case is about
    finally:
        db.client.close()


class _StreamsOpened:
    """Per `open_streams` call, whether it gave the on-disk snapshot."""

    def __init__(self) -> None:
        self.found: list[bool] = []


def _counting(open_streams, reads):
    def wrapped(db, cids, directory):
        streams = open_streams(db, cids, directory)
        reads.found.append(streams.spec is not None)
        return streams

    return wrapped
