"""SPEC §7: attachment entries of a migrated note (metadata only; bytes are not copied)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from bson import Int64

from crm_notes_migration.contract import AttachmentV1

ALLOWED_SCHEMES = frozenset({"http", "https"})
#: Anomaly prefix: `attachment_dropped:<legacy_attachment_id>`.
ATTACHMENT_DROPPED = "attachment_dropped"


def rewrite_url(url: str, rewrite: tuple[str, str] | None) -> str:
    """Apply `ATTACHMENT_URL_REWRITE` (old prefix → new prefix) when the URL starts with it."""
    if rewrite and rewrite[0] and url.startswith(rewrite[0]):
        return rewrite[1] + url[len(rewrite[0]) :]
    return url


def _is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ALLOWED_SCHEMES and bool(parts.netloc)


def transform_attachments(
    attachments: Iterable[AttachmentV1], rewrite: tuple[str, str] | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """One entry per legacy row, in legacy id order, after the prefix rewrite.

    An entry is `{legacy_attachment_id: Int64, name, url, content_type, size: Int64 | None}`.
    A URL that is not absolute http(s) (after the rewrite) drops its attachment with the
    anomaly `attachment_dropped:<id>`.
    """
    entries: list[dict[str, Any]] = []
    anomalies: list[str] = []
    if not attachments:  # most notes
        return entries, anomalies
    for att in sorted(attachments, key=lambda a: a.legacy_attachment_id):
        url = rewrite_url(att.file_url.strip(), rewrite)
        if not _is_web_url(url):
            anomalies.append(f"{ATTACHMENT_DROPPED}:{att.legacy_attachment_id}")
            continue
        entries.append(
            {
                "legacy_attachment_id": Int64(att.legacy_attachment_id),
                "name": att.file_name,
                "url": url,
                "content_type": att.content_type,
                "size": None if att.file_size is None else Int64(att.file_size),
            }
        )
    return entries, anomalies
