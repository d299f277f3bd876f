"""Opening the CDP MongoDB database and creating the indexes the migration relies on."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from crm_notes_migration.transform.note import SOURCE

CONTACT_NOTES = "contact_notes"
PARKED = "contact_notes_migration_parked"
BATCHES = "migration_batches"
CONTACTS = "contacts"
USERS = "users"

#: MongoDB error codes a store answers when it does not support partial indexes
#: (FerretDB: 238 NotImplemented; some versions say 2 BadValue or 67 CannotCreateIndex).
_PARTIAL_UNSUPPORTED = {238, 2, 67, 115}

#: IndexOptionsConflict / IndexKeySpecsConflict: the same keys are indexed under another name.
_SAME_INDEX_OTHER_NAME = {85, 86}

log = logging.getLogger(__name__)

#: `source` of a migration document (SPEC §3); a CDP-authored note has none.
MIGRATION_SOURCE = SOURCE


def migration_documents(cids: int | Iterable[int]) -> dict[str, Any]:
    """The filter of the migration documents of one cid or of these cids (SPEC §3:
    `contact_notes` is shared; the migration reads, counts and changes only these)."""
    if isinstance(cids, int):
        scope: Any = cids
    else:
        scope = {"$in": sorted({int(c) for c in cids})}
    return {"cid": scope, "source": MIGRATION_SOURCE, "legacy_crm_note_id": {"$exists": True}}


def is_ferretdb(db: Database) -> bool:
    """Whether the store is FerretDB (its `buildInfo` has `ferretdbVersion`): the store
    adapter then takes its one-pass forms, FerretDB scanning its table on every filter."""
    client = db.client
    known = _FERRETDB.get(client)
    if known is None:
        known = "ferretdbVersion" in client.admin.command("buildInfo")
        _FERRETDB[client] = known
    return known


_FERRETDB: weakref.WeakKeyDictionary[MongoClient, bool] = weakref.WeakKeyDictionary()


def open_database(settings, **client_options) -> Database:
    """The CDP database of `settings`; datetimes come back aware (UTC)."""
    client: MongoClient = MongoClient(settings.cdp_mongodb_uri, tz_aware=True, tzinfo=UTC, **client_options)
    return client[settings.cdp_mongodb_db]


def _ensure_plain_index(coll, keys) -> None:
    # `contacts` and `users` belong to the CDP, which may hold the same index by another name.
    try:
        coll.create_index(keys)
    except OperationFailure as exc:
        if exc.code not in _SAME_INDEX_OTHER_NAME:
            raise


def ensure_indexes(db: Database) -> dict[str, bool]:
    """Create the indexes of SPEC §3 (idempotent). Returns {"partial_unique": bool}:
    whether the identity index could be partial (FerretDB refuses partial indexes; the
    same unique index without the filter is created instead). On FerretDB it also readies
    the cid markers of the store (`cid_markers.py`)."""
    notes = db[CONTACT_NOTES]
    keys = [("cid", ASCENDING), ("legacy_crm_note_id", ASCENDING)]
    partial = True
    try:
        notes.create_index(
            keys,
            name="uniq_cid_legacy_crm_note_id",
            unique=True,
            partialFilterExpression={"legacy_crm_note_id": {"$exists": True}},
        )
    except OperationFailure as exc:
        if exc.code not in _PARTIAL_UNSUPPORTED and "partial" not in str(exc).lower():
            raise
        log.info("store refuses partial indexes (%s); creating the plain unique index", exc.code)
        partial = False
        notes.create_index(keys, name="uniq_cid_legacy_crm_note_id", unique=True)
    indexed = (
        (CONTACTS, "source_id"),
        (USERS, "email"),
        (PARKED, "reason"),
        (PARKED, "legacy_crm_note_id"),
        (BATCHES, "status"),
    )
    for coll, field in indexed:
        _ensure_plain_index(db[coll], [("cid", ASCENDING), (field, ASCENDING)])
    if is_ferretdb(db):  # before the first batch arrives, so no cid of it is marked as written
        from .cid_markers import CidMarkers

        CidMarkers(db).initialise()
    return {"partial_unique": partial}


def put_per_cid(coll: Collection[Any], cid: int, doc: dict[str, Any]) -> None:
    """Replace the cid's one record of `coll` (`_id` = cid), inserting it the first time.
    No upsert: FerretDB's is a query then an insert, not atomic; a record written meanwhile
    by another process is replaced on the next try."""
    key = {"_id": doc["_id"], "cid": doc["cid"]}
    for _ in range(3):
        if coll.replace_one(key, doc).matched_count:
            return
        try:
            coll.insert_one(doc)
            return
        except DuplicateKeyError:
            continue


def cids_with_migration_records(db: Database[Any], cids: Iterable[int]) -> set[int]:
    """Those of `cids` of which the migration holds a migration document or a parked record
    (one short query per cid, each naming it)."""
    held = set()
    for cid in sorted({int(c) for c in cids}):
        if (
            db[CONTACT_NOTES].find_one(migration_documents(cid), {"_id": 1}) is not None
            or db[PARKED].find_one({"cid": cid}, {"_id": 1}) is not None
        ):
            held.add(cid)
    return held
