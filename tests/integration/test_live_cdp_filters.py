"""Every query the migration sends to `contact_notes` names its cids and the migration
source (issue 14, SPEC §3): the worker's reads and writes, the contact-gone check of a done
batch sent again, the counts, reconcile (index ranges and FerretDB's one pass) and
`retry-parked`, recorded by pymongo's command monitoring on the real store, with a second
tenant's notes (CDP-authored and migration-shaped) in the same collection."""

from __future__ import annotations

from functools import partial
from zoneinfo import ZoneInfo

from pymongo import monitoring

from crm_notes_migration.bootstrap import batch_handler as make_batch_handler
from crm_notes_migration.bootstrap import contact_resolver, note_store, transform_options
from crm_notes_migration.cdp import note_streams
from crm_notes_migration.cdp.counts import counts
from crm_notes_migration.cdp.mongo import CONTACT_NOTES, ensure_indexes, open_database
from crm_notes_migration.cdp.resolve import contacts_by_person
from crm_notes_migration.cdp.store import MongoNoteStore
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.transform import TransformOptions
from crm_notes_migration.usecases.contact_gone import notes_with_contact_gone
from crm_notes_migration.usecases.extract import build_batch
from crm_notes_migration.usecases.reconcile.service import reconcile, select_cids
from crm_notes_migration.usecases.retry_parked import retry_parked_notes
from tests.e2e.live_cdp_support import OTHER_TENANT, add_cdp_authored_notes, raw_notes
from tests.e2e.run_support import load_fixture

CIDS = (11, 12, 13)
#: Commands that read, count or change documents, and where their filters are.
_FILTERS = {
    "find": lambda c: [c.get("filter", {})],
    "count": lambda c: [c.get("query", {})],
    "distinct": lambda c: [c.get("query", {})],
    "aggregate": lambda c: [(c.get("pipeline") or [{}])[0].get("$match", {})],
    "delete": lambda c: [d.get("q", {}) for d in c.get("deletes", [])],
    "update": lambda c: [u.get("q", {}) for u in c.get("updates", [])],
    "findAndModify": lambda c: [c.get("query", {})],
}


class Recorder(monitoring.CommandListener):
    """(command name, filter) of every command on `contact_notes`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in _FILTERS and event.command.get(name) == CONTACT_NOTES:
            self.seen.extend((name, dict(f)) for f in _FILTERS[name](event.command))

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def _cids_named(filt: dict) -> set[int]:
    value = filt.get("cid")
    if isinstance(value, dict) and "$in" in value:
        return {int(c) for c in value["$in"]}
    return {int(value)} if isinstance(value, int) else set()


def test_every_query_on_contact_notes_names_its_cids_and_the_migration_source(isolated_settings, monkeypatch):
    settings = isolated_settings
    load_fixture(settings, cids=CIDS)
    recorder = Recorder()
    db = open_database(settings, event_listeners=[recorder])
    ensure_indexes(db)
    cdp_ids = add_cdp_authored_notes(db, CIDS)
    before = raw_notes(db, cdp_ids)
    tz, options = ZoneInfo(settings.crm_timezone), TransformOptions.from_settings(settings)
    ingest = make_batch_handler(settings, db)
    store = MongoNoteStore(db)
    recorder.seen.clear()
    try:
        with CrmSource(settings.crm_database_url) as source:
            batches = [
                build_batch(cid, page, tz)
                for cid in CIDS
                for page in source.iter_pages(cid, 0, source.max_note_id(cid), 20)
            ]
            for b in batches:  # the worker, twice: first landing, then every note already there
                ingest(b["cid"], b["batch_id"], b["notes"])
                ingest(b["cid"], b["batch_id"], b["notes"])
            # a contact deleted: the check of a done batch sent again, then the worker on what it found
            gone_contact = db.contacts.find_one({"cid": 11})
            db.contacts.delete_one({"_id": gone_contact["_id"]})
            for b in batches:
                gone = notes_with_contact_gone(store, partial(contacts_by_person, db), b["cid"], b["notes"])
                if gone:
                    ingest(b["cid"], b["batch_id"] + ":recheck", [dict(n) for n, _ in gone])
            counts(db, 11)
            counts(db, list(CIDS))
            counts(db)
            cids = select_cids(source, None)
            assert cids == list(CIDS)
            one = reconcile(db, source, cids, tz=tz, options=options)
            monkeypatch.setattr(note_streams, "SNAPSHOT_MIN_CIDS", 1)  # FerretDB's one pass too
            other = reconcile(db, source, cids, tz=tz, options=options)
            retry_parked_notes(note_store(db), contact_resolver(db), transform_options(settings), source.known_cids())
    finally:
        db.client.close()

    assert one.ok and other.ok, one.as_dict()["totals"]
    assert recorder.seen, "the store was never asked"
    kinds = {name for name, _ in recorder.seen}
    assert {"find", "aggregate", "delete"} <= kinds, kinds  # reads, counts and a withdrawal were all seen
    for name, filt in recorder.seen:
        assert filt.get("source") == "crm_migration", (name, filt)
        named = _cids_named(filt)
        assert named and named <= set(CIDS) and OTHER_TENANT not in named, (name, filt)
    check = open_database(settings)
    try:
        assert raw_notes(check, list(before)) == before
    finally:
        check.client.close()
