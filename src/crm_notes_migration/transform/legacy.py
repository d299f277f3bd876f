"""Rows of the legacy CRM (SPEC §2) and their contract form (SPEC §4).

`legacy_note_to_contract` is the one place a CRM row becomes a contract note: the extractor,
`run --dry-run` and reconcile all call it, so they agree byte for byte.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .mentions import legacy_mention_user_ids
from .times import legacy_time_to_utc

#: Anomaly codes of the contract step.
AUTHOR_UNKNOWN = "author_unknown"
MENTIONED_USER_UNKNOWN = "mentioned_user_unknown"
#: Text of the note (content, attachments, or a user it refers to) was not UTF-8 (SPEC §6a).
LEGACY_ENCODING = "legacy_encoding"


def decode_legacy_text(raw: bytes) -> tuple[str, bool]:
    """Text of a `SQL_ASCII` CRM, read as bytes, decoded as SPEC §6a says: UTF-8 where it
    is valid, otherwise Windows-1252, whose five undefined bytes become U+FFFD. Returns
    (text, whether it was not UTF-8)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), True


@dataclass(frozen=True, slots=True)
class LegacyUser:
    """A `crm_users` row."""

    id: int
    cid: int
    email: str | None = None
    full_name: str | None = None


@dataclass(frozen=True, slots=True)
class LegacyAttachment:
    """A `crm_note_attachments` row."""

    id: int
    note_id: int
    file_name: str
    file_url: str
    content_type: str | None
    file_size: int | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class LegacyNote:
    """A `crm_notes` row with its attachment rows (any order; the contract sorts them)."""

    id: int
    cid: int
    crm_person_id: int | None
    content: str | None
    created_by: int | None
    #: A time Python cannot hold (`infinity`, `-infinity`, outside years 1–9999) is the
    #: text PostgreSQL writes for it: sent as is, the API rejects the note (SPEC §6a).
    created_at: datetime | str
    updated_at: datetime | str | None = None
    deleted_at: datetime | None = None
    attachments: tuple[LegacyAttachment, ...] = field(default_factory=tuple)
    #: `(content, legacy_mention_user_ids(content))` when the reader already parsed the
    #: content (it needs those ids to fetch the users); `legacy_note_to_contract` reuses
    #: them only while `content` is that very string object, so a copy made with another
    #: content (e.g. `dataclasses.replace`) is parsed again. Not part of equality.
    parsed_mentions: tuple[str | None, tuple[int, ...]] | None = field(default=None, compare=False, repr=False)
    #: Some text of the note, of its attachments or of a user it refers to was not UTF-8
    #: and was decoded as Windows-1252 (`decode_legacy_text`): anomaly `legacy_encoding`.
    legacy_encoding: bool = False

    @property
    def in_scope(self) -> bool:
        """SPEC §2: `deleted_at IS NULL AND crm_person_id IS NOT NULL`."""
        return self.deleted_at is None and self.crm_person_id is not None


def _user_ref(user_id: int, users: Mapping[int, LegacyUser], cid: int) -> dict[str, Any] | None:
    user = users.get(user_id)
    if user is None or user.cid != cid:
        return None
    return {"crm_user_id": user.id, "email": user.email, "name": user.full_name}


def mention_user_ids(note: LegacyNote) -> list[int]:
    """`legacy_mention_user_ids(note.content)`, from `parsed_mentions` when it holds them."""
    parsed = note.parsed_mentions
    if parsed is not None and parsed[0] is note.content:
        return list(parsed[1])
    return legacy_mention_user_ids(note.content)


def _contract_time(value: datetime | str, tz: ZoneInfo) -> tuple[str, str | None]:
    """A legacy time as the contract writes it (UTC ISO-8601 with microseconds) and its
    anomaly. A time Python cannot hold stays the text PostgreSQL wrote; one whose UTC
    form falls outside years 1–9999 stays naive: the API rejects either as `invalid_note`."""
    if isinstance(value, str):
        return value, None
    try:
        utc, anomaly = legacy_time_to_utc(value, tz)
    except OverflowError:
        return value.isoformat(timespec="microseconds"), None
    return utc.isoformat(timespec="microseconds"), anomaly


def _attachment_id(att: LegacyAttachment) -> int:
    return att.id


def legacy_note_to_contract(
    note: LegacyNote, users: Mapping[int, LegacyUser], tz: ZoneInfo
) -> tuple[dict[str, Any], list[str]]:
    """The SPEC §4 note dict (JSON-ready) of a CRM row, and its anomaly codes.

    - times: `legacy_time_to_utc` in `tz`, written as UTC ISO-8601 with microseconds;
      `updated_at` stays null when NULL (the core sets it to `created_at`).
    - author: the `created_by` user of the same cid as `{crm_user_id, email, name}`;
      None when NULL; when dangling or of another cid, `{crm_user_id, email: None,
      name: None}` and the anomaly `author_unknown`.
    - mentioned_users: the users of `legacy_mention_user_ids(content)` in that order; a
      user missing or of another cid is left out (`mentioned_user_unknown`), so its
      mention ends as plain text.
    - attachments: in legacy id order, every row (the scheme filter is the core's).
    Anomalies: `legacy_encoding` (SPEC §6a), `dst_ambiguous` / `dst_nonexistent` (each at
    most once), the two above. A time Python cannot hold is sent as PostgreSQL wrote it.
    """
    anomalies: list[str] = [LEGACY_ENCODING] if note.legacy_encoding else []
    created_at, anomaly = _contract_time(note.created_at, tz)
    if anomaly:
        anomalies.append(anomaly)
    updated_at = None
    if note.updated_at is not None:
        updated_at, anomaly = _contract_time(note.updated_at, tz)
        if anomaly and anomaly not in anomalies:
            anomalies.append(anomaly)
    author = None
    if note.created_by is not None:
        author = _user_ref(note.created_by, users, note.cid)
        if author is None:
            anomalies.append(AUTHOR_UNKNOWN)
            author = {"crm_user_id": note.created_by, "email": None, "name": None}
    mentioned = []
    for user_id in mention_user_ids(note):
        ref = _user_ref(user_id, users, note.cid)
        if ref is None:
            if MENTIONED_USER_UNKNOWN not in anomalies:
                anomalies.append(MENTIONED_USER_UNKNOWN)
            continue
        mentioned.append(ref)
    attachments = note.attachments
    if len(attachments) > 1:
        attachments = sorted(attachments, key=_attachment_id)
    contract = {
        "legacy_crm_note_id": note.id,
        "crm_person_id": note.crm_person_id,
        "content_html": note.content,
        "author": author,
        "mentioned_users": mentioned,
        "created_at": created_at,
        "updated_at": updated_at,
        "attachments": [
            {
                "legacy_attachment_id": att.id,
                "file_name": att.file_name,
                "file_url": att.file_url,
                "content_type": att.content_type,
                "file_size": att.file_size,
            }
            for att in attachments
        ],
    }
    return contract, anomalies
