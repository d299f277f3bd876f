"""The rollback use case (SPEC §8 `rollback`): take the migration of some cids back out of
the CDP, so that a later `run` migrates them again from scratch.

Per cid, through the withdrawals endpoint with `"all"` (reason `rollback`): every migration
document (those a CDP user edited only with `include_edited`), every parked record and
every batch record; and the cid's pass in the run checkpoint is forgotten. Nothing
happens while any of the cids has batches pending: the refusal names them. The
checkpoint is reset before the withdrawal, so a rollback interrupted anywhere leaves
either the old state or one that `run` and `rollback` both complete; running the
rollback again finishes it (what is gone is simply not found again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .withdraw import ROLLBACK, PendingBatches

Withdraw = Callable[[dict[str, Any]], dict[str, Any]]


class CheckpointReset(Protocol):
    """The part of the run checkpoint a rollback changes."""

    def reset_cids(self, cids: list[int]) -> None: ...


@dataclass
class RollbackReport:
    """What a rollback did (or, with `dry_run`, would do), per cid."""

    cids: list[dict[str, Any]] = field(default_factory=list)
    refused: dict[int, int] = field(default_factory=dict)
    dry_run: bool = False
    include_edited: bool = False

    @property
    def ok(self) -> bool:
        return not self.refused

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "include_edited": self.include_edited,
            "refused": [{"cid": c, "pending": n} for c, n in sorted(self.refused.items())],
            "cids": self.cids,
        }


def rollback(
    cids: Sequence[int],
    *,
    withdraw: Withdraw,
    pending: Callable[[int], int],
    checkpoint: CheckpointReset | None,
    include_edited: bool = False,
    dry_run: bool = False,
) -> RollbackReport:
    """Roll back `cids`. `withdraw` posts one withdrawal (with `dry_run`: one that only
    says what would go) and raises `PendingBatches` when the endpoint refuses; `pending`
    gives a cid's pending notes; `checkpoint` (None: no checkpoint to reset) is left alone
    on a dry run."""
    selected = sorted(set(cids))
    report = RollbackReport(dry_run=dry_run, include_edited=include_edited)
    report.refused = {cid: n for cid in selected if (n := pending(cid)) > 0}
    if report.refused:
        return report
    if not dry_run and checkpoint is not None:
        checkpoint.reset_cids(selected)
    for cid in selected:
        body = {"cid": cid, "legacy_crm_note_ids": "all", "reason": ROLLBACK, "include_edited": include_edited}
        try:
            answer = withdraw(body)
        except PendingBatches as exc:  # a batch arrived since the check
            report.refused[cid] = exc.pending
            continue
        report.cids.append({**answer, "checkpoint_reset": not dry_run and checkpoint is not None})
    return report
