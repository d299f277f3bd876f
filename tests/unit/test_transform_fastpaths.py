"""The sanitiser's fixed point on tag soup, and `source_sha256` against its definition.

- sanitising misnested tag soup (stray end tags, tables with text in the wrong place,
  `<pre>` with leading newlines, `<` and `>` in attributes) twice gives what once gives;
- `source_sha256` equals the documented definition on notes with awkward strings.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import sanitize_html, source_sha256
from crm_notes_migration.transform.html import ALLOWED_TAGS

# Tag soup over the allowlist (and a few tags it drops): misnesting, stray end tags, tables
# with text in the wrong place, `<pre>` with leading newlines, `<` and `>` in attributes.
TAGS = sorted(ALLOWED_TAGS) + ["form", "font", "button", "section", "image", "svg", "nobr"]
ATTRS = [
    "",
    ' class="ql-align-center"',
    ' href="https://e.com/?a=1&amp;b=2"',
    ' title="x&quot;<h2>y"',
    ' title=">"',
    ' style="color: red;"',
    ' onclick="x"',
]
TEXTS = ["x", " ", "\n", "\n\nq", "&amp;", "&nbsp;", "&lt;b&gt;", "<", "é", "\r\n", "\t", "&#13;"]
TOKEN = st.one_of(
    st.tuples(st.sampled_from(TAGS), st.sampled_from(ATTRS)).map(lambda t: f"<{t[0]}{t[1]}>"),
    st.sampled_from(TAGS).map(lambda t: f"</{t}>"),
    st.sampled_from(TEXTS),
    st.just("<!--c-->"),
)
SOUP = st.lists(TOKEN, max_size=30).map("".join)


@settings(max_examples=1500, deadline=None)
@given(SOUP)
def test_sanitising_tag_soup_twice_equals_once(html):
    once = sanitize_html(html)
    assert sanitize_html(once) == once


def test_misnested_headings_in_a_link_settle():
    once = sanitize_html("<h1><a href='https://x'>a<h6>b</a>c</h6>d</h1>")
    assert sanitize_html(once) == once


# --- source_sha256 ----------------------------------------------------------------------

AWKWARD = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
USER = st.fixed_dictionaries(
    {"crm_user_id": st.integers(1, 2**63 - 1), "email": st.none() | AWKWARD, "name": st.none() | AWKWARD}
)
ATTACHMENT = st.fixed_dictionaries(
    {
        "legacy_attachment_id": st.integers(1, 2**63 - 1),
        "file_name": AWKWARD,
        "file_url": AWKWARD,
        "content_type": st.none() | AWKWARD,
        "file_size": st.none() | st.integers(0, 2**63 - 1),
    }
)
NOTE = st.fixed_dictionaries(
    {
        "legacy_crm_note_id": st.integers(1, 2**63 - 1),
        "crm_person_id": st.integers(1, 2**63 - 1),
        "content_html": st.none() | AWKWARD,
        "author": st.none() | USER,
        "mentioned_users": st.lists(USER, max_size=2),
        "attachments": st.lists(ATTACHMENT, max_size=2),
        "created_at": st.sampled_from(["2021-03-04T05:06:07.123456+07:00", "1999-12-31T23:59:59Z"]),
        "updated_at": st.none() | st.just("2021-03-05T00:00:00.5+00:00"),
    }
)


def reference_source_sha256(cid: int, note: NoteV1) -> str:
    """The documented definition, spelled out independently of the implementation."""
    dumped = note.model_dump(mode="json")
    dumped["created_at"] = note.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    dumped["updated_at"] = (
        None if note.updated_at is None else note.updated_at.astimezone(UTC).isoformat(timespec="microseconds")
    )
    canonical = json.dumps(
        {"cid": cid, "note": dumped}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**6), NOTE)
def test_source_sha256_matches_its_definition(cid, raw):
    note = NoteV1.model_validate(raw)
    assert source_sha256(cid, note) == reference_source_sha256(cid, note)
