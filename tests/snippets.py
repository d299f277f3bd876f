"""The realistic editor snippets of tests/data/editor_snippets.json, and one note body
through the transform's content rules with Budi as the mentionable CDP user: the unit
tests and the browser tests judge the same output."""

from __future__ import annotations

import json
from pathlib import Path

from bson import ObjectId

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import CdpUser, Resolution
from crm_notes_migration.transform.note import transform_content

SNIPPETS = json.loads((Path(__file__).resolve().parent / "data" / "editor_snippets.json").read_text("utf-8"))
BUDI = CdpUser(ObjectId("0123456789abcdef01234567"), "Budi Santoso", "budi@x.co")
RESOLUTION = Resolution((ObjectId(),), {"budi@x.co": BUDI}, {str(BUDI.id): BUDI})


def transform(html: str) -> str:
    """`html` as the migrated note's content."""
    note = NoteV1(
        legacy_crm_note_id=1,
        crm_person_id=1,
        content_html=html,
        created_at="2021-01-01T00:00:00+00:00",
        mentioned_users=[{"crm_user_id": 42, "email": "budi@x.co", "name": "Budi"}],
    )
    return transform_content(html, note, RESOLUTION)[0]
