"""SPEC §5 content rules: the HTML allowlist, URLs, traces of what is removed, presentation.

The first pass is three steps. `_prepare` does, in the DOM (selectolax/lexbor), what an
allowlist cannot: media with a web source become a link to it (`[video] https://…`),
removed blocks become `div`s so their words stay apart, and task-list checkboxes become
`☑ `/`☐ `. Then nh3 (ammonia on html5ever) keeps the allowlisted elements, attributes,
URLs and CSS (`_attribute_filter`). Last, `_finish` works on nh3's regular serialisation:
an image left without a usable source becomes its `alt` text, and mentions take their
canonical form. Later passes are nh3 and `_finish` only. Passes
repeat until the output no longer changes (misnested markup can serialise to HTML that
parses into another tree, and a dropped attribute can reorder the others), so sanitising
twice equals sanitising once, byte for byte. Callers do their own DOM edits first and
sanitise last: what is stored is always what html5ever serialised.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from html import unescape
from typing import Any

import nh3
from selectolax.lexbor import LexborHTMLParser, LexborNode

#: Elements whose content is code (or fallback of code): removed with everything inside.
CODE_TAGS = frozenset(
    {
        "script", "style", "iframe", "object", "embed", "applet", "template", "noscript",
        "noembed", "noframes", "xmp", "svg", "math", "frameset", "frame",
    }
)  # fmt: skip

#: A CSS selector of `CODE_TAGS`.
CODE_SELECTOR = ",".join(sorted(CODE_TAGS))

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
_CELL_ATTRIBUTES = frozenset({"colspan", "rowspan", "align", "valign", "width", "height", "bgcolor"})
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "*": _GENERIC_ATTRIBUTES,
    "a": frozenset({"href", "target"}),
    "img": frozenset({"src", "alt", "width", "height"}),
    "table": frozenset({"border", "cellpadding", "cellspacing", "width", "align", "bgcolor"}),
    "tr": frozenset({"align", "valign", "bgcolor"}),
    "td": _CELL_ATTRIBUTES,
    "th": _CELL_ATTRIBUTES | {"scope"},
    "col": frozenset({"span", "width"}),
    "colgroup": frozenset({"span", "width"}),
    "ol": frozenset({"start", "type"}),
    "li": frozenset({"data-list"}),
    "pre": frozenset({"spellcheck"}),
    "p": frozenset({"align"}),
    "div": frozenset({"align"}),
}

#: CSS properties kept: the presentation that carries meaning (colours, alignment, table
#: borders, widths and padding). Values are checked by `_SAFE_STYLE_VALUE`.
ALLOWED_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "background", "text-align", "vertical-align",
        "text-decoration", "font-weight", "font-style",
        "border", "border-top", "border-right", "border-bottom", "border-left",
        "border-width", "border-style", "border-color", "border-collapse", "border-spacing",
        "width", "min-width", "max-width", "height",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    }
)  # fmt: skip

#: URL schemes nh3 lets through to `_attribute_filter`, which narrows them per attribute.
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel", "mention", "data"})
#: `href` schemes kept (SPEC §5); a canonical mention href is kept too.
HREF_SCHEMES = ("http:", "https:", "mailto:", "tel:")
#: `img src` schemes kept, and the raster `data:` images.
IMAGE_SCHEMES = ("http:", "https:")
_IMAGE_DATA_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp)[;,]", re.I)
_MENTION_URL = re.compile(r"mention://user/([0-9a-fA-F]{24})", re.I)

LINK_REL = "noopener noreferrer nofollow"

#: Colours, keywords and lengths only: no url(), expression(), comments, escapes or quotes.
_STYLE_TOKEN = (
    r"(?:#[0-9a-fA-F]{3,8}|(?:rgba?|hsla?)\([0-9., %]*\)|[a-zA-Z-]+"
    r"|-?[0-9.]+(?:px|em|rem|pt|pc|ex|ch|cm|mm|in|vw|vh|%)?)"
)
_SAFE_STYLE_VALUE = re.compile(rf"^{_STYLE_TOKEN}(?:[ ,]+{_STYLE_TOKEN})*$")
_FORBIDDEN_STYLE = re.compile(r"expression|url|position|behavior|binding|javascript", re.I)
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Sanitising passes at most; html5ever reaches its fixed point in two or three.
_MAX_PASSES = 6
_WHITESPACE = re.compile(r"\s+")

#: Class and style values repeat across notes (editor classes, palette colours).
_FILTER_CACHE_SIZE = 4096


#: What WHATWG URL parsing strips from both ends of a URL: C0 controls and space.
_URL_STRIPPED = "".join(map(chr, range(0x21)))


def browser_url(value: str) -> str:
    """A URL attribute as a browser reads it: leading and trailing C0 controls and spaces
    stripped, tabs and newlines removed (WHATWG URL parsing)."""
    url = value.strip(_URL_STRIPPED)
    return url.replace("\t", "").replace("\n", "").replace("\r", "")


def mention_user_hex(href: str) -> str | None:
    """The user hex of a `mention://user/<24 hex>` href (read as a browser reads it), else None."""
    return _mention_hex(browser_url(href))


def _mention_hex(url: str) -> str | None:
    """`mention_user_hex` of a URL already read by `browser_url`."""
    match = _MENTION_URL.fullmatch(url)
    return match.group(1).lower() if match else None


def _web_url(url: str, schemes: tuple[str, ...]) -> str | None:
    """`url` (already read by `browser_url`) if its scheme is one of `schemes`."""
    if url[:7].lower().startswith(schemes) and not _CONTROL_CHARS.search(url):
        return url
    return None


def usable_href(value: str) -> str | None:
    """The href kept (absolute http, https, mailto, tel, or a canonical mention), else None."""
    url = browser_url(value)
    hex_id = _mention_hex(url)
    if hex_id is not None:
        return f"mention://user/{hex_id}"
    return _web_url(url, HREF_SCHEMES)


def usable_image_src(value: str) -> str | None:
    """The `img src` kept (absolute http/https, or a raster `data:image`), else None."""
    url = browser_url(value)
    if _IMAGE_DATA_URL.match(url) and not _CONTROL_CHARS.search(url):
        return url
    return _web_url(url, IMAGE_SCHEMES)


@lru_cache(maxsize=_FILTER_CACHE_SIZE)
def _keep_classes(value: str) -> str | None:
    kept = [c for c in value.split() if c.startswith("ql-")]
    return " ".join(kept) if kept else None


@lru_cache(maxsize=_FILTER_CACHE_SIZE)
def _clean_style(value: str) -> str | None:
    kept = []
    for declaration in value.split(";"):
        name, _, style_value = declaration.partition(":")
        name, style_value = name.strip().lower(), style_value.strip()
        if (
            name in ALLOWED_STYLE_PROPERTIES
            and _SAFE_STYLE_VALUE.match(style_value)
            and not _FORBIDDEN_STYLE.search(style_value)
        ):
            kept.append(f"{name}: {style_value}")
    return "; ".join(kept) if kept else None


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        return _keep_classes(value)
    if attribute == "style":
        return _clean_style(value)
    if attribute == "href":
        return usable_href(value)
    if attribute == "src":
        return usable_image_src(value)
    if attribute == "target":
        return value if value == "_blank" else None
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


# --- what an allowlist cannot do: traces of removed content, in the DOM ------------------

#: Removed media and the word their link shows (`[video] https://…`).
MEDIA_KINDS = {"iframe": "embed", "video": "video", "audio": "audio", "embed": "embed", "object": "embed"}
#: Elements outside the allowlist that the browser draws as blocks (or as separate boxes):
#: they become `div`s, so the words of two of them never run together.
BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "center", "details", "dialog", "dir", "fieldset",
        "footer", "form", "header", "hgroup", "legend", "listing", "main", "menu", "nav",
        "search", "section", "summary", "select", "option", "optgroup", "datalist",
        "textarea", "button", "label", "output", "multicol", "marquee",
    }
)  # fmt: skip
CHECKED_BOX = "☑ "
UNCHECKED_BOX = "☐ "
#: The elements `_prepare` works on.
_DOM_TAGS = frozenset({*MEDIA_KINDS, *BLOCK_TAGS, "input"})
_START_TAG_NAME = re.compile(r"<([a-zA-Z][^\s/>]*)")


def _trie(words: list[str]) -> str:
    """A regular expression matching any of `words`, as a trie: `re` tries each branch of a
    flat alternation at every position, which is several times slower on long text."""
    branches = []
    for first in sorted({word[0] for word in words}):
        rests = [word[1:] for word in words if word[0] == first]
        tails = [rest for rest in rests if rest]
        optional = "?" if len(tails) < len(rests) else ""
        branches.append(f"{re.escape(first)}(?:{_trie(tails)}){optional}" if tails else re.escape(first))
    return "|".join(branches)


#: A start tag `_START_TAG_NAME` would read as one of `_DOM_TAGS`, or what a task list's
#: `data-checked` needs: without either, `_prepare` has nothing to do (cheap tests that
#: spare most notes a parse; `re` scans fast for a leading literal).
_DOM_START_TAG = re.compile(rf"<(?i:{_trie(sorted(_DOM_TAGS))})(?=[\s/>]|$)")
_TASK_LIST = re.compile(r"-(?i:checked)")


def _media_source(node: LexborNode) -> str | None:
    attrs = node.attributes
    candidates = [attrs.get("src"), attrs.get("data")]
    if node.tag in ("video", "audio"):
        candidates += [source.attributes.get("src") for source in node.css("source")]
    for candidate in candidates:
        url = _web_url(browser_url(candidate), IMAGE_SCHEMES) if candidate else None
        if url is not None:
            return url
    return None


def _media_kind(node: LexborNode) -> str:
    if node.tag == "iframe" and "ql-video" in (node.attributes.get("class") or "").split():
        return "video"
    return MEDIA_KINDS[node.tag or ""]


def _replace_with_children(tree: LexborHTMLParser, node: LexborNode, tag: str) -> None:
    block = tree.create_node(tag)
    for child in list(node.iter(include_text=True)):
        block.insert_child(child)
    node.replace_with(block)


def _prepare(source: str) -> str:
    """The DOM rules of one pass (see the module docstring); `source` itself when none applies."""
    # An element exists only where its start tag is spelled: parse only when one may need work.
    task_list = _TASK_LIST.search(source) is not None
    if not task_list and _DOM_START_TAG.search(source) is None:
        return source
    names = {name.lower() for name in set(_START_TAG_NAME.findall(source))}
    selectors = names & _DOM_TAGS
    if task_list and "ul" in names:
        selectors.add("ul[data-checked]")
    if not selectors:
        return source
    tree = LexborHTMLParser(source, is_fragment=True)
    nodes = tree.css(",".join(sorted(selectors)))
    changed = False
    for node in reversed(nodes):  # innermost first, so a replaced element's content is final
        tag = node.tag or ""
        if tag == "input":
            kind = (node.attributes.get("type") or "").strip().lower()
            mark = (CHECKED_BOX if "checked" in node.attributes else UNCHECKED_BOX) if kind == "checkbox" else ""
            node.replace_with(mark)
            changed = True
        elif tag == "ul":
            mark = CHECKED_BOX if (node.attributes.get("data-checked") or "") == "true" else UNCHECKED_BOX
            for item in node.css("li"):
                _prepend_text(item, mark)
            del node.attrs["data-checked"]
            changed = True
        elif tag in MEDIA_KINDS:
            url = _media_source(node)
            if url is not None:
                link = tree.create_node("a")
                link.attrs["href"] = url
                link.insert_child(f"[{_media_kind(node)}] {url}")
                node.insert_before(" ")
                node.insert_after(" ")
                node.replace_with(link)
                changed = True
        else:
            _replace_with_children(tree, node, "div")
            changed = True
    return (tree.html or "") if changed else source


def _prepend_text(node: LexborNode, text: str) -> None:
    first = node.child
    if first is None:
        node.insert_child(text)
    else:
        first.insert_before(text)


# --- on nh3's serialisation: images without a source, the canonical mention, no fake one --

#: Any image start tag in html5ever's serialisation (attributes double-quoted, `<` and `>`
#: escaped in values, so `<` starts a tag).
_IMAGE_TAG = re.compile(r'<img((?: [^\s"\'>/=]+="[^"]*")*)>')
_ALT = re.compile(r' alt="([^"]*)"')


def _image_or_alt(match: re.Match[str]) -> str:
    """An image whose source the filter dropped becomes its `alt` text, escaped as
    html5ever escapes text."""
    attributes = match.group(1)
    if ' src="' in attributes:
        return match.group(0)
    alt = _ALT.search(attributes)
    text = unescape(alt.group(1)).strip() if alt else ""
    return text.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace("<", "&lt;").replace(">", "&gt;")


#: nh3's output for a mention: its href and the link rel, in either order (a dropped
#: attribute before them swaps them); the canonical form (SPEC §5) carries no rel.
_BARE_MENTION = re.compile(
    r' (?:href="mention://user/([0-9a-f]{24})" rel="' + LINK_REL + r'"'
    r'|rel="' + LINK_REL + r'" href="mention://user/([0-9a-f]{24})")'
)
#: Any anchor start tag in html5ever's serialisation (attributes always double-quoted).
_ANCHOR_TAG = re.compile(r'<a((?: [^\s"\'>/=]+="[^"]*")*)>')
_MENTION_HREF = re.compile(r' href="mention:[^"]*"')


def _mention_anchor(match: re.Match[str]) -> str:
    attributes = match.group(1)
    bare = _BARE_MENTION.fullmatch(attributes)
    if bare is not None:
        hex_id = bare.group(1) or bare.group(2)
        return f'<a class="mention" data-mention="" data-user-id="{hex_id}" href="mention://user/{hex_id}">'
    return "<a" + _MENTION_HREF.sub("", attributes) + ">" if ' href="mention:' in attributes else match.group(0)


def _finish(cleaned: str) -> str:
    """nh3's output with images that lost their source replaced by their `alt` text, and
    mentions in the canonical form: an anchor whose only attribute is a mention href
    becomes the canonical anchor, and any other anchor loses a mention href, so no anchor
    but a canonical mention looks like one."""
    if "<img" in cleaned:
        cleaned = _IMAGE_TAG.sub(_image_or_alt, cleaned)
    return _ANCHOR_TAG.sub(_mention_anchor, cleaned) if 'href="mention:' in cleaned else cleaned


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

    Idempotent: `sanitize_html(sanitize_html(x)) == sanitize_html(x)`, byte for byte, as
    the passes repeat until the output is stable. Links carry `rel="noopener noreferrer
    nofollow"`, except canonical mention anchors, which keep the exact SPEC §5 form.
    """
    if not html:
        return ""
    clean = _cleaner().clean
    source = drop_control_chars(html)
    cleaned = _finish(clean(_prepare(source)))
    for _ in range(_MAX_PASSES - 1):
        if cleaned == source:
            break
        # Numeric references (`java&#1;script:`) decode to control characters: dropped
        # before every pass. nh3's output holds only allowlisted elements, so `_prepare`
        # has nothing left to do after the first pass.
        source = drop_control_chars(cleaned)
        cleaned = _finish(clean(source))
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
    for node in tree.css(CODE_SELECTOR):
        node.decompose()
    return _WHITESPACE.sub(" ", tree.text(deep=True)).strip()
