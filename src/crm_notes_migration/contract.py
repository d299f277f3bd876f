"""The versioned batch contract of the migrate endpoint (SPEC §4), as pydantic models.

A batch is validated in two steps so that one bad note never sinks its batch:
`BatchEnvelope` checks the envelope and keeps the notes raw, then each raw note is
validated on its own with `NoteV1` (see `validate_note`). Timestamps must carry an offset.

Types are strict (SPEC §4): integers are JSON integers (never booleans, floats or
strings), ids are positive and fit a signed 64-bit long, sizes are >= 0; a string the
store cannot take (a lone surrogate) rejects its note, and a `batch_id` holds no control
characters. Every error detail starts with the path of the offending field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

CONTRACT_VERSION = 1
INT64_MAX = 2**63 - 1

#: A positive id that fits a signed 64-bit long, as a JSON integer.
Id = Annotated[StrictInt, Field(gt=0, le=INT64_MAX)]
#: A size: a JSON integer, >= 0, within a signed 64-bit long.
Size = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
#: What a store may refuse in a string: NUL (PostgreSQL-backed stores) and lone surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def escape_unstorable(value: Any) -> Any:
    """`value` (a JSON value) with NUL and lone surrogates in its strings, keys included,
    written as the text of their JSON escape (`\\u0000`, `\\ud800`): what a record that
    must be stored whatever it carries (a parked note, an error detail) keeps of them.
    `value` itself when it holds neither."""
    return _escaped(value) if _holds_unstorable(value) else value


def _holds_unstorable(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return "\x00" in value or not (value.isascii() or _encodes(value))
    if kind is dict:
        return any(_holds_unstorable(k) or _holds_unstorable(v) for k, v in value.items())
    if kind is list:
        return any(_holds_unstorable(v) for v in value)
    return False


def _escaped(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return _UNSTORABLE.sub(_escape, value)
    if kind is dict:
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if kind is list:
        return [_escaped(v) for v in value]
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrmUserRef(_Model):
    """A CRM user as the extractor knows it; mapped to a CDP user by email within the cid."""

    crm_user_id: Id
    email: str | None = None
    name: str | None = None


class AttachmentV1(_Model):
    legacy_attachment_id: Id
    file_name: str
    file_url: str
    content_type: str | None = None
    file_size: Size | None = None


class NoteV1(_Model):
    legacy_crm_note_id: Id
    crm_person_id: Id
    content_html: str | None = None
    author: CrmUserRef | None = None
    mentioned_users: list[CrmUserRef] = Field(default_factory=list)
    created_at: AwareDatetime
    updated_at: AwareDatetime | None = None
    attachments: list[AttachmentV1] = Field(default_factory=list)

    @field_validator("created_at", "updated_at")
    @classmethod
    def _a_utc_time(cls, value: datetime | None) -> datetime | None:
        # only the first and last years can leave years 1-9999 once in UTC
        if value is not None and value.year in (1, 9999):
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("out of the years 1-9999 once in UTC") from None
        return value


class BatchEnvelope(BaseModel):
    """The batch with its notes still raw; `422` when even this does not parse."""

    model_config = ConfigDict(extra="forbid")

    contract_version: Literal[1]
    cid: Id
    batch_id: str = Field(min_length=1, max_length=200)
    notes: list[dict[str, Any]]

    @field_validator("contract_version", mode="before")
    @classmethod
    def _a_json_integer(cls, value: Any) -> Any:
        if type(value) is not int:  # Literal[1] alone takes true and 1.0
            raise ValueError("must be the JSON integer 1")
        return value

    @field_validator("batch_id")
    @classmethod
    def _storable_key(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("must not contain control characters (NUL included)")
        if _SURROGATE.search(value):
            raise ValueError("must not contain a lone surrogate")
        return value


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


def error_detail(exc: ValidationError) -> str:
    """The first error of `exc` in one line that starts with the offending field's path
    (`attachments.0.file_size: Input should be greater than or equal to 0`)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    msg = str(first.get("msg", "invalid"))
    return str(escape_unstorable(f"{where}: {msg}" if where else msg))


def unstorable_text(value: Any, where: str = "") -> str:
    """ "" when every string in `value` (a JSON value) can be stored, else a detail naming
    the first one that cannot: a lone surrogate has no UTF-8 form, so no store takes it."""
    kind = type(value)
    if kind is str:
        if not value.isascii() and not _encodes(value):
            found = _SURROGATE.search(value)
            if found:
                detail = (
                    f"{where or 'value'}: a lone surrogate (U+{ord(found.group()):04X}) "
                    f"at character {found.start()}, which cannot be stored"
                )
                return str(escape_unstorable(detail))
        return ""
    if kind is dict:
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            problem = unstorable_text(key, path) or unstorable_text(item, path)
            if problem:
                return problem
    elif kind is list:
        for i, item in enumerate(value):
            problem = unstorable_text(item, f"{where}.{i}" if where else str(i))
            if problem:
                return problem
    return ""


def _encodes(text: str) -> bool:
    """Whether `text` has a UTF-8 form (no lone surrogate); ~30 times faster than a search."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_note(raw: dict[str, Any], check_text: bool = True) -> tuple[NoteV1 | None, str]:
    """Validate one raw note; returns (note, "") or (None, a one-line reason detail).
    `check_text=False` skips looking for lone surrogates (`unstorable_text`), for a note
    parsed by orjson, which refuses them (the check costs about half the validation)."""
    try:
        note = _VALIDATE_NOTE(raw)
    except ValidationError as exc:
        return None, error_detail(exc)
    problem = unstorable_text(raw) if check_text else ""
    return (None, problem) if problem else (note, "")
