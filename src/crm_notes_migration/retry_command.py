"""`retry-parked`: parked notes (not `edited_in_cdp`) run again through the ingest use case."""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from functools import partial

import typer

from .config import Settings
from .ingest import IngestSummary, ingest_notes
from .transform import EDITED_IN_CDP, TransformOptions

#: Parked notes re-run per call of the ingest use case.
CHUNK = 500


def retry_parked_notes(settings, db, cids: list[int], chunk: int = CHUNK) -> dict[int, IngestSummary]:
    """Re-run the parked notes of `cids`, except `edited_in_cdp` ones and records that keep
    only part of their note (`note_truncated`: the note was too large to store whole, so
    only the CRM has it); those that land leave the parked collection. Per-cid summaries.
    Every read and write names its cid (SPEC §3)."""
    from .cdp.resolve import resolve_notes
    from .cdp.store import MongoNoteStore

    store = MongoNoteStore(db)
    options = TransformOptions.from_settings(settings)
    resolver = partial(resolve_notes, db)
    out: dict[int, IngestSummary] = {}
    for cid in cids:
        notes = []
        for rec in store.iter_parked(cid, exclude_reasons=(EDITED_IN_CDP,)):
            if rec.get("note_truncated"):
                continue
            note = rec.get("note")
            notes.append(json.loads(note) if isinstance(note, str) else note)
        total = IngestSummary()
        for start in range(0, len(notes), chunk):
            now = datetime.now(timezone.utc)
            total.merge(ingest_notes(store, resolver, cid, notes[start:start + chunk], options, now))
        out[cid] = total
    return out


def retry_parked(cid: list[int] = typer.Option(None, "--cid", help="Only these companies.")) -> None:
    """Try parked notes again (after contacts were synced).

    Example: crm-notes-migrate retry-parked --cid 101 --cid 102
    """
    from .cdp.mongo import ensure_indexes, open_database

    settings = Settings()
    if cid:
        cids = sorted(set(cid))
    else:  # "every cid" is the CRM's list, never a read of the CDP's collections (SPEC §3)
        from .source.crm import CrmSource

        with CrmSource(settings.crm_database_url) as source:
            cids = source.known_cids()
    db = open_database(settings)
    ensure_indexes(db)
    results = retry_parked_notes(settings, db, cids)
    still = Counter()
    landed = 0
    for c, summary in sorted(results.items()):
        landed += len(summary.landed_ids)
        still.update(summary.parked)
        typer.echo(f"cid {c}: landed {len(summary.landed_ids)}, still parked {dict(summary.parked)}")
    typer.echo(f"retry-parked: {len(results)} cid(s), landed {landed}, still parked {sum(still.values())} {dict(still)}")
