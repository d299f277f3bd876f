"""Content checks: a stored `contact_notes` document against the one the core would write now.

Pure: no I/O. The expected document comes from re-transforming the source note with the
transform core (see `reconcile.engine`); this module only compares.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

#: Mismatch kinds, one per compared property (stable names: they appear in --json output).
SOURCE_CHANGED = "source_sha256"  # the legacy note changed since it was migrated
CONTENT_CHECKSUM = "content_sha256"  # stored checksum differs from the expected content's
CONTENT_TAMPERED = "content"  # stored content does not hash to its own checksum
CREATED_AT = "created_at"
UPDATED_AT = "updated_at"
ATTACHMENTS = "attachments"
CONTACT_ID = "contact_id"
DOCUMENT_ID = "_id"
EXPECTED_PARKED = "expected_parked"  # a document exists but the core would park the note
NOT_EXPECTED_PARKED = "parked_reason"  # a parked record whose reason the core no longer gives


def as_utc(value: Any) -> datetime | None:
    """A datetime as aware UTC (pymongo returns naive UTC unless tz_aware), else None."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_edited_in_cdp(stored: dict[str, Any]) -> bool:
    """True when a CDP user edited the document: `updated_at` moved off the legacy time."""
    legacy = as_utc((stored.get("migration") or {}).get("legacy_updated_at"))
    current = as_utc(stored.get("updated_at"))
    return legacy is not None and current is not None and legacy != current


def is_edited(stored: dict[str, Any]) -> bool:
    """A CDP user's work on a migration document, which the migration never overwrites or
    withdraws (SPEC §3): an edit (`is_edited_in_cdp`) or a deletion mark (`deleted_at`)."""
    return stored.get("deleted_at") is not None or is_edited_in_cdp(stored)


def _attachments(items: Any) -> list[tuple[Any, ...]]:
    rows = []
    for item in items or []:
        rows.append(tuple((k, item.get(k)) for k in ("legacy_attachment_id", "name", "url", "content_type", "size")))
    return rows


def compare_document(stored: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """The mismatch kinds between a stored (not user-edited) document and the expected one.

    An empty list means the document is what the core writes for the current source.
    Call only when `is_edited_in_cdp(stored)` is False: a user's edit is not a mismatch.
    """
    found: list[str] = []
    stored_meta = stored.get("migration") or {}
    expected_meta = expected.get("migration") or {}
    if stored.get("_id") != expected.get("_id"):
        found.append(DOCUMENT_ID)
    if stored_meta.get("source_sha256") != expected_meta.get("source_sha256"):
        found.append(SOURCE_CHANGED)
    if stored_meta.get("content_sha256") != expected_meta.get("content_sha256"):
        found.append(CONTENT_CHECKSUM)
    content = stored.get("content")
    if not isinstance(content, str) or sha256_hex(content) != stored_meta.get("content_sha256"):
        found.append(CONTENT_TAMPERED)
    if as_utc(stored.get("created_at")) != as_utc(expected.get("created_at")):
        found.append(CREATED_AT)
    if as_utc(stored.get("updated_at")) != as_utc(expected.get("updated_at")):
        found.append(UPDATED_AT)
    if _attachments(stored.get("attachments")) != _attachments(expected.get("attachments")):
        found.append(ATTACHMENTS)
    if stored.get("contact_id") != expected.get("contact_id"):
        found.append(CONTACT_ID)
    return found
