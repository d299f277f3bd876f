"""Realistic editor snippets (tests/data/editor_snippets.json: Quill, CKEditor, TinyMCE,
Gmail and Outlook replies, Word paste, plain-text emails): each keeps what it records as
kept (text and markup), transforms to a fixed point and cannot execute script."""

from __future__ import annotations

import re

import pytest

from crm_notes_migration.transform import visible_text
from tests.snippets import SNIPPETS, transform

from .test_transform_xss import execution_risks


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
