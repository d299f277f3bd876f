"""Value types of the transform core. Plain data: no I/O, no clock, no globals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId

from crm_notes_migration.config import DEFAULT_MAX_NOTE_HTML_BYTES

#: Bumped whenever a rule of the core changes what it writes.
TRANSFORM_VERSION = 2

#: Reason codes of SPEC §3, exactly.
CONTACT_NOT_FOUND = "contact_not_found"
AMBIGUOUS_CONTACT = "ambiguous_contact"
EDITED_IN_CDP = "edited_in_cdp"
CONTENT_TOO_LARGE = "content_too_large"
INVALID_NOTE = "invalid_note"
REASONS = (CONTACT_NOT_FOUND, AMBIGUOUS_CONTACT, EDITED_IN_CDP, CONTENT_TOO_LARGE, INVALID_NOTE)


@dataclass(frozen=True, slots=True)
class CdpUser:
    """A CDP user (`users` collection) of the note's cid."""

    id: ObjectId
    name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the caller looked up for one note, within the note's cid only.

    contact_ids: every contact of the cid whose `source_id` is the note's person (0, 1 or more).
    users_by_email: CDP users of the cid keyed by `normalise_email(email)`.
    users_by_id: CDP users of the cid keyed by their `_id` hex string.
    """

    contact_ids: tuple[ObjectId, ...]
    users_by_email: Mapping[str, CdpUser] = field(default_factory=dict)
    users_by_id: Mapping[str, CdpUser] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TransformOptions:
    """The knobs of SPEC §5–7 that come from configuration."""

    max_note_html_bytes: int = DEFAULT_MAX_NOTE_HTML_BYTES
    #: `ATTACHMENT_URL_REWRITE` split into (old prefix, new prefix).
    attachment_url_rewrite: tuple[str, str] | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> TransformOptions:
        return cls(
            max_note_html_bytes=settings.max_note_html_bytes,
            attachment_url_rewrite=settings.url_rewrite,
        )


@dataclass(slots=True)
class TransformResult:
    """The outcome for one note: a `contact_notes` document, or a reason it cannot land.

    document: every `contact_notes` field of SPEC §3 except `migrated_at` (the store sets it
    on first insert); None when `reason` is set.
    reason: a SPEC §3 reason code, or None.
    detail: a human-readable line about the reason.
    anomalies: things reported but not fatal, as short codes (see transform.note).
    """

    document: dict[str, Any] | None
    reason: str | None = None
    detail: str = ""
    anomalies: list[str] = field(default_factory=list)
