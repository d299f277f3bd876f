"""Properties of the transform on random nested markup and mention-laden notes.

- sanitising random nested markup (any element in any element) twice gives what once gives;
- a note full of legacy spans and the other mention forms, in every context (tables,
  links, `<pre>`, comments, misnested tags), transforms to a fixed point, keeps no
  mention markup that is not canonical, and drops nothing but mention markup.

Example counts are modest so the suite stays quick; `HYPOTHESIS_PROFILE=deep` runs many
more locally.
"""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_notes_migration.transform import sanitize_html
from crm_notes_migration.transform.html import ALLOWED_TAGS

from .mention_support import BUDI, SARI, run

DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"
MANY = 20000 if DEEP else 600


# Random nested markup: any element in any element (so the tree builder has plenty to
# restructure: p in p, li in li, headings in headings, a in a, table parts anywhere, text
# in tables, newlines after <pre>), with awkward attributes and text.
ELEMENTS = sorted(ALLOWED_TAGS - {"br", "img", "hr", "col"}) + ["font", "section", "form", "button", "marquee"]
VOIDS = ["br", "img", "hr", "col"]
ATTRS = [
    "",
    ' class="ql-align-center"',
    ' href="https://e.com/?a=1&amp;b=2"',
    ' title="x&quot;y"',
    ' title="a>b"',
    ' title="<p>"',
    " title='q'",
    ' style="color: red;"',
    ' onclick="x"',
    " data-row=x",
]
TEXTS = [
    "x",
    " ",
    "\n",
    "\n\nq",
    "&amp;",
    "&nbsp;",
    "&lt;b&gt;",
    "é",
    "\t",
    "&NewLine;",
    "\r\n",
    "a > b",
    "mention",
    "\x01",
]


def _tree(depth: int) -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.sampled_from(TEXTS),
        st.tuples(st.sampled_from(VOIDS), st.sampled_from(ATTRS)).map(lambda t: f"<{t[0]}{t[1]}>"),
    )
    if depth == 0:
        return leaf
    element = st.tuples(st.sampled_from(ELEMENTS), st.sampled_from(ATTRS), st.lists(_tree(depth - 1), max_size=4))
    return st.one_of(leaf, element.map(lambda t: f"<{t[0]}{t[1]}>{''.join(t[2])}</{t[0]}>"))


# Mostly well-formed editor-like markup, so the grammar says "yes" often enough to matter.
EDITOR_INLINE = st.recursive(
    st.sampled_from(["x", " y ", "&amp;", "é", "<br>", '<img src="https://e.com/i.png">', "\n"]),
    lambda inner: st.tuples(
        st.sampled_from(["strong", "em", "u", "s", "span", "a", "code", "sub"]),
        st.sampled_from(ATTRS[:3]),
        st.lists(inner, max_size=3),
    ).map(lambda t: f"<{t[0]}{t[1]}>{''.join(t[2])}</{t[0]}>"),
    max_leaves=6,
)
EDITOR_BLOCK = st.one_of(
    st.tuples(
        st.sampled_from(["p", "h1", "h2", "pre", "blockquote", "li", "td"]), st.lists(EDITOR_INLINE, max_size=3)
    ).map(lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"),
    st.lists(st.lists(EDITOR_INLINE, max_size=2).map("".join), min_size=1, max_size=3).map(
        lambda items: "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
    ),
    st.tuples(st.sampled_from(["", " ", "\n", "x"]), st.lists(EDITOR_INLINE, max_size=2).map("".join)).map(
        lambda t: f"<table>{t[0]}<tbody><tr><td>{t[1]}</td></tr>{t[0]}</tbody></table>"
    ),
)
EDITOR = st.lists(st.one_of(EDITOR_BLOCK, EDITOR_INLINE), max_size=6).map("".join)
MARKUP = st.one_of(_tree(3), EDITOR)


@settings(max_examples=MANY, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MARKUP)
def test_sanitising_random_markup_twice_equals_once(raw):
    once = sanitize_html(raw)
    assert sanitize_html(once) == once


# --- mentions ---------------------------------------------------------------------------


def legacy_span(crm_id: int, value: str, shown: str) -> str:
    return (
        f'<span class="mention" data-index="0" data-denotation-char="@" data-id="{crm_id}" '
        f'data-value="{value}"><span contenteditable="false"><span class="ql-mention-denotation-char">'
        f"@</span>{shown}</span></span>"
    )


NAME = st.sampled_from(
    [
        "Budi Santoso",
        "Sari",
        " Ana  María ",
        "李雷",
        "O'Neil",
        "A &amp; B",
        "x > y",
        "",
        "  ",
        "Mention Man",
        "a&lt;b",
        "&#39;q",
    ]
)
SPAN = st.tuples(st.sampled_from([42, 43, 44, 45, 999]), NAME, NAME).map(lambda t: legacy_span(*t))
OTHER_FORM = st.sampled_from(
    [
        f'<span data-mention="" data-user-id="{SARI.id}">@Sari</span>',
        f'<a href="mention://user/{BUDI.id}">@Budi</a>',
        '<a href="MENTION://user/x">@x</a>',
    ]
)
PIECE = st.one_of(SPAN, SPAN, st.sampled_from(["x ", " ", "&amp;", "\n", "<br>", "é", "&NewLine;", "\r"]), OTHER_FORM)
MENTION_NOTE = st.tuples(
    st.lists(PIECE, min_size=1, max_size=5).map("".join),
    st.sampled_from(
        [
            "<p>{}</p>",
            "{}",
            "<ol><li>{}</li></ol>",
            "<h2>{}</h2>",
            "<pre>{}</pre>",
            "<table><tbody><tr><td>{}</td></tr></tbody></table>",
            "<table>{}</table>",
            '<a href="https://e.com">{}</a>',
            "<p><strong>{}</strong></p>",
            "<p><font>{}</font></p>",
            "<b>{}</i>",
            "<!--{}-->",
            "<p title='{}'>x</p>",
            "<xmp>{}</xmp>",
        ]
    ),
).map(lambda t: t[1].format(t[0]))


_ANCHOR = re.compile(r"<a\b[^>]*>")
_CANONICAL = re.compile(r'<a class="mention" data-mention="" data-user-id="([0-9a-f]{24})" href="mention://user/\1">')


@settings(max_examples=MANY, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MENTION_NOTE)
def test_mention_notes_transform_to_a_fixed_point_with_only_canonical_mentions(html):
    content, mentions, _ = run(html)
    again, mentions_again, unresolved_again = run(content)
    assert again == content
    assert unresolved_again == 0
    assert [m["user_id"] for m in mentions_again] == [m["user_id"] for m in mentions]
    for anchor in _ANCHOR.findall(content):
        if "mention" in anchor:
            assert _CANONICAL.fullmatch(anchor), anchor
