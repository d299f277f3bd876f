"""Identity and checksums (SPEC §3): what reconcile recomputes to compare source and CDP."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import orjson
from bson import ObjectId

from crm_notes_migration.contract import NoteV1

#: Namespace of the deterministic `_id`; changing it would change every `_id`.
NOTE_ID_NAMESPACE = b"crm_notes_migration/contact_notes/v1"


def normalise_email(email: str | None) -> str | None:
    """An email as the CRM→CDP user mapping compares it: trimmed and casefolded; ""/None → None."""
    if email is None:
        return None
    normalised = email.strip().casefold()
    return normalised or None


def note_object_id(cid: int, legacy_crm_note_id: int) -> ObjectId:
    """The deterministic `_id` of a migrated note, from (cid, legacy id) alone.

    The 12 bytes are the first 12 of
    `sha256(NOTE_ID_NAMESPACE + b"|" + str(cid) + b"|" + str(legacy_crm_note_id))`
    (decimal ASCII). Its embedded "generation time" is meaningless; sort by `created_at`.
    """
    key = b"%s|%d|%d" % (NOTE_ID_NAMESPACE, int(cid), int(legacy_crm_note_id))
    return ObjectId(hashlib.sha256(key).digest()[:12])


def content_sha256(content: str) -> str:
    """Hex sha256 of the stored `content`: `sha256(content.encode("utf-8")).hexdigest()`."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _utc_iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def normalised_source(cid: int, note: NoteV1) -> dict[str, Any]:
    """The normalised source note that `source_sha256` hashes.

    `{"cid": cid, "note": note.model_dump(mode="json")}` where `created_at` and `updated_at`
    are rewritten as UTC ISO-8601 with microseconds (`2021-03-04T05:06:07.123456+00:00`;
    `updated_at` stays null when absent). Everything else (content_html as sent, author,
    mentioned_users and attachments in the order sent) is taken as is.
    """
    return _normalised(cid, note, _utc_iso(note.created_at), _utc_iso(note.updated_at))


def _normalised(cid: int, note: NoteV1, created_at: str | None, updated_at: str | None) -> dict[str, Any]:
    dumped = note.model_dump(mode="json")
    dumped["created_at"] = created_at
    dumped["updated_at"] = updated_at
    return {"cid": int(cid), "note": dumped}


def source_sha256(cid: int, note: NoteV1) -> str:
    """Hex sha256 of the canonical JSON of `normalised_source(cid, note)`.

    Canonical JSON: `json.dumps(obj, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False).encode("utf-8")`.
    """
    return hashlib.sha256(_canonical_json(normalised_source(cid, note))).hexdigest()


def source_sha256_of_utc(cid: int, note: NoteV1, created_at: str, updated_at: str | None) -> str:
    """`source_sha256(cid, note)` given the note's times as `normalised_source` writes them
    (UTC ISO-8601 with microseconds; None for a null `updated_at`)."""
    return hashlib.sha256(_canonical_json(_normalised(cid, note, created_at, updated_at))).hexdigest()


def _canonical_json(normalised: dict[str, Any]) -> bytes:
    """The canonical JSON of a normalised source note. orjson writes the same bytes as
    `json.dumps` for dicts, lists, str, int, bool and None (the contract has no floats);
    what it refuses (an integer over 64 bits, a lone surrogate) takes `json.dumps`."""
    try:
        return orjson.dumps(normalised, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(
            normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
