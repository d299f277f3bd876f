"""`run --dry-run`: read and transform locally with the same core, send and write nothing.

Each page goes through exactly what the worker does before writing: the contract form
(`legacy_note_to_contract`), `validate_note`, the CDP lookups (`resolve_notes`, reads
only) and `transform_note`. The outcome per cid: notes that would land, and notes that
would be parked, per reason. `edited_in_cdp` cannot be predicted without the worker's
write path and is not reported here.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.database import Database

from crm_notes_migration.cdp.resolve import resolve_notes
from crm_notes_migration.contract import validate_note
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.transform import INVALID_NOTE, TransformOptions, legacy_note_to_contract, transform_note
from crm_notes_migration.usecases.extract import CidReport, Progress, RunReport


def dry_run(
    source: CrmSource,
    db: Database[Any],
    cids: list[int],
    tz: ZoneInfo,
    options: TransformOptions,
    batch_size: int,
    progress: Progress,
    stop: threading.Event,
) -> RunReport:
    """What `run` would do for each cid, computed locally."""
    rows: list[CidReport] = []
    for cid in cids:
        if stop.is_set():
            break
        high_water = source.max_note_id(cid)
        row = CidReport(cid, in_scope=source.count_in_scope(cid, 0, high_water), would_land=0)
        parked: Counter[str] = Counter()
        would_land = 0
        progress.start_cid(cid, row.in_scope, 0)
        for page in source.iter_pages(cid, 0, high_water, batch_size):
            if stop.is_set():
                break
            valid = []
            for legacy, users in page:
                note, _ = validate_note(legacy_note_to_contract(legacy, users, tz)[0])
                if note is None:
                    parked[INVALID_NOTE] += 1
                else:
                    valid.append(note)
            for note, resolution in zip(valid, resolve_notes(db, cid, valid), strict=True):
                result = transform_note(cid, note, resolution, options)
                if result.reason:
                    parked[result.reason] += 1
                else:
                    would_land += 1
                    row.would_land = would_land
            progress.advance(cid, len(page))
        row.parked = dict(parked)
        progress.finish_cid(cid)
        rows.append(row)
    return RunReport(rows, dry_run=True, interrupted=stop.is_set())
