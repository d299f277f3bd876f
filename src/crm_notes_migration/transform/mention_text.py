"""Legacy mention spans rewritten as text: the DOM path's result without building a DOM.

The legacy editor writes every mention as the same markup (SPEC §2):

    <span class="mention" data-index="0" data-denotation-char="@" data-id="42"
    data-value="Budi"><span contenteditable="false"><span
    class="ql-mention-denotation-char">@</span>Budi</span></span>

(on one line). `legacy_mentions_as_text` replaces each such span, where it is written exactly
so, with the canonical anchor or the `@Name` text, the same decisions as
`mentions.normalise_mentions` (same shown name, same user, same order). It answers only
when that provably yields what the DOM path yields once sanitised, else None (the caller
then takes the DOM path):

- no other mention can be there: with the replacements made, the text says "mention" (any
  ASCII case) only in its new anchors, three times each, and holds no numeric character
  reference;
- the text with the replacements made passes `literal_grammar.spells_literal_tree`: every `<`
  starts a tag and the tree builder builds exactly the tree the tags spell, so the tree
  lexbor builds from the note has each span where the text has it, and the replaced text
  parses to the edited tree (the anchor is phrasing where the span was; text where
  non-whitespace text is not allowed fails the check);
- nothing that parsers may read differently: no CR, no NUL, no character reference but
  `&amp;` `&lt;` `&gt;` `&quot;` `&nbsp;`, no lone surrogate; the shown name holds no `&`.

`tests/unit/test_transform_shortcuts.py` compares it with the DOM path after sanitising.
It runs natively (`crm_notes_native`, the same decisions; the plain-markup proof there is
the tag-by-tag walk where this module's Python reference, `reference_legacy_mentions_as_text`,
matches the grammar); `test_native_core.py` compares the two.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bson import ObjectId

from .html import NATIVE
from .identity import normalise_email
from .literal_grammar import spells_literal_tree
from .types import CdpUser, Resolution

_LEGACY_SPAN = re.compile(
    r'<span class="mention" data-index="[0-9]+" data-denotation-char="@" data-id="([0-9]{1,19})" '
    r'data-value="[^"]*"><span contenteditable="false"><span class="ql-mention-denotation-char">'
    r"@</span>([^<&\x00\r]*)</span></span>"
)
_KNOWN_REFERENCES = ("&amp;", "&lt;", "&gt;", "&quot;", "&nbsp;")
#: An `&` that starts none of `_KNOWN_REFERENCES`.
_OTHER_AMPERSAND = re.compile("&(?!" + "|".join(ref[1:] for ref in _KNOWN_REFERENCES) + ")")


def _escape(text: str) -> str:
    return text.replace(">", "&gt;")  # the name holds no `&` nor `<`


def _anchor(user_id: ObjectId, name: str) -> str:
    hex_id = str(user_id)
    return (f'<a class="mention" data-mention="" data-user-id="{hex_id}" '
            f'href="mention://user/{hex_id}">@{_escape(name)}</a>')


def _references_are_plain(html: str) -> bool:
    """Every `&` starts one of `_KNOWN_REFERENCES` (one scan, not one per reference)."""
    return "&" not in html or _OTHER_AMPERSAND.search(html) is None


#: crm user ids the native scan can meet (`data-id` is 1 to 19 digits).
_U64 = 2**64


def legacy_mentions_as_text(
    html: str, crm_emails: Mapping[int, str | None], resolution: Resolution
) -> tuple[str, list[dict[str, Any]], int] | None:
    """`normalise_mentions(html, …)` for notes whose only mentions are exact legacy spans.

    Returns (html, mentions, unresolved) whose html sanitises to what the DOM path's html
    sanitises to, or None when that is not proven (see the module docstring).
    """
    targets: dict[int, CdpUser] = {}
    for crm_id, email in crm_emails.items():
        normalised = normalise_email(email)
        user = resolution.users_by_email.get(normalised) if normalised else None
        if user is not None and 0 <= crm_id < _U64:
            targets[crm_id] = user
    try:
        done = NATIVE.legacy_mentions_as_text(html, {k: str(u.id) for k, u in targets.items()})
    except UnicodeEncodeError:  # a lone surrogate: leave it to the DOM path
        return None
    if done is None:
        return None
    text, resolved, unresolved = done
    mentions: dict[ObjectId, dict[str, Any]] = {}
    for crm_id in resolved:
        user = targets[crm_id]
        mentions.setdefault(user.id, {"user_id": user.id, "name": user.name})
    return text, list(mentions.values()), unresolved


def reference_legacy_mentions_as_text(
    html: str, crm_emails: Mapping[int, str | None], resolution: Resolution
) -> tuple[str, list[dict[str, Any]], int] | None:
    """`legacy_mentions_as_text` in Python (the reference the native one keeps to)."""
    if "\r" in html or "\x00" in html:
        return None
    pieces: list[str] = []
    mentions: dict[ObjectId, dict[str, Any]] = {}
    unresolved = 0
    end = 0
    for match in _LEGACY_SPAN.finditer(html):
        name = match.group(2).strip()
        if not name:
            return None  # the DOM path would read `data-value` (with its references)
        pieces.append(html[end:match.start()])
        end = match.end()
        email = normalise_email(crm_emails.get(int(match.group(1))))
        user: CdpUser | None = resolution.users_by_email.get(email) if email else None
        if user is None:
            unresolved += 1
            pieces.append("@" + _escape(name))
            continue
        mentions.setdefault(user.id, {"user_id": user.id, "name": user.name})
        pieces.append(_anchor(user.id, name))
    if not pieces:
        return None
    pieces.append(html[end:])
    text = "".join(pieces)
    try:
        encoded = text.encode("utf-8")  # a lone surrogate: leave it to the DOM path
    except UnicodeEncodeError:
        return None
    # Each anchor says "mention" three times; anything else that does could be a mention.
    anchors = len(pieces) // 2 - unresolved
    if encoded.lower().count(b"mention") != 3 * anchors or "&#" in text:
        return None
    if not _references_are_plain(text) or not spells_literal_tree(text):
        return None
    return text, list(mentions.values()), unresolved
