"""Retry parked notes: parked notes (not `edited_in_cdp`) run again through the ingest use case."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from crm_notes_migration.cdp.store import MongoNoteStore
from crm_notes_migration.transform import EDITED_IN_CDP, TransformOptions
from crm_notes_migration.usecases.ingest import IngestSummary, Resolver, ingest_notes

#: Parked notes re-run per call of the ingest use case.
CHUNK = 500


def retry_parked_notes(
    store: MongoNoteStore,
    resolver: Resolver,
    options: TransformOptions,
    cids: list[int],
    chunk: int = CHUNK,
) -> dict[int, IngestSummary]:
    """Re-run the parked notes of `cids` (every read and write names its cid), except
    `edited_in_cdp` ones and records that keep only part of their note (`note_truncated`:
    the note was too large to store whole; `note_escaped`: it held what the store refuses;
    either way only the CRM has it); those that land leave the parked collection. Per-cid summaries."""
    out: dict[int, IngestSummary] = {}
    for cid in cids:
        notes: list[dict[str, Any]] = []
        for rec in store.iter_parked(cid, exclude_reasons=(EDITED_IN_CDP,)):
            if rec.get("note_truncated") or rec.get("note_escaped"):
                continue
            note = rec.get("note")
            if note is not None:
                notes.append(json.loads(note) if isinstance(note, str) else note)
        total = IngestSummary()
        for start in range(0, len(notes), chunk):
            now = datetime.now(UTC)
            total.merge(ingest_notes(store, resolver, cid, notes[start : start + chunk], options, now))
        out[cid] = total
    return out
