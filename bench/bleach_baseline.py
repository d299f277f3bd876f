"""The comparison job: the same content step done with bleach + BeautifulSoup (html.parser)."""

from __future__ import annotations

import re

import bleach
from bs4 import BeautifulSoup

from crm_notes_migration.transform.html import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    CODE_TAGS,
    drop_control_chars,
)
from crm_notes_migration.transform.identity import normalise_email

_MOBILE = re.compile(r"^\s*mention://user/([0-9a-fA-F]{24})\s*$", re.I)
#: No `style` (bleach's CSS sanitiser needs tinycss2, not installed): a little less work for bleach.
_ATTRIBUTES = {
    tag: sorted((attrs - {"style"}) | ({"rel"} if tag == "a" else set())) for tag, attrs in ALLOWED_ATTRIBUTES.items()
}
_CLEANER = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=_ATTRIBUTES,
    protocols={"http", "https", "mailto", "tel", "mention", "data"},
    strip=True,
    strip_comments=True,
)


def _user_for(tag, emails, resolution):
    if tag.has_attr("data-mention") or tag.has_attr("data-user-id"):
        return resolution.users_by_id.get((tag.get("data-user-id") or "").lower())
    if tag.name == "a":
        match = _MOBILE.match(tag.get("href") or "")
        return resolution.users_by_id.get(match.group(1).lower()) if match else None
    email = normalise_email(emails.get(int(tag.get("data-id", "0") or 0)))
    return resolution.users_by_email.get(email) if email else None


def bleach_transform_content(html, note, resolution):
    """Same contract as `transform.note.transform_content`, done the bleach + BeautifulSoup way."""
    if not html:
        return "", [], 0
    soup = BeautifulSoup(drop_control_chars(html), "html.parser")
    for tag in soup.find_all(list(CODE_TAGS)):
        tag.decompose()
    emails = {ref.crm_user_id: ref.email for ref in note.mentioned_users}
    mentions, unresolved = {}, 0
    found = soup.select('span.mention[data-id], [data-mention], a[href^="mention:"]')
    for tag in found:
        if tag.decomposed or tag.parent is None:
            continue
        name = tag.get_text().strip().lstrip("@").strip() or tag.get("data-value", "")
        user = _user_for(tag, emails, resolution)
        if user is None:
            unresolved += 1
            tag.replace_with(f"@{name}")
            continue
        mentions.setdefault(user.id, {"user_id": user.id, "name": user.name})
        anchor = soup.new_tag(
            "a",
            attrs={
                "class": "mention",
                "data-mention": "",
                "data-user-id": str(user.id),
                "href": f"mention://user/{user.id}",
            },
        )
        anchor.string = f"@{name}"
        tag.replace_with(anchor)
    for link in soup.find_all("a"):
        if "mention" not in (link.get("class") or []):
            link["rel"] = "noopener noreferrer nofollow"
    cleaned = _CLEANER.clean(str(soup))
    return drop_control_chars(cleaned), list(mentions.values()), unresolved
