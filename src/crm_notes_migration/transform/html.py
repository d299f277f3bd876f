"""SPEC §5 content rules: the HTML allowlist, control characters, visible text.

The sanitiser is nh3 (ammonia on html5ever, a real HTML5 parser) with the attribute rules
below as its attribute filter, repeated until its output no longer changes: misnested
markup can serialise to HTML that parses into another tree, and dropping an attribute can
reorder the others, so one pass is not always its own fixed point. Callers do their own DOM
edits first and sanitise last, so what is stored is always what html5ever serialised.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

import nh3
from selectolax.lexbor import LexborHTMLParser

#: Elements whose content is code (or fallback of code): removed with everything inside.
CODE_TAGS = frozenset(
    {
        "script", "style", "iframe", "object", "embed", "applet", "template", "noscript",
        "noembed", "noframes", "xmp", "svg", "math", "frameset", "frame",
    }
)  # fmt: skip

#: Elements kept (others are unwrapped: their text stays, the tag goes).
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "span", "div", "b", "strong", "i", "em", "u", "s", "strike", "del", "ins",
        "sub", "sup", "small", "mark", "code", "pre", "kbd", "samp", "blockquote", "q", "cite",
        "abbr", "h1", "h2", "h3", "h4", "h5", "h6", "ol", "ul", "li", "dl", "dt", "dd", "a",
        "img", "hr", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption",
        "colgroup", "col", "figure", "figcaption",
    }
)  # fmt: skip

_GENERIC_ATTRIBUTES = frozenset({"class", "style", "dir", "lang", "title"})
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": _GENERIC_ATTRIBUTES,
    "a": frozenset({"href", "data-mention", "data-user-id"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan", "scope"}),
    "col": frozenset({"span", "width"}),
    "colgroup": frozenset({"span"}),
    "ol": frozenset({"start", "type"}),
    "li": frozenset({"data-list"}),
    "pre": frozenset({"spellcheck"}),
}

#: `style` properties kept (Quill writes colours and alignment inline).
ALLOWED_STYLE_PROPERTIES = frozenset(
    {"color", "background-color", "text-align", "text-decoration", "font-weight", "font-style"}
)

#: URL schemes kept in href/src; `data:` is narrowed further in `_attribute_filter`.
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "mention", "data"})

LINK_REL = "noopener noreferrer nofollow"

_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
_IMAGE_DATA_URL = re.compile(r"data:image/(?:png|gif|jpe?g|webp|bmp|avif)[;,]", re.I)
_BAD_URL = re.compile(r"^\s*(?:javascript|vbscript|livescript)\s*:", re.I)
#: Colours, keywords and lengths only: no url(), expression(), comments, escapes or quotes.
_STYLE_TOKEN = r"(?:#[0-9a-fA-F]{3,8}|(?:rgba?|hsla?)\([0-9., %]*\)|[a-zA-Z-]+|-?[0-9.]+(?:px|em|rem|pt|%)?)"
_SAFE_STYLE_VALUE = re.compile(rf"^{_STYLE_TOKEN}(?:[ ,]+{_STYLE_TOKEN})*$")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Sanitising passes at most; html5ever reaches its fixed point in two or three.
_MAX_PASSES = 6
_WHITESPACE = re.compile(r"\s+")
#: nh3 gives every <a> the link rel; the canonical mention (SPEC §5) carries none.
_MENTION_REL = re.compile(
    r'(<a class="mention" data-mention="" data-user-id="([0-9a-f]{24})" '
    r'href="mention://user/\2") rel="' + LINK_REL + '">'
)

#: Class and style values repeat across notes (editor classes, palette colours).
_FILTER_CACHE_SIZE = 4096


@lru_cache(maxsize=_FILTER_CACHE_SIZE)
def _keep_classes(tag: str, value: str) -> str | None:
    kept = [c for c in value.split() if c.startswith("ql-") or (c == "mention" and tag == "a")]
    return " ".join(kept) if kept else None


@lru_cache(maxsize=_FILTER_CACHE_SIZE)
def _clean_style(value: str) -> str | None:
    kept = []
    for declaration in value.split(";"):
        name, _, style_value = declaration.partition(":")
        name, style_value = name.strip().lower(), style_value.strip()
        if name in ALLOWED_STYLE_PROPERTIES and _SAFE_STYLE_VALUE.match(style_value):
            kept.append(f"{name}: {style_value}")
    return "; ".join(kept) if kept else None


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        return _keep_classes(tag, value)
    if attribute in _URL_ATTRIBUTES:
        stripped = value.strip()
        if _BAD_URL.match(stripped):
            return None
        if stripped[:5].lower() == "data:":
            return value if tag == "img" and attribute == "src" and _IMAGE_DATA_URL.match(stripped) else None
        return value
    if attribute == "style":
        return _clean_style(value)
    return value


def cleaner_options() -> dict[str, Any]:
    """The sanitiser's nh3 options but its attribute filter (bench.what_if_worker uses them alone)."""
    return {
        "tags": set(ALLOWED_TAGS),
        "clean_content_tags": set(CODE_TAGS),
        "attributes": {tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        "strip_comments": True,
        "link_rel": LINK_REL,
        "url_schemes": set(URL_SCHEMES),
    }


@cache
def _cleaner() -> nh3.Cleaner:
    """The nh3 cleaner, built on first use (not at import)."""
    return nh3.Cleaner(**cleaner_options(), attribute_filter=_attribute_filter)


#: The C0 controls but tab, LF and CR, and DEL, as UTF-8 bytes (each is one byte).
_C0_AND_DEL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def drop_control_chars(text: str) -> str:
    """Remove control characters (C0, DEL, C1) except tab, LF and CR."""
    # Most text has none, and the regular expression would copy it: in UTF-8 a C0 control
    # or DEL is its own byte and a C1 control is 0xC2 0x80-0x9F, so bytes tell cheaply.
    encoded = text.encode("utf-8", "surrogatepass")
    if b"\xc2" not in encoded and len(encoded.translate(None, _C0_AND_DEL)) == len(encoded):
        return text
    return _CONTROL_CHARS.sub("", text)


def sanitize_html(html: str | None) -> str:
    """The SPEC §5 sanitiser: allowlisted HTML, control characters dropped, None → "".

    Idempotent: `sanitize_html(sanitize_html(x)) == sanitize_html(x)`, as the passes repeat
    until the output is stable. Links carry `rel="noopener noreferrer nofollow"`, except
    canonical mention anchors, which keep the exact SPEC §5 form.
    """
    if not html:
        return ""
    clean = _cleaner().clean
    source = drop_control_chars(html)
    cleaned = clean(source)
    for _ in range(_MAX_PASSES):
        if cleaned == source:
            break
        # Numeric references (`java&#1;script:`) decode to control characters whose removal
        # could rejoin a scheme: they are dropped before every pass.
        source = drop_control_chars(cleaned)
        cleaned = clean(source)
    if 'class="mention"' in cleaned:
        cleaned = _MENTION_REL.sub(r"\1>", cleaned)
    return cleaned


def visible_text(html: str) -> str:
    """The text a reader sees: text nodes outside code elements, whitespace collapsed.

    Parsed as an HTML fragment (context `div`, as the sanitiser does); the content of
    `CODE_TAGS` does not count, and runs of whitespace count as one space.
    """
    if not html:
        return ""
    tree = LexborHTMLParser(drop_control_chars(html), is_fragment=True)
    if tree.root is None:
        return ""
    for node in tree.css(_CODE_SELECTOR):
        node.decompose()
    return _WHITESPACE.sub(" ", tree.text(deep=True)).strip()


_CODE_SELECTOR = ",".join(sorted(CODE_TAGS))
