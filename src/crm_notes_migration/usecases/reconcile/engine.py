"""Reconcile one cid: the CRM's in-scope notes against `contact_notes` and the parked notes.

Three ascending streams per cid are merged by legacy note id (`diff.merge_sorted`): the
source (re-transformed with the core, one page at a time), the stored documents and the
parked records (from `snapshot`: per-cid index ranges, or a sorted on-disk snapshot), of
migration documents only. Nothing of other cids, and no id set, is held in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.database import Database

from crm_notes_migration.cdp.mongo import CONTACT_NOTES, PARKED
from crm_notes_migration.cdp.signoffs import Fingerprint
from crm_notes_migration.contract import validate_note
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.transform import (
    EDITED_IN_CDP,
    INVALID_NOTE,
    LegacyNote,
    TransformOptions,
    legacy_note_to_contract,
    source_sha256,
    transform_note,
)
from crm_notes_migration.usecases.contact_gone import document_stays
from crm_notes_migration.usecases.reconcile.checks import EXPECTED_PARKED, compare_document, is_edited, is_edited_in_cdp
from crm_notes_migration.usecases.reconcile.diff import merge_sorted
from crm_notes_migration.usecases.reconcile.ledger import CidLedger
from crm_notes_migration.usecases.reconcile.sample import Sample, StratifiedSampler
from crm_notes_migration.usecases.reconcile.snapshot import CidStores, IndexedStreams, note_id_of

#: Source notes transformed per page (one contacts + one users query per page).
DEFAULT_PAGE_SIZE = 500


@dataclass(slots=True)
class Expected:
    """One in-scope source note and what the core makes of it today."""

    note: LegacyNote
    contract: dict[str, Any]
    document: dict[str, Any] | None
    reason: str | None
    anomalies: list[str] = field(default_factory=list)
    #: Contacts of the cid that carry the note's person now; the source checksum of a note
    #: that would park (None when invalid): what `document_stays` needs.
    contact_ids: tuple[Any, ...] = ()
    source_sha256: str | None = None


#: Receives (cid, contract note, stored document or None) for each note a re-send repairs.
RepairSink = Callable[[int, dict[str, Any], dict[str, Any] | None], None]


def expected_notes(
    db: Database[Any],
    source: CrmSource,
    cid: int,
    tz: ZoneInfo,
    options: TransformOptions,
    page_size: int = DEFAULT_PAGE_SIZE,
    stores: CidStores | None = None,
) -> Iterator[Expected]:
    """The cid's in-scope notes, ascending, each re-transformed exactly as the worker would
    (people and users resolved through `stores`: default, per-page queries on `db`)."""
    stores = stores or IndexedStreams(db)
    upto = source.max_note_id(cid)
    for page in source.iter_pages(cid, 0, upto, page_size):
        built = [(note, *legacy_note_to_contract(note, users, tz)) for note, users in page]
        checked = [(i, validate_note(contract)[0]) for i, (_, contract, _) in enumerate(built)]
        valid = [(i, n) for i, n in checked if n is not None]
        resolutions = dict(zip((i for i, _ in valid), stores.resolve(cid, [n for _, n in valid]), strict=True))
        notes = dict(valid)
        results = {i: transform_note(cid, n, resolutions[i], options) for i, n in valid}
        for i, (note, contract, anomalies) in enumerate(built):
            result = results.get(i)
            if result is None:
                yield Expected(note, contract, None, INVALID_NOTE, list(anomalies))
            else:
                sha = source_sha256(cid, notes[i]) if result.document is None else None
                yield Expected(
                    note,
                    contract,
                    result.document,
                    result.reason,
                    list(anomalies) + result.anomalies,
                    resolutions[i].contact_ids,
                    sha,
                )


def _note_id(doc: dict[str, Any]) -> int:
    return note_id_of(doc.get("legacy_crm_note_id"))


def reconcile_cid(
    db: Database[Any],
    source: CrmSource,
    cid: int,
    *,
    tz: ZoneInfo,
    options: TransformOptions,
    sampler: StratifiedSampler | None = None,
    repair: RepairSink | None = None,
    cap: int = 50,
    page_size: int = DEFAULT_PAGE_SIZE,
    stores: CidStores | None = None,
) -> CidLedger:
    """Walks the cid once; returns its ledger, with the fingerprint of the documents it
    read. Offers every in-scope note to `sampler` and hands each missing or mismatched one
    to `repair`. The stored side comes from `stores` (default: per-cid queries on `db`)."""
    ledger = CidLedger(cid=cid, cap=cap)
    fingerprint = Fingerprint()
    stores = stores or IndexedStreams(db)
    merged = merge_sorted(
        {
            "source": (expected_notes(db, source, cid, tz, options, page_size, stores), lambda e: e.note.id),
            "documents": (stores.stream(CONTACT_NOTES, cid), _note_id),
            "parked": (stores.stream(PARKED, cid), _note_id),
        }
    )
    for row in merged:
        found, docs, parked = row.items
        ledger.store_documents += len(docs)
        for doc in docs:
            fingerprint.add(doc)
        for rec in parked:
            ledger.store_parked[str(rec.get("reason"))] += 1
        if not found:
            if docs and not parked and all(is_edited(d) for d in docs):
                ledger.kept_edited_in_cdp.add(row.key)  # left scope, kept for a user's edit: information
            else:
                ledger.extra.add(row.key)
            continue
        outcome, problems = _account(ledger, found[0], docs, parked, repair, cid)
        if sampler is not None:
            sampler.offer(_sample(cid, found[0], docs[0] if docs else None, outcome, problems))
    ledger.fingerprint = fingerprint.value()
    return ledger


def _account(
    ledger: CidLedger,
    exp: Expected,
    docs: list[dict[str, Any]],
    parked: list[dict[str, Any]],
    repair: RepairSink | None,
    cid: int,
) -> tuple[str, list[str]]:
    """Books one in-scope note; returns (outcome, problem kinds) for the sample."""
    note_id = exp.note.id
    ledger.in_scope += 1
    ledger.anomalous_notes += bool(exp.anomalies)
    for code in exp.anomalies:
        ledger.add_anomaly(note_id, code.split(":", 1)[0])
    if len(docs) > 1:
        ledger.duplicates.add(note_id)
    doc = docs[0] if docs else None
    park = parked[0] if parked else None
    if doc is not None:
        ledger.migrated += 1
        edited = is_edited_in_cdp(doc)
        if park is not None and not (edited and park.get("reason") == EDITED_IN_CDP):
            ledger.duplicates.add(note_id)
        if edited:
            ledger.edited_in_cdp.add(note_id)
            return "edited_in_cdp", []
        if exp.document is None and document_stays(doc, exp.contact_ids, exp.source_sha256):
            return "migrated", []  # as the worker keeps it (SPEC §3 "Contact gone")
        kinds = [EXPECTED_PARKED] if exp.document is None else compare_document(doc, exp.document)
        if kinds:
            ledger.add_mismatch(note_id, kinds)
            if repair is not None:
                repair(cid, exp.contract, doc)
            return "mismatch", kinds
        return "migrated", []
    if park is not None and park.get("reason") != EDITED_IN_CDP:
        reason = str(park.get("reason"))
        ledger.parked[reason] += 1
        if exp.reason != reason:
            ledger.parked_stale.add(note_id)
        return f"parked:{reason}", []
    ledger.missing.add(note_id)
    if repair is not None:
        repair(cid, exp.contract, None)
    return "missing", ["missing"]


def _sample(cid: int, exp: Expected, doc: dict[str, Any] | None, outcome: str, problems: list[str]) -> Sample:
    note = exp.note
    return Sample(
        cid=cid,
        legacy_crm_note_id=note.id,
        outcome=outcome,
        legacy_html=note.content,
        legacy_created_at=note.created_at,
        legacy_updated_at=note.updated_at,
        legacy_attachments=[
            {"id": a.id, "name": a.file_name, "url": a.file_url} for a in sorted(note.attachments, key=lambda a: a.id)
        ],
        migrated_html=doc.get("content") if doc else None,
        migrated_created_at=doc.get("created_at") if doc else None,
        migrated_updated_at=doc.get("updated_at") if doc else None,
        migrated_attachments=list(doc.get("attachments") or []) if doc else [],
        mentions=[str(m.get("name")) for m in (doc.get("mentions") or [])] if doc else [],
        legacy_author=exp.contract.get("author"),
        migrated_author=str(doc["created_by"]) if doc and doc.get("created_by") is not None else None,
        legacy_mentioned=list(exp.contract.get("mentioned_users") or []),
        anomalies=list(exp.anomalies),
        problems=list(problems),
    )
