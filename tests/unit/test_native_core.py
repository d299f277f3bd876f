"""The native sanitiser (`crm_notes_native`, `native/src/`) is the Python reference, byte
for byte: `sanitize_html` against `reference_sanitize_html` (nh3 with the Python attribute
callback, the loop and its proof) on the seed, the XSS corpus and generated HTML aimed at
each rule the Rust port had to re-implement: Python's whitespace and case-insensitive
matching in URLs, classes and styles, control characters, the mention anchors' `rel`, and
the literal-parse proof (checked on its own against Python's walk and against nh3)."""
from __future__ import annotations

import nh3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_notes_migration.transform import html as html_module
from crm_notes_migration.transform.html import (
    ALLOWED_TAGS, drop_control_chars, reference_sanitize_html, sanitize_html,
)
from crm_notes_migration.transform.reparse import _ANGLE_IN_VALUE, _TAG_NAME, _walk

from .seed_contracts import seed_contracts
from .test_transform_fastpaths import SOUP
from .test_transform_shortcuts import MARKUP
from .test_transform_xss import load_vectors

NATIVE = html_module.NATIVE

#: Characters where Python's string rules differ from the obvious ASCII ones: `str.isspace`
#: is true for U+001C..U+001F and Unicode spaces; `re.IGNORECASE` matches `i` with U+0130
#: and U+0131, `s` with U+017F, `k` with U+212A; C1 controls are dropped; a lone surrogate
#: cannot be sanitised at all.
ODD = ["\x1c", "\x1f", "\x0b", "\x0c", "\x85", "\xa0", "\u2003", "\u3000", "\u0130", "\u0131",
       "\u017f", "\u212a", "\x01", "\x7f", "\x9f", "\u00df", "\u03a3", "\t", "\n", "\r", " "]
WORDS = ["javascript", "vbscript", "livescript", "data", "image/png", "image/jpeg", "image/jpg",
         "image/svg+xml", "image/webp", "image/avif", "image/bmp", "image/gif", "text/html", ":",
         ";", ",", "base64", "x", "ql-align-center", "ql-size-large", "mention", "color",
         "background-color", "text-align", "font-weight", "red", "#fff", "rgb(1, 2, 3)",
         "url(x)", "12px", "-1.5em", "https://", "http://", "mention://", "mailto:", "tel:",
         "&#58;", "&#x6a;", "&amp;", "&quot;", "&#x1c;", "&#31;", "&#x0b;", "&#x3000;", "&#x131;"]
PIECE = st.one_of(st.sampled_from(ODD), st.sampled_from(WORDS), st.sampled_from(WORDS).map(str.upper))
VALUE = st.lists(PIECE, max_size=8).map("".join)
ATTRIBUTE = st.tuples(st.sampled_from(["class", "style", "href", "src", "cite", "title", "data-mention",
                                       "data-user-id", "width", "onclick"]), VALUE)
ELEMENT = st.tuples(st.sampled_from(["a", "img", "span", "p", "q", "blockquote", "td", "li"]),
                    st.lists(ATTRIBUTE, max_size=3), VALUE)


def _element(tag: str, attributes: list[tuple[str, str]], text: str) -> str:
    attrs = "".join(f' {name}="{value.replace(chr(34), "&quot;")}"' for name, value in attributes)
    return f"<{tag}{attrs}>{text}</{tag}>"


ATTRIBUTE_HTML = st.lists(ELEMENT.map(lambda e: _element(*e)), min_size=1, max_size=4).map("".join)


def _same(html: str) -> str:
    out = sanitize_html(html)
    assert out == reference_sanitize_html(html), html
    return out


def test_seed_notes_and_their_sanitised_form():
    contents = [c["content_html"] for _, c in seed_contracts(1500, 8, 11) if c["content_html"]]
    assert len(contents) > 1000
    for html in contents:
        once = _same(html)
        assert _same(once) == once


def test_the_xss_corpus():
    vectors = load_vectors()
    assert len(vectors) > 100
    for vector in vectors:
        _same(vector)
        _same(f"<p>{vector}</p>")
        _same(f'<a href="{vector}">x</a><img src="{vector}">')


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ATTRIBUTE_HTML)
def test_generated_attributes(html):
    _same(html)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(SOUP, MARKUP))
def test_generated_markup(html):
    _same(html)


@pytest.mark.parametrize("html", [
    '<a href="\x1cjavascript:alert(1)">x</a>',       # U+001C: a space to Python, not to Rust
    '<a href="java\u017fcript:alert(1)">x</a>',      # no scheme; ammonia keeps it as relative
    '<a href="&#x1c;javascript:alert(1)">x</a>',      # the same after the reference decodes it
    '<a href="JAVASCRIPT\u3000:x">x</a>',
    '<img src="data:\u0131mage/png;base64,AAAA">',   # re.I: U+0131 matches `i`
    '<img src="DATA:IMAGE/PNG,AAAA">',
    '<img src=" data:image/gif;x">',
    '<a href="data:image/png;base64,AAAA">x</a>',    # raster data only in img src
    '<p style="COLOR\x1c: red ;\u3000font-weight:bold;x:y">a</p>',
    '<p style="colo\u017f: red">a</p>',
    '<p style="color&#x1c;: red&#x1f;">a</p>',      # decoded in the value: Python's strip
    '<p class="ql-a&#x1c;ql-b">a</p>',               # and split take U+001C..U+001F
    '<a href="&#x1f;data:image/png,A">x</a><img src="&#x1c;data:image/png,A">',
    '<p class="ql-a\x1cql-b mention ql-\u3000x">a</p>',
    '<a class="mention x" href="mention://user/0123456789abcdef01234567">@A</a>',
    '<a class="mention" data-mention="" data-user-id="0123456789abcdef01234567" '
    'href="mention://user/0123456789abcdef01234567">@A</a>',
    '<a class="mention" data-mention="" data-user-id="0123456789abcdef01234567" '
    'href="mention://user/0123456789abcdef01234568">@A</a>',  # ids differ: rel stays
    '<p>a\x01b\x85c\x9fd\x7fe</p>', "\x00", "&#0;", "<p>&#x9f;</p>",
    '<p><img src="data:image/png;base64,AAAA=="></p><h1>a</h1>',  # `="` then `>`: still one pass
])
def test_chosen_cases(html):
    _same(html)


def test_a_lone_surrogate_is_refused_like_the_reference():
    with pytest.raises(UnicodeEncodeError):
        reference_sanitize_html("<p>\ud800</p>")
    with pytest.raises(UnicodeEncodeError):
        sanitize_html("<p>\ud800</p>")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(ODD + list("ab<>&é")), max_size=40))
def test_control_characters(text):
    assert NATIVE.drop_control_chars(text) == drop_control_chars(text)
    _same(text)


_PLAIN = nh3.Cleaner(tags=set(ALLOWED_TAGS), clean_content_tags=set(html_module.CODE_TAGS),
                     attributes={"*": {"class", "title"}, "a": {"href"}, "img": {"src"}}, link_rel=None)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(SOUP, MARKUP))
def test_the_native_proof_is_the_walk_and_sound(raw):
    """On html5ever's output: a "yes" of Python's walk is a native "yes"; a native "yes"
    is a fixed point of nh3. (The native proof reads attribute values in tags only, so it
    also says yes where a base64 `="` in a value made Python's pattern refuse.)"""
    out = _PLAIN.clean(raw)
    native = NATIVE.parses_literally(out)
    python = "\r" not in out and not _ANGLE_IN_VALUE.search(out) and _walk(out, _TAG_NAME.findall(out), ALLOWED_TAGS)
    if python:
        assert native, out
    if native:
        assert _PLAIN.clean(out) == out, out


def test_the_native_proof_on_chosen_cases():
    assert NATIVE.parses_literally('<p><img src="data:image/png;base64,AA=="></p><h1>a</h1>')
    assert NATIVE.parses_literally("<table><tbody><tr><td>x</td></tr></tbody></table>")
    for bad in ['<p title="a<b">x</p>', "<h1><h2>x</h2></h1>", "<pre>\nx</pre>", "<p>a\rb</p>",
                "<table><tbody>x<tr><td>y</td></tr></tbody></table>", "<p><p>x</p></p>", "<p>x",
                "<P>x</P>", "<section>x</section>", "</p>", "a < b"]:
        assert not NATIVE.parses_literally(bad), bad


# --- the other native rules: legacy mention text, may_hold_mention, source_sha256 ---------

from crm_notes_migration.contract import NoteV1  # noqa: E402
from crm_notes_migration.transform import source_sha256  # noqa: E402
from crm_notes_migration.transform.mention_text import (  # noqa: E402
    legacy_mentions_as_text, reference_legacy_mentions_as_text,
)
from crm_notes_migration.transform.mentions import may_hold_mention, reference_may_hold_mention  # noqa: E402

from .test_transform_fastpaths import reference_source_sha256  # noqa: E402
from .test_transform_shortcuts import CRM_EMAILS, MENTION_NOTE, RESOLUTION, dom_path, legacy_span  # noqa: E402


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MENTION_NOTE)
def test_legacy_mention_text_agrees_with_the_reference(html):
    """Where both answer, the same answer; where only the native one does (its proof, the
    walk, accepts more than the grammar), what it gives sanitises to the DOM path's result."""
    native = legacy_mentions_as_text(html, CRM_EMAILS, RESOLUTION)
    reference = reference_legacy_mentions_as_text(html, CRM_EMAILS, RESOLUTION)
    if native is not None and reference is not None:
        assert native == reference
    if native is not None:
        assert (sanitize_html(native[0]), native[1], native[2]) == dom_path(html)
    if reference is not None and native is None:
        assert NATIVE.spells_literal_tree(reference[0]) is False  # the one place they may differ


def test_legacy_mention_text_on_the_seed_and_deeper_nesting():
    taken = 0
    for _, contract in seed_contracts(1500, 8, 11):
        html = contract["content_html"] or ""
        emails = {u["crm_user_id"]: u["email"] for u in contract["mentioned_users"]}
        native = legacy_mentions_as_text(html, emails, RESOLUTION)
        assert native == reference_legacy_mentions_as_text(html, emails, RESOLUTION)
        taken += native is not None
    assert taken > 100
    deep = f"<ul><li><ol><li><blockquote><p><b><i><u>{legacy_span(42, 'B', 'B')}</u></i></b></p></blockquote></li></ol></li></ul>"
    assert reference_legacy_mentions_as_text(deep, CRM_EMAILS, RESOLUTION) is None  # past the grammar's depth
    native = legacy_mentions_as_text(deep, CRM_EMAILS, RESOLUTION)
    assert native is not None and (sanitize_html(native[0]), native[1], native[2]) == dom_path(deep)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("mMeEnNtTiIoO&#x é李\ud800")), max_size=40))
def test_may_hold_mention_agrees_with_the_reference(text):
    assert may_hold_mention(text) == reference_may_hold_mention(text)


SPECIALS = st.text(alphabet=st.sampled_from(['a', 'é', '李', '"', '\\', '\x00', '\x08', '\x0c', '\x1f', '\x7f',
                                             '\n', '\r', '\t', ' ', '\u2028']), max_size=70)


@settings(max_examples=500, deadline=None)
@given(SPECIALS, SPECIALS)
def test_source_sha256_escapes_like_json_dumps_at_every_offset(content, name):
    note = NoteV1(legacy_crm_note_id=1, crm_person_id=2, content_html=content, created_at="2021-01-01T00:00:00+07:00",
                  author={"crm_user_id": 3, "email": name, "name": name},
                  attachments=[{"legacy_attachment_id": 4, "file_name": name, "file_url": content,
                                "content_type": None, "file_size": 2**63 - 1}])
    assert source_sha256(7, note) == reference_source_sha256(7, note)


def test_source_sha256_of_a_lone_surrogate_fails_as_the_reference_does():
    note = NoteV1(legacy_crm_note_id=1, crm_person_id=2, content_html="a\ud800", created_at="2021-01-01T00:00:00Z")
    with pytest.raises(UnicodeEncodeError):
        html_module.native_source_sha256(1, note, "2021-01-01T00:00:00.000000+00:00", None)
    with pytest.raises(UnicodeEncodeError):
        source_sha256(1, note)
