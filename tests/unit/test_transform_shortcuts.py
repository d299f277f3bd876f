"""The second round of shortcuts gives exactly what the long way gives.

- `reparse`'s grammar (a sure "yes" before the tag-by-tag walk): on random nested markup,
  a "yes" for nh3 output means nh3 returns it unchanged and the walk agrees; a "yes" for
  raw input (`spells_literal_tree`) means one nh3 pass is the sanitiser's fixed point.
- `mention_text.legacy_mentions_as_text` (legacy spans rewritten as text): the same
  content, mentions and unresolved count as the DOM path, after sanitising.
- `may_hold_mention` on bytes: the same answer as the `str.lower` definition, any case.

Example counts are modest so the suite stays quick; `HYPOTHESIS_PROFILE=deep` (see the
bottom) runs many more locally.
"""
from __future__ import annotations

import os

import nh3
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import CdpUser, Resolution, sanitize_html
from crm_notes_migration.transform import html as html_module
from crm_notes_migration.transform.html import ALLOWED_TAGS, CODE_TAGS
from crm_notes_migration.transform.mention_text import legacy_mentions_as_text
from crm_notes_migration.transform.mentions import crm_emails_of, may_hold_mention, normalise_mentions
from crm_notes_migration.transform.note import transform_content
from crm_notes_migration.transform.literal_grammar import matches_literal_grammar as _matches_grammar
from crm_notes_migration.transform.literal_grammar import spells_literal_tree
from crm_notes_migration.transform.reparse import _TAG_NAME, _walk, parses_literally

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
MANY = 20000 if DEEP else 600

_PLAIN = nh3.Cleaner(tags=set(ALLOWED_TAGS), clean_content_tags=set(CODE_TAGS),
                     attributes={"*": {"class", "title"}, "a": {"href"}}, link_rel=None)


def loop_sanitize(html: str) -> str:
    """The sanitiser without shortcuts: clean until stable (as in test_transform_fastpaths)."""
    if not html:
        return ""
    source = html_module.drop_control_chars(html)
    cleaned = html_module._CLEANER.clean(source)
    while cleaned != source:
        source = html_module.drop_control_chars(cleaned)
        cleaned = html_module._CLEANER.clean(source)
    if 'class="mention"' in cleaned:
        cleaned = html_module._MENTION_REL.sub(r"\1>", cleaned)
    return cleaned


# Random nested markup: any element in any element (so the tree builder has plenty to
# restructure: p in p, li in li, headings in headings, a in a, table parts anywhere, text
# in tables, newlines after <pre>), with awkward attributes and text.
ELEMENTS = sorted(ALLOWED_TAGS - {"br", "img", "hr", "col"}) + ["font", "section", "form", "button", "marquee"]
VOIDS = ["br", "img", "hr", "col"]
ATTRS = ["", ' class="ql-align-center"', ' href="https://e.com/?a=1&amp;b=2"', ' title="x&quot;y"',
         ' title="a>b"', ' title="<p>"', " title='q'", ' style="color: red;"', ' onclick="x"',
         " data-row=x"]
TEXTS = ["x", " ", "\n", "\n\nq", "&amp;", "&nbsp;", "&lt;b&gt;", "é", "\t", "&NewLine;", "\r\n", "a > b",
         "mention", "\x01"]


def _tree(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(st.sampled_from(TEXTS),
                     st.tuples(st.sampled_from(VOIDS), st.sampled_from(ATTRS)).map(lambda t: f"<{t[0]}{t[1]}>"))
    if depth == 0:
        return leaf
    element = st.tuples(st.sampled_from(ELEMENTS), st.sampled_from(ATTRS), st.lists(_tree(depth - 1), max_size=4))
    return st.one_of(leaf, element.map(lambda t: f"<{t[0]}{t[1]}>{''.join(t[2])}</{t[0]}>"))


# Mostly well-formed editor-like markup, so the grammar says "yes" often enough to matter.
EDITOR_INLINE = st.recursive(
    st.sampled_from(["x", " y ", "&amp;", "é", "<br>", '<img src="https://e.com/i.png">', "\n"]),
    lambda inner: st.tuples(st.sampled_from(["strong", "em", "u", "s", "span", "a", "code", "sub"]),
                            st.sampled_from(ATTRS[:3]), st.lists(inner, max_size=3)).map(
        lambda t: f"<{t[0]}{t[1]}>{''.join(t[2])}</{t[0]}>"),
    max_leaves=6,
)
EDITOR_BLOCK = st.one_of(
    st.tuples(st.sampled_from(["p", "h1", "h2", "pre", "blockquote", "li", "td"]), st.lists(EDITOR_INLINE, max_size=3)).map(
        lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"),
    st.lists(st.lists(EDITOR_INLINE, max_size=2).map("".join), min_size=1, max_size=3).map(
        lambda items: "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"),
    st.tuples(st.sampled_from(["", " ", "\n", "x"]), st.lists(EDITOR_INLINE, max_size=2).map("".join)).map(
        lambda t: f"<table>{t[0]}<tbody><tr><td>{t[1]}</td></tr>{t[0]}</tbody></table>"),
)
EDITOR = st.lists(st.one_of(EDITOR_BLOCK, EDITOR_INLINE), max_size=6).map("".join)
MARKUP = st.one_of(_tree(3), EDITOR)


@settings(max_examples=MANY, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MARKUP)
def test_grammar_yes_on_nh3_output_is_a_fixed_point_and_the_walk_agrees(raw):
    out = _PLAIN.clean(raw)
    if "\r" not in out and _matches_grammar(out, ALLOWED_TAGS):
        assert _PLAIN.clean(out) == out
        assert parses_literally(out, ALLOWED_TAGS)
        if '="' not in out or not any(c in v for v in out.split('="')[1:] for c in "<>"):
            assert _walk(out, _TAG_NAME.findall(out), ALLOWED_TAGS)


@settings(max_examples=MANY, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MARKUP)
def test_sanitize_still_equals_the_plain_fixed_point_loop(raw):
    assert sanitize_html(raw) == loop_sanitize(raw)


def test_grammar_examples():
    yes = ['<h2>t</h2><p class="x">a <b>b <i>c</i></b> <a href="h">d</a></p><ul><li>1</li></ul>'
           '<table> <tbody><tr><td>x</td></tr></tbody></table><pre>code\n</pre><p title="a&gt;b">x</p>']
    for html in yes:
        assert _matches_grammar(html, ALLOWED_TAGS), html
    for html in [
        "<p><p>x</p></p>", "<h1><h2>x</h2></h1>", "<ul><li>a<li>b</li></li></ul>", "<li>x</li>",
        '<a href="x"><b><a href="y">z</a></b></a>', "<table><tr><td>x</td></tr></table>",
        "<table><tbody>x<tr><td>y</td></tr></tbody></table>", "<pre>\nx</pre>", "<b>x</i>", "<p>x",
        '<p title="</p><h2>">x</p>', "<section>x</section>", "<p>a</p >", "<P>x</P>", "<p title='x'>y</p>",
        "<p><div>x</div></p>", "<!--c--><p>x</p>",
    ]:
        assert not _matches_grammar(html, ALLOWED_TAGS), html
    assert not spells_literal_tree("<p>a\rb</p>")


# --- mentions ---------------------------------------------------------------------------

BUDI = CdpUser(ObjectId("64b000000000000000000001"), "Budi Santoso (CDP)", "budi@x.co")
SARI = CdpUser(ObjectId("64b000000000000000000002"), "Sari", "sari@x.co")
RESOLUTION = Resolution((ObjectId(),), users_by_email={"budi@x.co": BUDI, "sari@x.co": SARI},
                        users_by_id={str(BUDI.id): BUDI, str(SARI.id): SARI})
CRM_EMAILS = {42: "  Budi@X.co ", 43: "sari@x.co", 44: "nobody@x.co", 45: None}


def legacy_span(crm_id: int, value: str, shown: str) -> str:
    return (f'<span class="mention" data-index="0" data-denotation-char="@" data-id="{crm_id}" '
            f'data-value="{value}"><span contenteditable="false"><span class="ql-mention-denotation-char">'
            f"@</span>{shown}</span></span>")


NAME = st.sampled_from(["Budi Santoso", "Sari", " Ana  María ", "李雷", "O'Neil", "A &amp; B", "x > y", "",
                        "  ", "Mention Man", "a&lt;b", "&#39;q"])
SPAN = st.tuples(st.sampled_from([42, 43, 44, 45, 999]), NAME, NAME).map(lambda t: legacy_span(*t))
OTHER_FORM = st.sampled_from([f'<span data-mention="" data-user-id="{SARI.id}">@Sari</span>',
                              f'<a href="mention://user/{BUDI.id}">@Budi</a>', '<a href="MENTION://user/x">@x</a>'])
PIECE = st.one_of(SPAN, SPAN, st.sampled_from(["x ", " ", "&amp;", "\n", "<br>", "é", "&NewLine;", "\r"]),
                  OTHER_FORM)
MENTION_NOTE = st.tuples(
    st.lists(PIECE, min_size=1, max_size=5).map("".join),
    st.sampled_from(["<p>{}</p>", "{}", "<ol><li>{}</li></ol>", "<h2>{}</h2>", "<pre>{}</pre>",
                     "<table><tbody><tr><td>{}</td></tr></tbody></table>", "<table>{}</table>",
                     '<a href="https://e.com">{}</a>', "<p><strong>{}</strong></p>", "<p><font>{}</font></p>",
                     "<b>{}</i>", "<!--{}-->", "<p title='{}'>x</p>", "<xmp>{}</xmp>"]),
).map(lambda t: t[1].format(t[0]))


def _note(html: str) -> NoteV1:
    return NoteV1(legacy_crm_note_id=1, crm_person_id=1, content_html=html, created_at="2021-01-01T00:00:00+00:00",
                  mentioned_users=[{"crm_user_id": k, "email": v, "name": None} for k, v in CRM_EMAILS.items()])


def dom_path(html: str):
    with_mentions, mentions, unresolved = normalise_mentions(html, crm_emails_of(_note(html).mentioned_users),
                                                             RESOLUTION)
    return sanitize_html(with_mentions), mentions, unresolved


@settings(max_examples=MANY, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MENTION_NOTE)
def test_text_rewrite_of_legacy_spans_equals_the_dom_path(html):
    assert transform_content(html, _note(html), RESOLUTION) == dom_path(html)


def test_the_text_rewrite_is_taken_for_editor_markup_and_refused_otherwise():
    emails = crm_emails_of(_note("").mentioned_users)
    plain = f"<p>Hi {legacy_span(42, 'Budi', 'Budi')} and {legacy_span(44, 'N', ' Nobody ')}!</p>"
    done = legacy_mentions_as_text(plain, emails, RESOLUTION)
    assert done is not None
    assert done[1] == [{"user_id": BUDI.id, "name": "Budi Santoso (CDP)"}] and done[2] == 1
    assert transform_content(plain, _note(plain), RESOLUTION) == dom_path(plain)
    for refused in [
        f'<a href="https://e.com">{legacy_span(42, "B", "B")}</a>',               # anchor in an anchor
        f'<p>{legacy_span(42, "B", "B")} <a href="mention://user/{BUDI.id}">@B</a></p>',  # another form
        f"<p>{legacy_span(42, 'B', 'B')} &#109;ention</p>",                    # a numeric reference
        f"<p>{legacy_span(42, 'B', '')}</p>",                                   # name from data-value
        f"<p>{legacy_span(42, 'B', 'A &amp; B')}</p>",                          # a reference in the name
        f"<table>{legacy_span(42, 'B', 'B')}</table>",                          # fostered
        f"<p>{legacy_span(42, 'B', 'B')}\r</p>",
    ]:
        assert legacy_mentions_as_text(refused, emails, RESOLUTION) is None, refused
        assert transform_content(refused, _note(refused), RESOLUTION) == dom_path(refused)


# --- may_hold_mention ---------------------------------------------------------------------

def test_may_hold_mention_any_ascii_case():
    for html in ['<span class="MeNtIoN" data-id="1">x</span>', '<b DATA-MENTION="">x</b>',
                 '<a HREF="MENTION://user/ab">x</a>', "mention", "&#109;", "é MENTION 李"]:
        assert may_hold_mention(html), html
    for html in ["<p>nothing</p>", "MENTİON", "ment ion", "李雷", ""]:
        assert not may_hold_mention(html), html


@settings(max_examples=MANY, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("mMeEnNtTiIoOİK&#x é李\ud800")), max_size=30))
def test_may_hold_mention_agrees_with_the_str_lower_definition(text):
    assert may_hold_mention(text) == ("&#" in text or "mention" in text.lower())
