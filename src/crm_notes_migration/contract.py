"""The versioned batch contract of the migrate endpoint (SPEC §4), as pydantic models.

A batch is validated in two steps so that one bad note never sinks its batch:
`BatchEnvelope` checks the envelope and keeps the notes raw, then each raw note is
validated on its own with `NoteV1` (see `validate_note`). Timestamps must carry an offset.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

CONTRACT_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrmUserRef(_Model):
    """A CRM user as the extractor knows it; mapped to a CDP user by email within the cid."""

    crm_user_id: int
    email: str | None = None
    name: str | None = None


class AttachmentV1(_Model):
    legacy_attachment_id: int
    file_name: str
    file_url: str
    content_type: str | None = None
    file_size: int | None = None


class NoteV1(_Model):
    legacy_crm_note_id: int = Field(gt=0)
    crm_person_id: int
    content_html: str | None = None
    author: CrmUserRef | None = None
    mentioned_users: list[CrmUserRef] = Field(default_factory=list)
    created_at: AwareDatetime
    updated_at: AwareDatetime | None = None
    attachments: list[AttachmentV1] = Field(default_factory=list)


class BatchEnvelope(BaseModel):
    """The batch with its notes still raw; `422` when even this does not parse."""

    model_config = ConfigDict(extra="forbid")

    contract_version: Literal[1]
    cid: int
    batch_id: str = Field(min_length=1, max_length=200)
    notes: list[dict[str, Any]]


class RejectedNote(BaseModel):
    legacy_crm_note_id: int | None
    reason: str
    detail: str


class BatchAccepted(BaseModel):
    batch_id: str
    accepted: int
    rejected: list[RejectedNote]


#: `NoteV1.model_validate` without its per-call argument handling (same validator, same
#: errors): validation runs once per note on the worker's hot path.
_VALIDATE_NOTE = NoteV1.__pydantic_validator__.validate_python


def validate_note(raw: dict[str, Any]) -> tuple[NoteV1 | None, str]:
    """Validate one raw note; returns (note, "") or (None, a one-line reason detail)."""
    try:
        return _VALIDATE_NOTE(raw), ""
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return None, f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid")
