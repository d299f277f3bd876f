"""Identity and checksums (SPEC §3): what reconcile recomputes to compare source and CDP."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from ..contract import NoteV1
from .html import native_source_sha256 as _native_source_sha256

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
    dumped = note.model_dump(mode="json")
    dumped["created_at"] = _utc_iso(note.created_at)
    dumped["updated_at"] = _utc_iso(note.updated_at)
    return {"cid": int(cid), "note": dumped}


def source_sha256(cid: int, note: NoteV1) -> str:
    """Hex sha256 of the canonical JSON of `normalised_source(cid, note)`.

    Canonical JSON: `json.dumps(obj, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False).encode("utf-8")`.

    Computed without `model_dump` and the `json` module: the native core
    (`crm_notes_native`) writes the same object with its keys in sorted order, escaping
    strings exactly as `json.dumps(..., ensure_ascii=False)` does (`\\"`, `\\\\`,
    `\\b \\f \\n \\r \\t`, other C0 as `\\u00xx`, nothing else), so the bytes, and the
    hash, are the same. Anything it refuses (a lone surrogate, a value that is no JSON
    scalar of the contract, a contract with fields this code does not know) takes the
    reference `json` path.
    """
    return source_sha256_of_utc(cid, note, _utc_iso(note.created_at), _utc_iso(note.updated_at))


def source_sha256_of_utc(cid: int, note: NoteV1, created_at: str, updated_at: str | None) -> str:
    """`source_sha256(cid, note)` given the note's times as `normalised_source` writes them
    (UTC ISO-8601 with microseconds; None for a null `updated_at`)."""
    if _FAST_FIELDS_OK:
        try:
            return _native_source_sha256(int(cid), note, created_at, updated_at)
        except (TypeError, UnicodeEncodeError):  # the reference path below decides (and raises)
            pass
    return _reference_source_sha256(cid, note)


def _reference_source_sha256(cid: int, note: NoteV1) -> str:
    canonical = json.dumps(
        normalised_source(cid, note), sort_keys=True, separators=(",", ":"),
        ensure_ascii=False, allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _model_fields(model: Any) -> set[str]:
    return set(model.model_fields)


#: The native writer names every field of the contract; if the contract grows, the
#: reference path is used until the native writer learns the new field.
_FAST_FIELDS_OK = (
    _model_fields(NoteV1) == {"legacy_crm_note_id", "crm_person_id", "content_html", "author",
                              "mentioned_users", "created_at", "updated_at", "attachments"}
    and _model_fields(NoteV1.model_fields["author"].annotation.__args__[0])
    == {"crm_user_id", "email", "name"}
    and _model_fields(NoteV1.model_fields["attachments"].annotation.__args__[0])
    == {"legacy_attachment_id", "file_name", "file_url", "content_type", "file_size"}
)
