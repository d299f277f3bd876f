"""The transform's shortcuts give exactly what the long way gives.

- the sanitiser skips the second pass when `parses_literally` proves the first output
  re-parses to its own tree: `sanitize_html` (native) and `reference_sanitize_html` (nh3)
  compared here with the plain "clean until nothing changes" loop, and `parses_literally`
  itself against nh3 (when it says yes, nh3 must return the input).
- `source_sha256` builds its canonical JSON without pydantic/json: compared with the
  documented definition on notes with awkward strings.
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC

import nh3
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import sanitize_html, source_sha256
from crm_notes_migration.transform import html as html_module
from crm_notes_migration.transform.html import ALLOWED_TAGS, CODE_TAGS, drop_control_chars
from crm_notes_migration.transform.reparse import parses_literally

# A plain cleaner with the same allowlist (no attribute filter needed for structure).
_PLAIN = nh3.Cleaner(tags=set(ALLOWED_TAGS), clean_content_tags=set(CODE_TAGS),
                     attributes={"*": {"class", "title"}, "a": {"href"}}, link_rel=None)


def loop_sanitize(html: str) -> str:
    """The sanitiser without shortcuts: clean, drop control characters, until stable."""
    if not html:
        return ""
    source = drop_control_chars(html)
    cleaned = html_module._CLEANER.clean(source)
    while cleaned != source:
        source = drop_control_chars(cleaned)
        cleaned = html_module._CLEANER.clean(source)
    if 'class="mention"' in cleaned:
        cleaned = html_module._MENTION_REL.sub(r"\1>", cleaned)
    return cleaned


# Tag soup over the allowlist (and a few tags it drops): misnesting, stray end tags, tables
# with text in the wrong place, `<pre>` with leading newlines, `<` and `>` in attributes.
TAGS = sorted(ALLOWED_TAGS) + ["form", "font", "button", "section", "image", "svg", "nobr"]
ATTRS = ["", ' class="ql-align-center"', ' href="https://e.com/?a=1&amp;b=2"', ' title="x&quot;<h2>y"',
         ' title=">"', ' style="color: red;"', ' onclick="x"']
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
def test_sanitize_equals_the_plain_fixed_point_loop(html):
    once = sanitize_html(html)
    assert once == loop_sanitize(html)
    assert html_module.reference_sanitize_html(html) == once
    assert sanitize_html(once) == once


@settings(max_examples=1500, deadline=None)
@given(SOUP)
def test_parses_literally_never_says_yes_wrongly(html):
    out = _PLAIN.clean(html)
    if parses_literally(out, ALLOWED_TAGS):
        assert _PLAIN.clean(out) == out


def test_parses_literally_examples():
    ok = ('<h2>t</h2><p class="x">a <b>b <i>c</i></b> <a href="h">d</a></p><ul><li>1</li></ul>'
          "<table> <tbody><tr><td><p>x</p></td></tr></tbody></table><pre>code\n</pre>")
    assert parses_literally(ok, ALLOWED_TAGS)
    for bad in [
        "<p><p>x</p></p>",                                 # p in p: the second closes the first
        '<h1><a href="x">a</a><h6>b</h6></h1>',            # (hypothesis's misnested headings)
        "<h1><h2>x</h2></h1>",                            # heading in heading
        "<ul><li>a<li>b</li></li></ul>",                  # li in li
        '<a href="x"><a href="y">z</a></a>',              # a in a
        "<table><tr><td>x</td></tr></table>",             # tr straight in table (tbody implied)
        "<table><tbody><tr>x<td>y</td></tr></tbody></table>",  # text foster-parented
        "<pre>\nx</pre>",                                 # newline after <pre> dropped
        "<b>x</i>",                                       # end tag that is not the current node
        "<p>x",                                           # unclosed
        '<p title="</p><h2>">x</p>',                      # `<` inside an attribute value
        "<section>x</section>",                           # not in the allowlist
        "<p>a\rb</p>",                                    # CR becomes LF
    ]:
        assert not parses_literally(bad, ALLOWED_TAGS), bad


def test_the_reference_takes_the_shortcut_for_ordinary_editor_html():
    calls = []
    original = html_module._CLEANER

    class Counting:
        def clean(self, html):
            calls.append(html)
            return original.clean(html)

    html_module._CLEANER = Counting()
    try:
        out = html_module.reference_sanitize_html(
            '<p><span style="color: red;">x</span> <a href="https://e.com" target="_blank">y</a></p>')
        assert len(calls) == 1
        calls.clear()
        assert html_module.reference_sanitize_html("<h1><a href='https://x'>a<h6>b</a>c</h6>d</h1>") == loop_sanitize(
            "<h1><a href='https://x'>a<h6>b</a>c</h6>d</h1>")
        assert len(calls) >= 2
    finally:
        html_module._CLEANER = original
    assert out == '<p><span style="color: red">x</span> <a href="https://e.com" rel="noopener noreferrer nofollow">y</a></p>'


# --- source_sha256 ----------------------------------------------------------------------

AWKWARD = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
USER = st.fixed_dictionaries({"crm_user_id": st.integers(1, 2**63 - 1), "email": st.none() | AWKWARD,
                              "name": st.none() | AWKWARD})
ATTACHMENT = st.fixed_dictionaries({
    "legacy_attachment_id": st.integers(1, 2**63 - 1), "file_name": AWKWARD, "file_url": AWKWARD,
    "content_type": st.none() | AWKWARD, "file_size": st.none() | st.integers(0, 2**63 - 1),
})
NOTE = st.fixed_dictionaries({
    "legacy_crm_note_id": st.integers(1, 2**63 - 1), "crm_person_id": st.integers(1, 2**63 - 1),
    "content_html": st.none() | AWKWARD, "author": st.none() | USER,
    "mentioned_users": st.lists(USER, max_size=2), "attachments": st.lists(ATTACHMENT, max_size=2),
    "created_at": st.sampled_from(["2021-03-04T05:06:07.123456+07:00", "1999-12-31T23:59:59Z"]),
    "updated_at": st.none() | st.just("2021-03-05T00:00:00.5+00:00"),
})


def reference_source_sha256(cid: int, note: NoteV1) -> str:
    """The documented definition, spelled out independently of the implementation."""
    dumped = note.model_dump(mode="json")
    dumped["created_at"] = note.created_at.astimezone(UTC).isoformat(timespec="microseconds")
    dumped["updated_at"] = (None if note.updated_at is None
                            else note.updated_at.astimezone(UTC).isoformat(timespec="microseconds"))
    canonical = json.dumps({"cid": cid, "note": dumped}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**6), NOTE)
def test_source_sha256_matches_its_definition(cid, raw):
    note = NoteV1.model_validate(raw)
    assert source_sha256(cid, note) == reference_source_sha256(cid, note)
