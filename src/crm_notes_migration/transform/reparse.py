"""Does a sanitiser output re-parse to the tree it was serialised from? (a cheap, sure "yes")

`sanitize_html` cleans until nothing changes, because one html5ever pass can serialise a
tree that parses into another one (misnested markup, a newline after `<pre>`, …). Most
notes are ordinary editor HTML whose first output is already the fixed point; proving that
here costs a fraction of the second nh3 pass it saves.

`parses_literally(html)` answers True only when the HTML tree builder (WHATWG §13.2.6,
fragment parsing in a `div` context, which is what ammonia does) would build from `html`
exactly the tree its tags spell: every start tag inserted as a child of the current node,
every end tag closing the current node, no implied end tags, no foster parenting, no
adoption agency, no reconstruction of formatting elements, no dropped newline. For such an
input, parsing gives back the tree that was serialised, the allowlist has nothing left to
remove and the attribute filters are idempotent, so nh3 would return the same string.
Anything it does not recognise is a "no" (the caller then runs the full loop), so it may be
conservative but never wrong.

It expects html5ever's serialisation: lower-case names, `name="value"` attributes with `"`
escaped, text with `<` and `>` escaped. Only tags of `allowed` are accepted. Regular editor
HTML is proven first by `literal_grammar` (one compiled regular expression, same rules,
stricter); the tag-by-tag walk here is the general proof.
"""
from __future__ import annotations

import re

from .literal_grammar import matches_literal_grammar

#: What follows each `<`: a tag name ("/p" for an end tag), exact once no attribute value
#: holds `<`/`>`. Anything else (`<` not starting a tag as html5ever writes it) yields a
#: string that is no tag name, so every `<` is accounted for.
_TAG_NAME = re.compile(r"<(/?[a-z0-9]*[^a-z0-9 >]?)")
#: An attribute value holding `<` or `>` (html5ever escapes neither in values).
#: Text may hold `="` too: then this errs on the side of "no".
_ANGLE_IN_VALUE = re.compile(r'="[^"]*[<>]')
_HTML_WHITESPACE = " \t\n\f\r"


def _ends(*names: str) -> frozenset[str]:
    return frozenset("/" + name for name in names)


# The stack of open elements holds each element's end tag ("/p"), which is what closes it.
_VOID = frozenset({"br", "img", "hr", "col", "wbr"})
#: Start tags that first close a `p` in button scope ("address, article, …" and friends).
_CLOSES_P = frozenset({
    "blockquote", "div", "dl", "figcaption", "figure", "ol", "p", "ul", "pre", "table", "hr",
    "li", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6",
})
#: Start tags inserted as they are wherever no table part is the current node (outside
#: tables: always). Not `a` (adoption agency), nothing that closes a `p`, no table part.
_PHRASING = frozenset({
    "span", "b", "strong", "i", "em", "u", "s", "strike", "del", "ins", "sub", "sup", "small",
    "mark", "code", "kbd", "samp", "q", "cite", "abbr", "br", "img",
})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_OPEN_HEADINGS = _ends(*_HEADINGS)
#: Boundaries of "button scope" among the elements that can be open here.
_BUTTON_SCOPE = _ends("table", "td", "th", "caption", "button")
#: Markers of the list of active formatting elements among the elements that can be open here.
_MARKERS = _ends("td", "th", "caption")
#: Special elements that stop the search for an open `li` / `dd` / `dt` (except address, div, p).
_LIST_ITEM_STOP = _ends(
    "blockquote", "caption", "colgroup", "dd", "dl", "dt", "figcaption", "figure", "h1", "h2",
    "h3", "h4", "h5", "h6", "li", "ol", "pre", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "ul",
)
_TABLE_PARTS = frozenset({"caption", "col", "colgroup", "tbody", "thead", "tfoot", "tr", "td", "th"})
#: In these insertion modes ("in table", "in table body", "in row", "in column group") only
#: these children are inserted as they are; anything else is moved or implies a wrapper.
_TABLE_CHILDREN = {
    "/table": frozenset({"caption", "colgroup", "tbody", "thead", "tfoot"}),
    "/tbody": frozenset({"tr"}),
    "/thead": frozenset({"tr"}),
    "/tfoot": frozenset({"tr"}),
    "/tr": frozenset({"td", "th"}),
    "/colgroup": frozenset({"col"}),
}


def _open_in_scope(stack: list[str], wanted: frozenset[str], boundaries: frozenset[str]) -> bool:
    for end in reversed(stack):
        if end in wanted:
            return True
        if end in boundaries:
            return False
    return False


_P = frozenset({"/p"})
_A = frozenset({"/a"})
_LI = frozenset({"/li"})
_DD_DT = frozenset({"/dd", "/dt"})


def _block_is_literal(name: str, stack: list[str], in_p: bool) -> bool:
    """A start tag of `_CLOSES_P`, `a` or a table part, where no table part is current."""
    if name == "a":
        return not _open_in_scope(stack, _A, _MARKERS)
    # A `p` in button scope is the `p` being open: nothing that closes one is accepted
    # inside it (so it holds no table cell either).
    if in_p or name in _TABLE_PARTS:
        return False
    if name in _HEADINGS:
        return not stack or stack[-1] not in _OPEN_HEADINGS
    if name == "li":
        return not _open_in_scope(stack, _LI, _LIST_ITEM_STOP)
    if name == "dd" or name == "dt":
        return not _open_in_scope(stack, _DD_DT, _LIST_ITEM_STOP)
    return True


_END_TAG, _INLINE, _OTHER = 0, 1, 2


def _kinds(allowed: frozenset[str]) -> dict[str, tuple[int, str | None]]:
    """name as `_TAG_NAME` finds it → (kind, what goes on the stack)."""
    kinds: dict[str, tuple[int, str | None]] = {}
    for name in allowed & (_PHRASING | _CLOSES_P | _TABLE_PARTS | {"a"}):
        kinds[name] = (_INLINE if name in _PHRASING else _OTHER, None if name in _VOID else "/" + name)
        if name not in _VOID:
            kinds["/" + name] = (_END_TAG, "/" + name)
    return kinds


_KINDS_BY_ALLOWLIST: dict[frozenset[str], dict[str, tuple[int, str | None]]] = {}
_UNKNOWN = (-1, None)


def parses_literally(html: str, allowed: frozenset[str]) -> bool:
    """True only if parsing `html` as a `div` fragment builds exactly the tree its tags spell.

    See the module docstring; False means "not proven", not "differs".
    """
    # With no `<`/`>` in attribute values (html5ever escapes them in text), every `<`
    # starts a tag and the names say everything but the text. Text matters in two places:
    # right after `<pre>` (a newline there is dropped) and where a table part is the
    # current node (non-whitespace text would be foster-parented).
    if "\r" in html:
        return False
    if matches_literal_grammar(html, allowed):
        return True
    if _ANGLE_IN_VALUE.search(html):
        return False
    return _walk(html, _TAG_NAME.findall(html), allowed)


def _walk(html: str, names: list[str], allowed: frozenset[str]) -> bool:
    """The tag-by-tag proof: the tree builder's steps for these tags, on a stack."""
    kinds = _KINDS_BY_ALLOWLIST.get(allowed)
    if kinds is None:
        kinds = _KINDS_BY_ALLOWLIST.setdefault(allowed, _kinds(allowed))
    stack: list[str] = []
    in_p = False
    tables = 0  # open <table> elements
    pieces: list[str] | None = None  # "name attributes>text" per tag, split when needed
    for index, name in enumerate(names):
        kind, end = kinds.get(name, _UNKNOWN)
        if kind == _END_TAG:
            if not stack or stack.pop() != end:
                return False
            if end == "/p":
                in_p = False
            elif end == "/table":
                tables -= 1
        elif tables and stack[-1] in _TABLE_CHILDREN:
            if name not in _TABLE_CHILDREN[stack[-1]]:
                return False
            if end is not None:
                stack.append(end)
        elif kind == _INLINE:
            if end is not None:
                stack.append(end)
        elif kind == _OTHER and _block_is_literal(name, stack, in_p):
            if end is not None:
                stack.append(end)
            if name == "p":
                in_p = True
            elif name == "table":
                tables += 1
            elif name == "pre":
                if pieces is None:
                    pieces = html.split("<")
                if pieces[index + 1].partition(">")[2][:1] == "\n":
                    return False
        else:
            return False
        if tables and stack and stack[-1] in _TABLE_CHILDREN:
            if pieces is None:
                pieces = html.split("<")
            if pieces[index + 1].partition(">")[2].strip(_HTML_WHITESPACE):
                return False
    return not stack
