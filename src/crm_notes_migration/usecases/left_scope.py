"""Notes that left scope since they landed (SPEC §3 "After landing"): each pass of `run`
withdraws them.

A note leaves scope when it is soft-deleted in the CRM or loses its person. Two ascending
streams of legacy ids are merged: what the migration holds for the cid (migration
documents and parked records, paged from the API) and the CRM's in-scope ids (paged from
PostgreSQL). An id held but not in scope is withdrawn, in chunks, with reason
`left_scope`; nothing else is held in memory, whatever the size of the cid. The merge
reads every id of the cid from both sides, so it runs only where the counts say the
migration holds more notes than are in scope (`may_hold_out_of_scope`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .withdraw import LEFT_SCOPE

#: Legacy ids per withdrawal request (the API takes up to MAX_BATCH_NOTES).
DEFAULT_CHUNK = 500

Withdraw = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class LeftScope:
    """What one cid's sweep did."""

    cid: int
    withdrawn: int = 0
    unparked: int = 0
    kept_edited_in_cdp: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.withdrawn or self.unparked)

    def as_dict(self) -> dict[str, Any]:
        return {
            "withdrawn": self.withdrawn,
            "unparked": self.unparked,
            "kept_edited_in_cdp": sorted(self.kept_edited_in_cdp),
        }


def may_hold_out_of_scope(held: int | None, pending: int | None, in_scope_now: int) -> bool:
    """Whether a cid's sweep can find anything, from its counts alone. Once nothing is
    pending, the migration holds every in-scope note (migrated or parked: `held` counts
    each note once), so it holds a note out of scope exactly when it holds more notes than
    are in scope. Only notes added to the CRM after the pass began can hide one that left
    (they are held after the next pass, which then finds it). Without counts, or with
    notes pending, only the sweep can tell."""
    if held is None or pending is None or pending > 0:
        return True
    return held > in_scope_now


def not_in_scope(held: Iterable[int], in_scope: Iterable[int]) -> Iterator[int]:
    """The ids of `held` missing from `in_scope`; both must ascend."""
    scope = iter(in_scope)
    current = next(scope, None)
    previous: int | None = None
    for lid in held:
        if previous is not None and lid <= previous:
            raise ValueError(f"legacy ids must ascend: {lid} after {previous}")
        previous = lid
        while current is not None and current < lid:
            current = next(scope, None)
        if current != lid:
            yield lid


def withdraw_left_scope(
    cid: int, held: Iterable[int], in_scope: Iterable[int], withdraw: Withdraw, chunk: int = DEFAULT_CHUNK
) -> LeftScope:
    """Withdraw (reason `left_scope`, never a user's edit) every id of `held` that is not
    in `in_scope`, `chunk` ids per request; returns the totals of the answers."""
    result = LeftScope(cid)
    batch: list[int] = []

    def send() -> None:
        answer = withdraw({"cid": cid, "legacy_crm_note_ids": batch, "reason": LEFT_SCOPE, "include_edited": False})
        result.withdrawn += int(answer.get("withdrawn", 0))
        result.unparked += int(answer.get("unparked", 0))
        result.kept_edited_in_cdp.extend(int(i) for i in answer.get("kept_edited_in_cdp") or [])

    for lid in not_in_scope(held, in_scope):
        batch.append(lid)
        if len(batch) >= chunk:
            send()
            batch = []
    if batch:
        send()
    return result
