"""The pure transform core: every rule of SPEC §5–7 and the `contact_notes` fields of §3.

No I/O, no clock, no globals beyond prebuilt immutable tables. The worker, the dry-run and
reconcile all call these functions, so they agree byte for byte.
"""

from .html import sanitize_html, visible_text
from .identity import content_sha256, normalise_email, note_object_id, source_sha256
from .legacy import LegacyAttachment, LegacyNote, LegacyUser, legacy_note_to_contract
from .mentions import legacy_mention_user_ids
from .note import transform_note
from .times import legacy_time_to_utc, to_storage_time
from .types import (
    AMBIGUOUS_CONTACT,
    CONTACT_NOT_FOUND,
    CONTENT_TOO_LARGE,
    EDITED_IN_CDP,
    INVALID_NOTE,
    TRANSFORM_VERSION,
    CdpUser,
    Resolution,
    TransformOptions,
    TransformResult,
)

__all__ = [
    "transform_note",
    "note_object_id",
    "source_sha256",
    "content_sha256",
    "sanitize_html",
    "visible_text",
    "normalise_email",
    "legacy_time_to_utc",
    "to_storage_time",
    "legacy_mention_user_ids",
    "legacy_note_to_contract",
    "LegacyNote",
    "LegacyAttachment",
    "LegacyUser",
    "CdpUser",
    "Resolution",
    "TransformOptions",
    "TransformResult",
    "TRANSFORM_VERSION",
    "CONTACT_NOT_FOUND",
    "AMBIGUOUS_CONTACT",
    "EDITED_IN_CDP",
    "CONTENT_TOO_LARGE",
    "INVALID_NOTE",
]
