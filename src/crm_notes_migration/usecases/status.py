"""The status use case (SPEC §8 `status`): where the migration stands, per cid.

Per cid: `in_scope` (the CRM), `migrated`, `parked` by reason and `pending` (the CDP's
counts), `reconciled` (the last reconcile's verdict and its time, recorded by
`reconcile`), `qa` (samples `passed`, `failed`, `unreviewed`) and `signoff` (`approved`,
`rejected`, `pending`, with the reason). The QA verdicts and the sign-off come from a
`SignoffSource` (`usecases.signoff.RecordedSignoff`: what `signoff` recorded).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

APPROVED, REJECTED, PENDING = "approved", "rejected", "pending"


@dataclass(frozen=True)
class Review:
    """A cid's QA sample verdicts and its sign-off."""

    passed: int = 0
    failed: int = 0
    unreviewed: int = 0
    signoff: str = PENDING
    reason: str = ""


class SignoffSource(Protocol):
    """Where QA verdicts and sign-offs come from."""

    def review(self, cid: int, verdict: Mapping[str, Any] | None) -> Review:
        """The cid's review, given its last reconcile verdict (None: never reconciled)."""
        ...


@dataclass
class CidStatus:
    """One row of `status`."""

    cid: int
    in_scope: int
    migrated: int
    parked: dict[str, int]
    pending: int
    reconciled: dict[str, Any] | None
    review: Review = field(default_factory=Review)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cid": self.cid,
            "in_scope": self.in_scope,
            "migrated": self.migrated,
            "parked": dict(sorted(self.parked.items())),
            "pending": self.pending,
            "reconciled": self.reconciled,
            "qa": {"passed": self.review.passed, "failed": self.review.failed, "unreviewed": self.review.unreviewed},
            "signoff": self.review.signoff,
            "signoff_reason": self.review.reason,
        }


@dataclass
class StatusReport:
    """Every selected cid's row; `ok` only when every one is approved."""

    cids: list[CidStatus]

    @property
    def ok(self) -> bool:
        return bool(self.cids) and all(c.review.signoff == APPROVED for c in self.cids)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "cids": [c.as_dict() for c in self.cids]}


def _verdict(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if record is None:
        return None
    at = record.get("at")
    return {
        "ok": bool(record.get("ok")),
        "status": record.get("status"),
        "at": at.isoformat() if isinstance(at, datetime) else at,
        "report": record.get("report"),
    }


def status(
    cids: Sequence[int],
    *,
    in_scope: Mapping[int, int],
    counts: Callable[[list[int]], Mapping[int, Mapping[str, Any]]],
    verdicts: Callable[[list[int]], Mapping[int, Mapping[str, Any]]],
    signoffs: SignoffSource,
) -> StatusReport:
    """The status of `cids` (ascending): `in_scope` from the CRM's counts, `counts(cids)` the
    CDP's `{migrated, parked, pending}` by cid, `verdicts(cids)` the last reconcile records."""
    selected = sorted(set(cids))
    recorded = verdicts(selected)
    figures = counts(selected)
    rows: list[CidStatus] = []
    for cid in selected:
        c = figures.get(cid, {})
        record = recorded.get(cid)
        rows.append(
            CidStatus(
                cid=cid,
                in_scope=int(in_scope.get(cid, 0)),
                migrated=int(c.get("migrated", 0)),
                parked={str(k): int(v) for k, v in (c.get("parked") or {}).items() if int(v)},
                pending=int(c.get("pending", 0)),
                reconciled=_verdict(record),
                review=signoffs.review(cid, record),
            )
        )
    return StatusReport(rows)
