"""The seed's in-scope notes as contract dicts, built as the extractor builds them (no database)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from crm_notes_devtools.seed.generator import generate
from crm_notes_migration.transform import LegacyAttachment, LegacyNote, LegacyUser, legacy_note_to_contract


def seed_contracts(notes: int, cids: int, seed: int, tz: str = "Asia/Jakarta") -> list[tuple[int, dict[str, Any]]]:
    """(cid, contract dict) of every in-scope note, in the seed's order."""
    zone = ZoneInfo(tz)
    users: dict[int, LegacyUser] = {}
    out = []
    for chunk in generate(notes, cids, seed):
        for row in chunk.crm_users:
            users[row[0]] = LegacyUser(*row)
        attachments: dict[int, list[LegacyAttachment]] = {}
        for att in chunk.attachments:
            attachments.setdefault(att[1], []).append(LegacyAttachment(*att))
        for row in chunk.notes:
            legacy = LegacyNote(*row, attachments=tuple(attachments.get(row[0], ())))
            if legacy.in_scope:
                out.append((chunk.cid, legacy_note_to_contract(legacy, users, zone)[0]))
    return out
