"""SPEC §5 content rules: the HTML allowlist, control characters, visible text.

The sanitiser is ammonia (html5ever), the library nh3 wraps. It keeps the legacy editor's
(Quill) formatting and `ql-*` classes, tables, links and images; it removes code elements
with their content, `on*` attributes (nothing outside the allowlist survives),
`javascript:`/`vbscript:` URLs and every `data:` URL that is not a raster image in `img src`.
Callers do their own DOM edits first and sanitise last, so what is stored is always what
html5ever serialised (no mutation-XSS through a later edit).

Two implementations of one sanitiser:
- `reference_sanitize_html`: nh3's `Cleaner` with the attribute rules below as a Python
  callback, the fixed-point loop and its proof (`reparse`) in Python. It is the definition.
- `sanitize_html`: the same in one native call (`crm_notes_native`, `native/` in the
  repository: the same ammonia as nh3, the rules and the loop ported to Rust), about three
  quarters of the reference's time per note, nearly all of it html5ever's pass, and
  without the GIL. Its output must be the reference's byte for byte: the tests
  (`test_native_core.py` and every test that compares `sanitize_html` with nh3's
  loop) hold it to that.
"""
from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache

import nh3

# mimalloc, the native core's allocator, reads these when the extension loads. Its
# defaults keep each thread's freed pages for reuse, which cost the 4-thread worker ~50 MB
# of RSS; purging them after 1 ms and committing arena memory on demand keep most of its
# speed (measured side by side: the system allocator made a sanitise ~20% slower).
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "1")
os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")
from crm_notes_native import Sanitizer as _NativeSanitizer  # noqa: E402 - after the settings
from crm_notes_native import source_sha256 as native_source_sha256  # noqa: E402,F401 - for identity
from selectolax.lexbor import LexborHTMLParser

from .literal_grammar import EVERY_ELEMENT
from .reparse import parses_literally

#: Elements whose content is code (or fallback of code): removed with everything inside.
CODE_TAGS = frozenset({
    "script", "style", "iframe", "object", "embed", "applet", "template", "noscript",
    "noembed", "noframes", "xmp", "svg", "math", "frameset", "frame",
})

#: Elements kept (others are unwrapped: their text stays, the tag goes).
ALLOWED_TAGS = frozenset({
    "p", "br", "span", "div", "b", "strong", "i", "em", "u", "s", "strike", "del", "ins",
    "sub", "sup", "small", "mark", "code", "pre", "kbd", "samp", "blockquote", "q", "cite",
    "abbr", "h1", "h2", "h3", "h4", "h5", "h6", "ol", "ul", "li", "dl", "dt", "dd", "a",
    "img", "hr", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption",
    "colgroup", "col", "figure", "figcaption",
})

_GENERIC_ATTRIBUTES = {"class", "style", "dir", "lang", "title"}
ALLOWED_ATTRIBUTES = {
    "*": _GENERIC_ATTRIBUTES,
    "a": {"href", "data-mention", "data-user-id"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "col": {"span", "width"},
    "colgroup": {"span"},
    "ol": {"start", "type"},
    "li": {"data-list"},
    "pre": {"spellcheck"},
}

#: `style` properties kept (Quill writes colours and alignment inline).
ALLOWED_STYLE_PROPERTIES = frozenset({
    "color", "background-color", "text-align", "text-decoration", "font-weight", "font-style",
})

#: URL schemes kept in href/src; `data:` is narrowed further in `_attribute_filter`.
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "mention", "data"})

LINK_REL = "noopener noreferrer nofollow"

_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
#: URLs that start so are neither script nor `data:`: kept as they are without more checks.
_PLAIN_URL_PREFIXES = ("https://", "http://", "mention://", "mailto:")
_IMAGE_DATA_URL = re.compile(r"data:image/(?:png|gif|jpe?g|webp|bmp|avif)[;,]", re.I)
_BAD_URL = re.compile(r"^\s*(?:javascript|vbscript|livescript)\s*:", re.I)
#: Colours, keywords and lengths only: no url(), expression(), comments, escapes or quotes.
_STYLE_TOKEN = r"(?:#[0-9a-fA-F]{3,8}|(?:rgba?|hsla?)\([0-9., %]*\)|[a-zA-Z-]+|-?[0-9.]+(?:px|em|rem|pt|%)?)"
_SAFE_STYLE_VALUE = re.compile(rf"^{_STYLE_TOKEN}(?:[ ,]+{_STYLE_TOKEN})*$")
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Extra sanitising passes at most; html5ever reaches its fixed point in one or two.
_MAX_PASSES = 4
_WHITESPACE = re.compile(r"\s+")
#: nh3 gives every <a> the link rel; the canonical mention (SPEC §5) carries none.
_MENTION_REL = re.compile(
    r'(<a class="mention" data-mention="" data-user-id="([0-9a-f]{24})" '
    r'href="mention://user/\2") rel="' + LINK_REL + '">'
)


#: Class and style values repeat across notes (editor classes, palette colours): their
#: (pure) filters are memoised, bounded.
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
        if value.startswith(_PLAIN_URL_PREFIXES):
            return value
        stripped = value.strip()
        if _BAD_URL.match(stripped):
            return None
        if stripped[:5].lower() == "data:":
            return value if tag == "img" and attribute == "src" and _IMAGE_DATA_URL.match(stripped) else None
        return value
    if attribute == "style":
        return _clean_style(value)
    return value


#: The sanitiser's nh3 options but its attribute filter: the reference's `Cleaner` and the
#: native sanitiser take them (and bench.what_if_worker measures a cleaner of these alone).
CLEANER_OPTIONS = {
    "tags": set(ALLOWED_TAGS),
    "clean_content_tags": set(CODE_TAGS),
    "attributes": {tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
    "strip_comments": True,
    "link_rel": LINK_REL,
    "url_schemes": set(URL_SCHEMES),
}
_CLEANER = nh3.Cleaner(**CLEANER_OPTIONS, attribute_filter=_attribute_filter)


#: The C0 controls but tab, LF and CR, and DEL, as UTF-8 bytes (each is one byte).
_C0_AND_DEL = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def drop_control_chars(text: str) -> str:
    """Remove control characters (C0, DEL, C1) except tab, LF and CR."""
    # Cheap test first: in UTF-8 a C0 control or DEL is its own byte (every byte of a
    # multi-byte sequence is >= 0x80) and a C1 control is 0xC2 0x80-0x9F.
    encoded = text.encode("utf-8", "surrogatepass")
    if b"\xc2" not in encoded and len(encoded.translate(None, _C0_AND_DEL)) == len(encoded):
        return text
    return _CONTROL_CHARS.sub("", text)


def reference_sanitize_html(html: str | None) -> str:
    """The SPEC §5 sanitiser, in Python around nh3 (the definition `sanitize_html` keeps to).

    Allowlisted HTML, control characters dropped, None → "". Idempotent:
    `sanitize_html(sanitize_html(x)) == sanitize_html(x)`. Links carry
    `rel="noopener noreferrer nofollow"`, except canonical mention anchors, which keep the
    exact SPEC §5 form.
    """
    if not html:
        return ""
    return _sanitize(drop_control_chars(html))


def _sanitize(source: str) -> str:
    """The sanitiser's loop, from HTML whose control characters are dropped."""
    cleaned = _CLEANER.clean(source)
    # Misnested markup (a heading inside a heading, …) can serialise to HTML that parses
    # into another tree, and numeric references (`java&#1;script:`) decode to control
    # characters whose removal could rejoin a scheme: clean again until nothing changes.
    # Input that is already clean costs one pass; so does output that provably re-parses
    # to the tree it came from (no numeric reference in the input, hence no control
    # character in the output, and `parses_literally`): nh3 would return it unchanged.
    if cleaned != source and ("&#" in source or not parses_literally(cleaned, ALLOWED_TAGS)):
        for _ in range(_MAX_PASSES):
            if cleaned == source:
                break
            source = drop_control_chars(cleaned)
            cleaned = _CLEANER.clean(source)
    if 'class="mention"' in cleaned:
        cleaned = _MENTION_REL.sub(r"\1>", cleaned)
    return cleaned


#: The native core (also used by `mentions`, `mention_text` and `identity` for their rules).
NATIVE = _NativeSanitizer(
    **CLEANER_OPTIONS,  # the reference's options; its attribute rules are native here
    style_properties=set(ALLOWED_STYLE_PROPERTIES),
    safe_style_value=_SAFE_STYLE_VALUE.pattern,
    literal_elements=set(EVERY_ELEMENT),
)


def sanitize_html(html: str | None) -> str:
    """`reference_sanitize_html(html)`, natively (see the module docstring)."""
    return NATIVE.sanitize(html) if html else ""


_EMPTY_DIGEST = ("", hashlib.sha256(b"").hexdigest(), 0)


def sanitize_digest(html: str | None) -> tuple[str, str, int]:
    """`(content, sha256 hex of its UTF-8, its UTF-8 length)` for `content = sanitize_html(html)`."""
    return NATIVE.sanitize_digest(html) if html else _EMPTY_DIGEST


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
