"""The whole transform of one contract note into a `contact_notes` document (SPEC §3, §5–7)."""

from __future__ import annotations

from typing import Any

from bson import Int64

from crm_notes_migration.contract import CONTRACT_VERSION, NoteV1

from .attachments import transform_attachments
from .html import sanitize_html
from .identity import content_sha256, normalise_email, note_object_id, source_sha256_of_utc
from .mentions import crm_emails_of, normalise_mentions
from .times import UPDATED_BEFORE_CREATED, to_utc, truncate_to_ms
from .types import (
    AMBIGUOUS_CONTACT,
    CONTACT_NOT_FOUND,
    CONTENT_TOO_LARGE,
    TRANSFORM_VERSION,
    Resolution,
    TransformOptions,
    TransformResult,
)

SOURCE = "crm_migration"
#: Anomaly: a mention whose user could not be resolved became plain `@Name` text.
UNRESOLVED_MENTION = "unresolved_mention"
#: Anomaly: the note has an author whose CDP user could not be found (created_by is null).
AUTHOR_UNRESOLVED = "author_unresolved"


def transform_content(html: str | None, note: NoteV1, resolution: Resolution) -> tuple[str, list[dict[str, Any]], int]:
    """Mentions normalised, then sanitised last: (content, mentions, unresolved count)."""
    if not html:
        return "", [], 0
    with_mentions, mentions, unresolved = normalise_mentions(html, crm_emails_of(note.mentioned_users), resolution)
    return sanitize_html(with_mentions), mentions, unresolved


def transform_note(cid: int, note: NoteV1, resolution: Resolution, options: TransformOptions) -> TransformResult:
    """One contract note → a `contact_notes` document (without `migrated_at`) or a reason.

    Reasons, in precedence: `contact_not_found` (no contact) / `ambiguous_contact` (more
    than one), then `content_too_large` (sanitised UTF-8 size over
    `options.max_note_html_bytes`). Anomalies (never fatal): `unresolved_mention`,
    `author_unresolved`, `updated_before_created`, `attachment_dropped:<id>`.
    """
    anomalies: list[str] = []
    # UTC once: stored truncated to ms (`to_storage_time`), hashed with µs (`source_sha256`).
    created_utc = to_utc(note.created_at)
    updated_utc = to_utc(note.updated_at) if note.updated_at is not None else None
    created_at = truncate_to_ms(created_utc)  # = to_storage_time(note.created_at)
    updated_at = truncate_to_ms(updated_utc) if updated_utc is not None else created_at
    if updated_utc is not None and updated_utc < created_utc:  # both UTC: the same instants
        anomalies.append(UPDATED_BEFORE_CREATED)

    content, mentions, unresolved = transform_content(note.content_html, note, resolution)
    size = len(content.encode("utf-8"))
    if unresolved:
        anomalies.append(UNRESOLVED_MENTION)
    attachments, dropped = transform_attachments(note.attachments, options.attachment_url_rewrite)
    anomalies.extend(dropped)
    created_by = None
    if note.author is not None:
        email = normalise_email(note.author.email)
        user = resolution.users_by_email.get(email) if email else None
        created_by = user.id if user is not None else None
        if user is None:
            anomalies.append(AUTHOR_UNRESOLVED)

    if not resolution.contact_ids:
        return TransformResult(
            None, CONTACT_NOT_FOUND, f"no contact of cid {cid} has source_id {note.crm_person_id}", anomalies
        )
    if len(resolution.contact_ids) > 1:
        return TransformResult(
            None,
            AMBIGUOUS_CONTACT,
            f"{len(resolution.contact_ids)} contacts of cid {cid} have source_id {note.crm_person_id}",
            anomalies,
        )
    if size > options.max_note_html_bytes:
        return TransformResult(
            None, CONTENT_TOO_LARGE, f"sanitised content is {size} bytes, over {options.max_note_html_bytes}", anomalies
        )

    document = {
        "_id": note_object_id(cid, note.legacy_crm_note_id),
        "cid": Int64(cid),
        "contact_id": resolution.contact_ids[0],
        "content": content,
        "mentions": mentions,
        "attachments": attachments,
        "created_by": created_by,
        "created_at": created_at,
        "updated_at": updated_at,
        "legacy_crm_note_id": Int64(note.legacy_crm_note_id),
        "source": SOURCE,
        "notifications_suppressed": True,
        "migration": {
            "contract_version": CONTRACT_VERSION,
            "transform_version": TRANSFORM_VERSION,
            "content_sha256": content_sha256(content),
            "source_sha256": source_sha256_of_utc(  # = source_sha256(cid, note)
                cid,
                note,
                created_utc.isoformat(timespec="microseconds"),
                None if updated_utc is None else updated_utc.isoformat(timespec="microseconds"),
            ),
            "legacy_updated_at": updated_at,
        },
    }
    return TransformResult(document, None, "", anomalies)
