"""The worker's use case: land one batch of notes of one cid in the CDP, exactly once.

validate → resolve (one contacts query, one users query) → transform (the core's rules)
→ one unordered bulk insert → duplicate keys re-read and settled one by one (identical:
nothing; edited in CDP: never overwritten; otherwise a conditional update) → parking
with SPEC §3's reasons → landed notes leave the parked collection.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import Int64, ObjectId

from crm_notes_migration.cdp.store import NoteStore
from crm_notes_migration.contract import NoteV1, escape_unstorable, validate_note
from crm_notes_migration.transform import (
    EDITED_IN_CDP,
    INVALID_NOTE,
    Resolution,
    TransformOptions,
    note_object_id,
    source_sha256,
    transform_note,
)
from crm_notes_migration.usecases.contact_gone import document_stays

Resolver = Callable[[int, Sequence[NoteV1]], list[Resolution]]

#: How often a conditional update that lost a race is re-read and decided again.
_MAX_REPLACE_ATTEMPTS = 3
#: Notes transformed per insert: chunk k is written while chunk k+1 is transformed.
INSERT_CHUNK = 250
#: Largest note content (UTF-8 bytes) a parked record keeps whole: a MongoDB document is
#: at most 16 MiB, and a note over that must still be parked with its reason, not lost
#: in the dead-letter queue with a failing insert. A larger content is kept as its first
#: PARKED_CONTENT_KEPT_BYTES, and `note_truncated` says what was cut (length and sha256
#: of the whole); `retry-parked` leaves such a record alone: it can only be sent again
#: from the CRM.
PARKED_CONTENT_MAX_BYTES = 12 * 1024 * 1024
PARKED_CONTENT_KEPT_BYTES = 1024 * 1024


#: Longest error text a parked record's `detail` keeps.
MAX_ERROR_DETAIL = 500


class StillChanging(RuntimeError):
    """Stored documents kept changing under the batch (concurrent writers): the batch is
    decided again on its next delivery, never parked for it."""


@dataclass
class IngestSummary:
    """What one call did, note by note."""

    inserted: int = 0
    unchanged: int = 0
    updated: int = 0
    parked: Counter[str] = field(default_factory=Counter)
    unparked: int = 0
    landed_ids: list[int] = field(default_factory=list)

    def merge(self, other: IngestSummary) -> None:
        self.inserted += other.inserted
        self.unchanged += other.unchanged
        self.updated += other.updated
        self.parked.update(other.parked)
        self.unparked += other.unparked
        self.landed_ids.extend(other.landed_ids)


def _usable_id(raw: Any) -> int | None:
    value = raw.get("legacy_crm_note_id") if isinstance(raw, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def park_record(cid: int, legacy_id: int, payload: Any, reason: str, detail: str) -> dict[str, Any]:
    """A `contact_notes_migration_parked` record (without its timestamps and attempts);
    a content over PARKED_CONTENT_MAX_BYTES is cut (see there). What a store refuses in a
    string (NUL, a lone surrogate) is kept as the text of its JSON escape, so the record
    can always be stored; `note_escaped` then says the stored note is not the one sent
    (`retry-parked` leaves it alone: only the CRM has the note as it was)."""
    stored = escape_unstorable(payload)
    record = {
        "_id": note_object_id(cid, legacy_id),
        "cid": Int64(cid),
        "legacy_crm_note_id": Int64(legacy_id),
        "reason": reason,
        "detail": escape_unstorable(detail),
        "note": stored,
    }
    if stored is not payload:
        record["note_escaped"] = True
        payload = stored
    content = payload.get("content_html") if isinstance(payload, dict) else None
    # a str of n characters is at most 4n bytes in UTF-8: most notes skip the encoding
    if isinstance(content, str) and len(content) * 4 > PARKED_CONTENT_MAX_BYTES:
        whole = content.encode("utf-8", "surrogatepass")
        if len(whole) > PARKED_CONTENT_MAX_BYTES:
            kept = whole[:PARKED_CONTENT_KEPT_BYTES].decode("utf-8", "ignore")  # cut on a character
            record["note"] = {**payload, "content_html": kept}
            record["note_truncated"] = {
                "content_html_bytes": len(whole),
                "content_html_sha256": hashlib.sha256(whole).hexdigest(),
                "kept_bytes": len(kept.encode("utf-8", "surrogatepass")),
            }
            record["detail"] = (
                f"{detail} (this record keeps the first {record['note_truncated']['kept_bytes']} "
                f"of the content's {len(whole)} bytes: too large to store whole)"
            )
    return record


def _same_document(doc: dict[str, Any], stored: dict[str, Any]) -> bool:
    return doc == {k: v for k, v in stored.items() if k != "migrated_at"}


def _edited_in_cdp(stored: dict[str, Any]) -> bool:
    legacy_updated_at = (stored.get("migration") or {}).get("legacy_updated_at")
    return stored.get("updated_at") != legacy_updated_at


def _valid_notes(
    cid: int, raw_notes: Sequence[dict[str, Any]], parks: list[dict[str, Any]]
) -> tuple[list[NoteV1], dict[int, dict[str, Any]]]:
    notes: list[NoteV1] = []
    payloads: dict[int, dict[str, Any]] = {}
    for raw in raw_notes:
        note, detail = validate_note(raw)
        if note is None:
            lid = _usable_id(raw)
            if lid is not None:
                parks.append(park_record(cid, lid, raw, INVALID_NOTE, detail))
            continue
        if note.legacy_crm_note_id in payloads:
            continue  # the same note twice in one batch: the first copy decides
        payloads[note.legacy_crm_note_id] = raw
        notes.append(note)
    return notes, payloads


def ingest_notes(
    store: NoteStore,
    resolve: Resolver,
    cid: int,
    raw_notes: Sequence[dict[str, Any]],
    options: TransformOptions,
    now: datetime,
    chunk: int = INSERT_CHUNK,
) -> IngestSummary:
    """Land `raw_notes` (contract dicts) of `cid`: after it, each note is in `contact_notes`
    or parked with its reason (an `edited_in_cdp` note is in both). Safe to repeat and to
    run concurrently with itself: the deterministic `_id` and conditional updates decide.

    Round trips: one read of the batch's stored documents (started first, it runs while
    the batch is resolved and transformed), unordered inserts of the new documents in
    chunks (chunk k is written while chunk k+1 is transformed), conditional updates only
    where a stored document differs, one park write and one unpark delete. The store is
    called from one I/O thread at a time, never concurrently."""
    summary = IngestSummary()
    parks: list[dict[str, Any]] = []
    notes, payloads = _valid_notes(cid, raw_notes, parks)
    docs: dict[int, dict[str, Any]] = {}
    new_sources: dict[int, str] = {}
    duplicates: list[int] = []
    with ThreadPoolExecutor(1, thread_name_prefix="ingest-io") as io:
        wanted = list(payloads) + [int(p["legacy_crm_note_id"]) for p in parks]
        reading = io.submit(store.find_notes, cid, wanted)
        resolutions = resolve(cid, notes)
        contacts = {n.legacy_crm_note_id: r.contact_ids for n, r in zip(notes, resolutions, strict=True)}
        writes = []
        for start in range(0, len(notes), chunk):
            fresh = []
            for note, resolution in zip(notes[start : start + chunk], resolutions[start : start + chunk], strict=True):
                result = transform_note(cid, note, resolution, options)
                lid = note.legacy_crm_note_id
                if result.document is None:
                    parks.append(park_record(cid, lid, payloads[lid], result.reason or INVALID_NOTE, result.detail))
                    new_sources[lid] = source_sha256(cid, note)
                else:
                    docs[lid] = result.document
                    fresh.append(result.document)
            stored = reading.result()  # needed from the first insert on; long done by now
            fresh = [d for d in fresh if int(d["legacy_crm_note_id"]) not in stored]
            writes.append(io.submit(store.insert_notes, fresh, now))
        stored = reading.result()
        for w in writes:
            duplicates.extend(w.result())

    raced = set(duplicates)
    summary.inserted = len(docs) - len(raced) - sum(1 for lid in docs if lid in stored)
    landed = [lid for lid in docs if lid not in raced and lid not in stored]
    existing = {lid: docs[lid] for lid in docs if lid in stored or lid in raced}
    if existing:
        known = {lid: stored[lid] for lid in existing if lid in stored}
        landed += _settle_existing(store, cid, existing, known, payloads, parks, summary, now)

    parks = _parks_of_migrated_notes(store, cid, stored, docs.keys(), new_sources, contacts, parks)
    # in batch order (sorting ObjectIds compares them in Python: ~0.7 µs per note)
    summary.unparked = store.unpark(cid, [docs[lid]["_id"] for lid in landed])
    store.park(parks, now)
    summary.parked.update(p["reason"] for p in parks)
    summary.landed_ids = landed
    return summary


def _settle_existing(
    store: NoteStore,
    cid: int,
    wanted: dict[int, dict[str, Any]],
    known: dict[int, dict[str, Any]],
    payloads: dict[int, dict[str, Any]],
    parks: list[dict[str, Any]],
    summary: IngestSummary,
    now: datetime,
) -> list[int]:
    """Decide, for notes whose `_id` exists already, between nothing, an update and
    parking as `edited_in_cdp`. `known`: stored documents read already (a stale one only
    costs a retry: updates are conditional). Returns the legacy ids that count as landed."""
    landed: list[int] = []
    pending = dict(wanted)
    for attempt in range(_MAX_REPLACE_ATTEMPTS):
        if not pending:
            break
        if attempt == 0:
            missing = [lid for lid in pending if lid not in known]
            stored_by_id = {**known, **(store.find_notes(cid, missing) if missing else {})}
        else:
            stored_by_id = store.find_notes(cid, list(pending))
        retry: dict[int, dict[str, Any]] = {}
        for lid, doc in pending.items():
            stored = stored_by_id.get(lid)
            if stored is None:  # gone meanwhile: insert it again
                if store.insert_notes([doc], now):
                    retry[lid] = doc
                else:
                    summary.inserted += 1
                    landed.append(lid)
            elif _same_document(doc, stored):
                summary.unchanged += 1
                landed.append(lid)
            elif _edited_in_cdp(stored):
                if stored.get("migration", {}).get("source_sha256") != doc["migration"]["source_sha256"]:
                    detail = "the CDP copy was edited by a user; the newer legacy version was not applied"
                    parks.append(park_record(cid, lid, payloads[lid], EDITED_IN_CDP, detail))
                else:
                    summary.unchanged += 1
                    landed.append(lid)
            elif store.replace_note(doc, stored["updated_at"]):
                summary.updated += 1
                landed.append(lid)
            else:
                retry[lid] = doc
        pending = retry
    if pending:
        raise StillChanging(f"cid {cid}: notes {sorted(pending)} kept changing while being written")
    return landed


def _parks_of_migrated_notes(
    store: NoteStore,
    cid: int,
    stored: dict[int, dict[str, Any]],
    landed_here: Set[int],
    new_sources: dict[int, str],
    contacts: Mapping[int, Sequence[ObjectId]],
    parks: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Which parks to write, for notes that are (or were, at the start of the batch) in
    `contact_notes`. SPEC §3: every in-scope note in exactly one of the two collections,
    a user's edit never overwritten, nothing lost. So, for a note that would park now:

    - already migrated from this very legacy version and its contact still carries the
      note's person (`document_stays`: e.g. a second contact took the same `source_id`),
      or written by this batch: it is accounted for, nothing is parked, the document stays;
    - migrated from an older legacy version, or its contact gone (deleted, or no longer
      carrying the person: SPEC §3 "Contact gone"), and edited in the CDP since: the
      user's edit stays, the note is parked as `edited_in_cdp` (SPEC's one exception),
      its detail naming the reason it could not land anyway;
    - the same, not edited: the document is withdrawn (only if still unedited: the delete
      is conditional on `updated_at`) and the note parked with its reason; it lands once
      that is fixed (`retry-parked`). Keeping the stale copy would leave the note in both
      collections, or drop the newer version;
    - an invalid note (no source checksum to compare) keeps the earlier behaviour: the
      document stays and nothing is parked.
    """
    out: list[dict[str, Any]] = []
    for park in parks:
        lid = int(park["legacy_crm_note_id"])
        old = stored.get(lid)
        if park["reason"] == EDITED_IN_CDP or (old is None and lid not in landed_here):
            out.append(park)
            continue
        if old is None or document_stays(old, contacts.get(lid, ()), new_sources.get(lid)):
            continue
        if _edited_in_cdp(old):
            detail = (
                f"the CDP copy was edited by a user and stays; this legacy version was not applied "
                f"(it would park anyway: {park['reason']}: {park['detail']})"
            )
            out.append({**park, "reason": EDITED_IN_CDP, "detail": detail})
        elif store.remove_note(cid, old["_id"], old["updated_at"]):
            out.append(park)
        else:  # edited or rewritten meanwhile: decided again on the next delivery
            raise StillChanging(f"cid {cid}: note {lid} changed while being parked")
    return out


def ingest_isolating(
    store: NoteStore,
    resolve: Resolver,
    cid: int,
    raw_notes: Sequence[dict[str, Any]],
    options: TransformOptions,
    now: datetime,
    is_transient: Callable[[BaseException], bool],
) -> IngestSummary:
    """`ingest_notes`, where one note never fails its batch (SPEC §4): when the batch
    fails for a reason that is not transient, it is halved and each half ingested again
    (safe: ingesting is idempotent), down to the notes that fail alone, which are parked
    `invalid_note` with the error as detail; the rest lands. A transient error (and
    `StillChanging`) is raised as is, for the queue to retry the whole batch."""
    try:
        return ingest_notes(store, resolve, cid, raw_notes, options, now)
    except StillChanging:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(raw_notes) > 1:
            half = len(raw_notes) // 2
            summary = ingest_isolating(store, resolve, cid, raw_notes[:half], options, now, is_transient)
            summary.merge(ingest_isolating(store, resolve, cid, raw_notes[half:], options, now, is_transient))
            return summary
        lid = _usable_id(raw_notes[0]) if raw_notes else None
        if lid is None:
            raise
        error = " ".join(f"{type(exc).__name__}: {exc}".split())[:MAX_ERROR_DETAIL]
        store.park([park_record(cid, lid, raw_notes[0], INVALID_NOTE, f"could not be stored: {error}")], now)
        summary = IngestSummary()
        summary.parked[INVALID_NOTE] += 1
        return summary
