"""SPEC §5 mentions: the three input forms to the one canonical anchor.

Accepted forms:
- legacy span: `<span class="mention" data-id="<crm_users.id>" data-value="Name">…@Name…</span>`,
  resolved through the note's `mentioned_users` (crm id → email) to the CDP user with that
  normalised email in the cid;
- web form: any element with `data-mention` and `data-user-id="<CDP user hex>"`;
- bare mobile form: `<a href="mention://user/<CDP user hex>">`, the href read as a browser
  reads it (leading spaces, `&#32;`, tabs or newlines do not hide it).

Each becomes `<a class="mention" data-mention="" data-user-id="<hex>"
href="mention://user/<hex>">@Name</a>`, Name being the name shown in the source; an
unresolved one becomes the plain text `@Name`. The DOM work is done with selectolax (lexbor);
the caller sanitises afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import unescape
from typing import Any

from bson import ObjectId
from selectolax.lexbor import LexborHTMLParser, LexborNode

from .html import CODE_SELECTOR, browser_url, mention_user_hex
from .identity import normalise_email
from .types import CdpUser, Resolution

_SELECTOR = "span.mention[data-id], [data-mention], a[href]"
_LEGACY_SELECTOR = "span.mention[data-id]"
_HEX_ID = re.compile(r"^[0-9a-fA-F]{24}$")
_CRM_ID = re.compile(r"^\s*(\d{1,19})\s*$")


def legacy_mention_user_ids(html: str | None) -> list[int]:
    """crm_users ids of the legacy mention spans, in document order, without duplicates."""
    if not html or not may_hold_mention(html):
        return []
    tree = LexborHTMLParser(html, is_fragment=True)
    seen: dict[int, None] = {}
    for node in tree.css(_LEGACY_SELECTOR):
        match = _CRM_ID.match(node.attributes.get("data-id") or "")
        if match:
            seen.setdefault(int(match.group(1)), None)
    return list(seen)


def _shown_name(node: LexborNode) -> str:
    """The name the reader sees: the node's text outside code elements, without the `@`."""
    for code in node.css(CODE_SELECTOR):
        code.decompose()
    text = (node.text(deep=True) or "").strip()
    if text.startswith("@"):
        text = text[1:].strip()
    if not text:
        text = (node.attributes.get("data-value") or "").strip()
    return text


def _target_user(node: LexborNode, crm_emails: Mapping[int, str | None], resolution: Resolution) -> CdpUser | None:
    attrs = node.attributes
    if "data-mention" in attrs or "data-user-id" in attrs:
        hex_id = (attrs.get("data-user-id") or "").strip()
        if not _HEX_ID.match(hex_id):
            hex_id = mention_user_hex(attrs.get("href") or "") or ""
        return resolution.users_by_id.get(hex_id.lower()) if hex_id else None
    if node.tag == "a":
        from_href = mention_user_hex(attrs.get("href") or "")
        return resolution.users_by_id.get(from_href) if from_href else None
    match = _CRM_ID.match(attrs.get("data-id") or "")
    if not match:
        return None
    email = normalise_email(crm_emails.get(int(match.group(1))))
    return resolution.users_by_email.get(email) if email else None


def _canonical_anchor(tree: LexborHTMLParser, user_id: ObjectId, name: str) -> LexborNode:
    hex_id = str(user_id)
    anchor = tree.create_node("a")
    anchor.attrs["class"] = "mention"
    anchor.attrs["data-mention"] = ""
    anchor.attrs["data-user-id"] = hex_id
    anchor.attrs["href"] = f"mention://user/{hex_id}"
    anchor.insert_child(f"@{name}")
    return anchor


def _is_mention(node: LexborNode) -> bool:
    """Whether a node of `_SELECTOR` is a mention: an anchor only by a `mention:` href."""
    attrs = node.attributes
    if node.tag != "a" or "data-mention" in attrs:
        return True
    return browser_url(attrs.get("href") or "")[:8].lower() == "mention:"


def inside_any(node: LexborNode, done: set[int]) -> bool:
    """Whether an ancestor of `node` is one of the nodes whose `mem_id` is in `done`."""
    parent = node.parent
    while parent is not None:
        if parent.mem_id in done:
            return True
        parent = parent.parent
    return False


def may_hold_mention(html: str) -> bool:
    """False only when `html` cannot hold a mention: each form needs the word "mention"
    (a class, a `data-mention` attribute or a `mention:` href), in any ASCII case, in the
    markup as written or with its character references decoded, tabs and newlines
    ignored (a URL parser removes them). Only numeric references and `&Tab;`/`&NewLine;`
    decode to a letter of "mention", a tab or a newline."""
    # bytes.lower changes ASCII letters only and is far cheaper than str.lower.
    lowered = html.encode("utf-8", "surrogatepass").lower()
    if b"mention" in lowered:
        return True
    if b"&#" in lowered or b"&tab;" in lowered or b"&newline;" in lowered:
        lowered = unescape(html).encode("utf-8", "surrogatepass").lower()
    elif b"\t" not in lowered and b"\n" not in lowered and b"\r" not in lowered:
        return False
    return b"mention" in lowered.replace(b"\t", b"").replace(b"\n", b"").replace(b"\r", b"")


def normalise_mentions(
    html: str, crm_emails: Mapping[int, str | None], resolution: Resolution
) -> tuple[str, list[dict[str, Any]], int]:
    """Rewrite every mention of `html` to the canonical form (or `@Name` text when unresolved).

    crm_emails: crm_users.id → email, from the note's `mentioned_users`.
    Returns (html, mentions, unresolved count); mentions are `{user_id: ObjectId, name:
    CDP user name}` in document order without duplicates. The output is not sanitised yet.
    Idempotent on its own output (canonical anchors are resolved through `users_by_id`).
    """
    if not html or not may_hold_mention(html):
        return html, [], 0
    tree = LexborHTMLParser(html, is_fragment=True)
    nodes = tree.css(_SELECTOR)
    if not nodes:
        return html, [], 0
    mentions: dict[ObjectId, dict[str, Any]] = {}
    done: set[int] = set()
    unresolved = 0
    for node in nodes:
        if inside_any(node, done) or not _is_mention(node):
            continue
        done.add(node.mem_id)
        name = _shown_name(node)
        user = _target_user(node, crm_emails, resolution)
        if user is None:
            unresolved += 1
            node.replace_with(f"@{name}")
            continue
        mentions.setdefault(user.id, {"user_id": user.id, "name": user.name})
        node.replace_with(_canonical_anchor(tree, user.id, name), move=True)
    if not done:
        return html, [], 0
    return tree.html or "", list(mentions.values()), unresolved


def crm_emails_of(mentioned_users: Sequence[Any]) -> dict[int, str | None]:
    """crm_user_id → email of a contract note's `mentioned_users`."""
    return {ref.crm_user_id: ref.email for ref in mentioned_users}
