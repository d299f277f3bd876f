"""No output of the core can execute script: a public filter-evasion corpus, checked on the
parse tree of the output (selectolax/lexbor, an HTML5 parser like the browser's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import CdpUser, Resolution, sanitize_html
from crm_notes_migration.transform.note import transform_content

CORPUS = Path(__file__).resolve().parents[1] / "data" / "xss_vectors.txt"
PLACEHOLDERS = {"{TAB}": "\t", "{NL}": "\n", "{CR}": "\r", "{FF}": "\f", "{NUL}": "\0", "{SOH}": "\x01", "{VT}": "\x0b"}

#: Elements that can run script, load active content, or change how URLs/forms resolve.
SCRIPT_CAPABLE = {
    "script",
    "iframe",
    "frame",
    "frameset",
    "object",
    "embed",
    "applet",
    "svg",
    "math",
    "base",
    "meta",
    "style",
    "link",
    "form",
    "input",
    "button",
    "textarea",
    "select",
    "isindex",
    "template",
    "noscript",
    "xmp",
    "noembed",
    "noframes",
    "video",
    "audio",
    "source",
    "marquee",
    "details",
    "body",
    "html",
    "head",
    "xml",
    "keygen",
    "image",
    "animate",
    "set",
    "use",
    "foreignobject",
    "portal",
    "param",
}
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "background",
    "poster",
    "data",
    "cite",
    "srcset",
    "dynsrc",
    "lowsrc",
    "codebase",
    "longdesc",
    "usemap",
    "ping",
    "srcdoc",
    "to",
    "values",
    "from",
    "by",
}
RASTER_DATA = re.compile(r"^data:image/(png|gif|jpe?g|webp|bmp|avif)[;,]")
DANGEROUS_STYLE = re.compile(r"expression|url\(|javascript|vbscript|binding|behavio|@import|\\")


def load_vectors() -> list[str]:
    vectors = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        for name, char in PLACEHOLDERS.items():
            line = line.replace(name, char)
        vectors.append(line)
    return vectors


def _url_is_dangerous(tag: str, attribute: str, value: str) -> bool:
    squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
    if squeezed.startswith(("javascript:", "vbscript:", "livescript:")):
        return True
    if squeezed.startswith("data:"):
        return not (tag == "img" and attribute == "src" and RASTER_DATA.match(squeezed))
    return False


def execution_risks(html: str) -> list[str]:
    """Every way the parsed `html` could execute script; [] when none."""
    risks = []
    tree = LexborHTMLParser(html, is_fragment=True)
    if tree.root is None:
        return risks
    for node in tree.css("*"):
        tag = (node.tag or "").lower()
        if tag in SCRIPT_CAPABLE:
            risks.append(f"element <{tag}>")
        for attribute, value in node.attributes.items():
            name = attribute.lower()
            value = value or ""
            if name.startswith("on"):
                risks.append(f"<{tag} {name}>")
            if name in URL_ATTRIBUTES and _url_is_dangerous(tag, name, value):
                risks.append(f"<{tag} {name}={value!r}>")
            if name == "style" and DANGEROUS_STYLE.search(value.lower()):
                risks.append(f"<{tag} style={value!r}>")
            if name == "http-equiv":
                risks.append(f"<{tag} http-equiv>")
    return risks


VECTORS = load_vectors()
MENTION_HEX = "0123456789abcdef01234567"
USER = CdpUser(ObjectId(MENTION_HEX), "Budi", "b@x.co")
RESOLUTION = Resolution((ObjectId(),), {"b@x.co": USER}, {MENTION_HEX: USER})


def test_corpus_is_large_enough():
    assert len(VECTORS) >= 300
    assert len(set(VECTORS)) == len(VECTORS)


def test_checker_recognises_dangerous_markup():
    # The checker must fail on raw vectors, or the corpus test proves nothing.
    flagged = sum(1 for v in VECTORS if execution_risks(v))
    assert flagged >= 0.75 * len(VECTORS)  # the rest: relative URLs, template text, mention shapes
    assert execution_risks('<a href=" jaVa\tscript:alert(1)">x</a>')
    assert execution_risks('<img src="data:image/svg+xml,<svg onload=alert(1)>">')
    assert not execution_risks('<img src="data:image/png;base64,AAAA"><a href="https://x">y</a>')


@pytest.mark.parametrize("vector", VECTORS)
def test_sanitised_vector_cannot_execute(vector):
    out = sanitize_html(vector)
    assert execution_risks(out) == []
    assert sanitize_html(out) == out


@pytest.mark.parametrize("vector", VECTORS)
def test_vector_through_mentions_and_sanitiser_cannot_execute(vector):
    note = NoteV1(
        legacy_crm_note_id=1,
        crm_person_id=1,
        content_html=vector,
        created_at="2021-01-01T00:00:00+00:00",
        mentioned_users=[{"crm_user_id": 1, "email": "b@x.co", "name": "Budi"}],
    )
    content, _, _ = transform_content(vector, note, RESOLUTION)
    assert execution_risks(content) == []


_FRAGMENTS = st.sampled_from(
    VECTORS
    + [
        "<p>",
        "</p>",
        "<a href='https://x'>",
        "</a>",
        "<table>",
        "<td>",
        "<svg>",
        "<math>",
        "<style>",
        "</style>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        "<noscript>",
        "<textarea>",
        '<span class="mention" data-id="1">',
        "</span>",
        '"',
        "'",
        ">",
        "<",
        "&",
        "&#x6a;",
        "<img src=x ",
        "onerror=alert(1)>",
        "java",
        "script:",
        "\t",
        "\0",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, min_size=1, max_size=8))
def test_spliced_vectors_cannot_execute(parts):
    out = sanitize_html("".join(parts))
    assert execution_risks(out) == []
    assert sanitize_html(out) == out
