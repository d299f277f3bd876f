"""The withdrawals endpoint's body (SPEC §4), validated strictly: JSON integers only (no
booleans, floats or strings), positive ids that fit 64 bits, `"all"` only with `rollback`,
no unknown fields. `parse_withdrawal` turns a body into the use case's request or raises
`InvalidWithdrawal` naming the offending field."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crm_notes_migration.usecases.withdraw import WithdrawalRequest

INT64_MAX = 2**63 - 1
PositiveId = Annotated[int, Field(gt=0, le=INT64_MAX)]


class WithdrawalBody(BaseModel):
    """`{"cid", "legacy_crm_note_ids": [...] | "all", "reason", "include_edited"}`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    cid: PositiveId
    legacy_crm_note_ids: list[PositiveId] | Literal["all"]
    reason: Literal["left_scope", "rollback"]
    include_edited: bool = False


class InvalidWithdrawal(ValueError):
    """The body is not a withdrawal; the message names the field."""


def _field(loc: tuple[Any, ...]) -> str:
    # pydantic names the union's branches in the location ("list[...]", "literal[...]"): drop them
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function")))]
    return ".".join(parts) or "body"


def parse_withdrawal(payload: Any, max_ids: int) -> WithdrawalRequest:
    """The request of a decoded JSON body. Raises InvalidWithdrawal, or OverflowError when
    it names more than `max_ids` ids."""
    try:
        body = WithdrawalBody.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidWithdrawal(f"{_field(tuple(first.get('loc', ())))}: {first.get('msg', 'invalid')}") from None
    ids = body.legacy_crm_note_ids
    if ids == "all" and body.reason != "rollback":
        raise InvalidWithdrawal('legacy_crm_note_ids: "all" is only allowed with reason "rollback"')
    if ids != "all" and len(ids) > max_ids:
        raise OverflowError(f"legacy_crm_note_ids: over {max_ids} ids")
    return WithdrawalRequest(body.cid, None if ids == "all" else tuple(ids), body.reason, body.include_edited)
