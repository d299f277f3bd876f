"""Realistic editor snippets (tests/data/editor_snippets.json: Quill, CKEditor, TinyMCE,
Gmail and Outlook replies, Word paste, plain-text emails): each keeps what it records as
kept (text and markup), transforms to a fixed point and cannot execute script."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bson import ObjectId

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import CdpUser, Resolution, visible_text
from crm_notes_migration.transform.note import transform_content

from .test_transform_xss import execution_risks

SNIPPETS = json.loads((Path(__file__).resolve().parents[1] / "data" / "editor_snippets.json").read_text("utf-8"))
BUDI = CdpUser(ObjectId("0123456789abcdef01234567"), "Budi Santoso", "budi@x.co")
RESOLUTION = Resolution((ObjectId(),), {"budi@x.co": BUDI}, {str(BUDI.id): BUDI})


def transform(html: str) -> str:
    note = NoteV1(
        legacy_crm_note_id=1,
        crm_person_id=1,
        content_html=html,
        created_at="2021-01-01T00:00:00+00:00",
        mentioned_users=[{"crm_user_id": 42, "email": "budi@x.co", "name": "Budi"}],
    )
    return transform_content(html, note, RESOLUTION)[0]


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_the_corpus_covers_every_editor():
    assert len(SNIPPETS) >= 40
    assert {s["editor"] for s in SNIPPETS} >= {"quill", "ckeditor", "tinymce", "gmail", "outlook", "word", "plain"}
    assert len({s["name"] for s in SNIPPETS}) == len(SNIPPETS)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s["name"] for s in SNIPPETS])
def test_a_snippet_keeps_what_it_records(snippet):
    out = transform(snippet["html"])
    text = _squeeze(visible_text(out))
    for kept in snippet["keep_text"]:
        assert _squeeze(kept) in text, (kept, out)
    for kept in snippet["keep_html"]:
        assert kept in out, (kept, out)
    assert transform(out) == out
    assert execution_risks(out) == []
