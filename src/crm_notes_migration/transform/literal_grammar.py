"""A regular grammar of HTML that surely parses to the tree its tags spell (a fast "yes").

`reparse.parses_literally` proves this tag by tag with a stack in Python; editor HTML is
shallow and regular enough to be matched, at C speed, by one depth-bounded regular
expression of the same rules (stricter). `matches_literal_grammar` is tried first; no
match means "ask the walk". `spells_literal_tree` checks raw input the same way (any
element the grammar knows), for callers that then need only one nh3 pass.
`tests/unit/test_transform_shortcuts.py` checks a "yes" against nh3 and against the walk.
"""
from __future__ import annotations

import re

# The rules
#
# Editor HTML is shallow and regular, so it is matched (at C speed) by a depth-bounded
# grammar of the same rules, stricter than the walk's (`reparse._walk`), each implying its steps:
# - tags as html5ever writes them (`name="value"` attributes, values without `<`/`>`,
#   text without `<`), every element closed by its own end tag;
# - inline content: text, `br`, `img`, phrasing elements holding inline content and `a`
#   holding inline content without `a` (no `a` in an open `a`); `p`, headings and `pre`
#   hold inline content only (nothing closes a `p`, no heading is right in a heading),
#   `pre` not starting with a newline;
# - blocks (at the top, in `li`, `blockquote`, `div`, `figure`, `figcaption` and cells):
#   text, `hr`, the above, `ol`/`ul` holding text and `li` (each `li` right in its list,
#   none open in list-item scope), those containers, and tables as table > section > tr >
#   cell with only whitespace between them (no table part elsewhere, nothing fostered).
# A `<` the grammar cannot read, deeper nesting or anything else leaves it to the walk.
_ATTRIBUTES = r'(?: [a-z][a-z0-9-]*="[^"<>]*")*+'
_TEXT = r"[^<]++"
_WS = r"[ \t\n\f]*+"
_TEXT_ONLY = f"(?:{_TEXT})?"
#: Text, then items each followed by text: the language of `(?:{_TEXT}|<item)*` (a text
#: run is maximal, so two never follow each other) in half the repetitions, each of which
#: costs `re` a save of every group's marks.
_TEXT_RUN = r"[^<]*+"


def _items(item: str) -> str:
    """Any sequence of text runs and `<` + `item`."""
    return f"{_TEXT_RUN}(?:<(?:{item}){_TEXT_RUN})*"

_PHRASING_NAMES = (
    "span", "b", "strong", "i", "em", "u", "s", "strike", "del", "ins", "sub", "sup", "small",
    "mark", "code", "kbd", "samp", "q", "cite", "abbr",
)
_INLINE_HOLDERS = _PHRASING_NAMES + ("h1", "h2", "h3", "h4", "h5", "h6", "pre")
_CONTAINERS = ("blockquote", "div", "figure", "figcaption")
#: Nesting bounds: inline levels in a `p` (or any inline holder), block levels.
_INLINE_DEPTH = 4
_BLOCK_DEPTH = 1


def _alternatives(names: list[str]) -> str:
    """`names` as a trie (one branch per first letter, which `re` rejects on one character)."""
    by_first: dict[str, list[str]] = {}
    for name in sorted(set(names)):
        by_first.setdefault(name[0], []).append(name[1:])
    branches = []
    for first, rests in by_first.items():
        tails = [rest for rest in rests if rest]
        if not tails:
            branches.append(first)
        else:
            branches.append(f"{first}(?:{_alternatives(tails)}){'?' if '' in rests else ''}")
    return "|".join(branches)


class _Grammar:
    """Builds the grammar for one allowlist; each use of a production gets its own groups."""

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed
        self.groups = 0

    def names(self, names: tuple[str, ...]) -> str | None:
        kept = [name for name in names if name in self.allowed]
        return _alternatives(kept) if kept else None

    def element(self, names: tuple[str, ...], content: str, after_start: str = "") -> str | None:
        """`name attrs>content</name>` (after the `<`) for any of `names` that is allowed.

        One name, or text-only content: spelled out name by name. Otherwise one group
        holds the name for its end tag (`re` saves every group at each step: fewer is faster).
        """
        kept = [name for name in names if name in self.allowed]
        if len(kept) == 1 or (kept and content == _TEXT_ONLY):
            return "|".join(f"{name}{_ATTRIBUTES}>{after_start}{content}</{name}>" for name in kept)
        if not kept:
            return None
        self.groups += 1
        group = f"g{self.groups}"
        return f"(?P<{group}>{_alternatives(kept)}){_ATTRIBUTES}>{after_start}{content}</(?P={group})>"

    def void(self, names: tuple[str, ...]) -> str | None:
        alternatives = self.names(names)
        return f"(?:{alternatives}){_ATTRIBUTES}>" if alternatives else None

    @staticmethod
    def repeat(*tags: str | None) -> str:
        kept = [tag for tag in tags if tag]
        return _items("|".join(kept)) if kept else _TEXT_ONLY

    def inline(self, depth: int, in_a: bool = False) -> str:
        """Inline content; in an `a` (`in_a`), without `a`."""
        if depth == 0:
            return _TEXT_ONLY
        return self.repeat(
            self.void(("br", "img")),
            self.element(_PHRASING_NAMES, self.inline(depth - 1, in_a)),
            None if in_a else self.element(("a",), self.inline(depth - 1, True)),
        )

    def blocks(self, depth: int) -> str:
        if depth == 0:
            return self.inline(_INLINE_DEPTH)
        item = self.element(("li",), self.blocks(depth - 1))
        cells = [self.element((name,), self.blocks(depth - 1)) for name in ("td", "th")]
        cell = "|".join(c for c in cells if c)
        row = self.element(("tr",), f"{_WS}(?:<(?:{cell}){_WS})*") if cell else None
        section = self.element(("tbody", "thead", "tfoot"), f"{_WS}(?:<{row}{_WS})*") if row else None
        table = self.element(("table",), f"{_WS}(?:<{section}{_WS})*") if section else None
        return self.repeat(
            # `p` first and on its own (no group): most blocks are paragraphs.
            self.element(("p",), self.inline(_INLINE_DEPTH - 1)),
            self.void(("br", "img", "hr")),
            self.element(_INLINE_HOLDERS, self.inline(_INLINE_DEPTH - 1), after_start="(?!\n)"),
            self.element(("a",), self.inline(_INLINE_DEPTH - 1, True)),
            self.element(("ol", "ul"), _items(item) if item else _TEXT_ONLY),
            self.element(_CONTAINERS, self.blocks(depth - 1)),
            table,
        )


_GRAMMARS: dict[frozenset[str], re.Pattern[str]] = {}


def _grammar(allowed: frozenset[str]) -> re.Pattern[str]:
    grammar = _GRAMMARS.get(allowed)
    if grammar is None:
        grammar = _GRAMMARS.setdefault(allowed, re.compile(_Grammar(allowed).blocks(_BLOCK_DEPTH)))
    return grammar


def matches_literal_grammar(html: str, allowed: frozenset[str]) -> bool:
    """A sure "yes" by the grammar above (for `\r`-free HTML)."""
    return _grammar(allowed).fullmatch(html) is not None


EVERY_ELEMENT = frozenset(_INLINE_HOLDERS + _CONTAINERS + (
    "p", "a", "br", "img", "hr", "ol", "ul", "li", "table", "tbody", "thead", "tfoot", "tr", "td", "th"))


def spells_literal_tree(html: str) -> bool:
    """True only if every `<` of `html` starts a tag written as html5ever writes it
    (`name="value"` attributes) and a `div` fragment parse builds exactly the tree the tags
    spell, by the grammar above, with no allowlist (any element it knows)."""
    return "\r" not in html and matches_literal_grammar(html, EVERY_ELEMENT)
