"""The per-cid ledger: what reconcile found for one company, with bounded memory.

Counts are exact; id lists are capped (`CappedIds`) so the output names offending ids
without growing with the migration.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from crm_notes_migration.usecases.reconcile.diff import CappedIds

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(slots=True)
class CidLedger:
    """Findings for one cid. `migrated` and `parked` count in-scope notes only;
    `store_*` count everything the stores hold for the cid (for the counts endpoint)."""

    cid: int
    cap: int = 50
    in_scope: int = 0
    migrated: int = 0
    parked: Counter[str] = field(default_factory=Counter)
    edited_in_cdp: CappedIds = None  # type: ignore[assignment]
    #: Migration documents of notes no longer in scope, kept because a user edited them.
    kept_edited_in_cdp: CappedIds = None  # type: ignore[assignment]
    missing: CappedIds = None  # type: ignore[assignment]
    extra: CappedIds = None  # type: ignore[assignment]
    duplicates: CappedIds = None  # type: ignore[assignment]
    mismatches: dict[str, CappedIds] = field(default_factory=dict)
    anomalies: dict[str, CappedIds] = field(default_factory=dict)
    anomalous_notes: int = 0  # in-scope notes with at least one anomaly (a note may carry several)
    parked_stale: CappedIds = None  # type: ignore[assignment]
    store_documents: int = 0
    store_parked: Counter[str] = field(default_factory=Counter)
    #: `cdp.signoffs.Fingerprint` of the migration documents reconcile compared (what a
    #: reviewed report's sign-off is checked against); None when the cid failed to read.
    fingerprint: str | None = None
    api_counts: dict[str, Any] | None = None
    api_differences: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _mismatched_ids: CappedIds = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        for name in (
            "edited_in_cdp",
            "kept_edited_in_cdp",
            "missing",
            "extra",
            "duplicates",
            "parked_stale",
            "_mismatched_ids",
        ):
            if getattr(self, name) is None:
                setattr(self, name, CappedIds(self.cap))

    def add_mismatch(self, note_id: int, kinds: list[str]) -> None:
        """Records one note whose stored document differs from the expected one."""
        self._mismatched_ids.add(note_id)
        for kind in kinds:
            self.mismatches.setdefault(kind, CappedIds(self.cap)).add(note_id)

    def add_anomaly(self, note_id: int, code: str) -> None:
        self.anomalies.setdefault(code, CappedIds(self.cap)).add(note_id)

    @property
    def mismatched(self) -> int:
        return self._mismatched_ids.count

    @property
    def accounted(self) -> int:
        """In-scope notes found in exactly the place they belong."""
        return self.migrated + sum(self.parked.values())

    @property
    def ok(self) -> bool:
        """Every in-scope note accounted for, nothing extra, nothing mismatching."""
        return not (
            self.missing.count
            or self.extra.count
            or self.duplicates.count
            or self.mismatched
            or self.api_differences
            or self.errors
        )

    @property
    def needs_action(self) -> bool:
        """Parked notes (someone must sync contacts and `retry-parked`, or shorten a note) or
        parked records whose reason the core no longer gives (stale: retry them)."""
        return bool(sum(self.parked.values()) or self.parked_stale.count)

    @property
    def status(self) -> str:
        """`fail` when not ok (missing, extra, duplicate, mismatch, counts disagree, error);
        `warn` when ok but a person must act (`needs_action`); else `ok`. Anomalies
        (unresolved mentions, dropped attachments, timestamp oddities) and notes edited in
        the CDP are normal in legacy data: counted and reported, never a status."""
        if not self.ok:
            return FAIL
        if self.needs_action:
            return WARN
        return OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "cid": self.cid,
            "status": self.status,
            "ok": self.ok,
            "in_scope": self.in_scope,
            "migrated": self.migrated,
            "parked": dict(sorted(self.parked.items())),
            "accounted": self.accounted,
            "edited_in_cdp": self.edited_in_cdp.as_dict(),
            "kept_edited_in_cdp": self.kept_edited_in_cdp.as_dict(),
            "missing": self.missing.as_dict(),
            "extra": self.extra.as_dict(),
            "duplicates": self.duplicates.as_dict(),
            "mismatched": self._mismatched_ids.as_dict(),
            "mismatches": {k: v.as_dict() for k, v in sorted(self.mismatches.items())},
            "anomalies": {k: v.as_dict() for k, v in sorted(self.anomalies.items())},
            "anomalous_notes": self.anomalous_notes,
            "parked_stale": self.parked_stale.as_dict(),
            "store": {"documents": self.store_documents, "parked": dict(sorted(self.store_parked.items()))},
            "api_counts": self.api_counts,
            "api_differences": list(self.api_differences),
            "errors": list(self.errors),
        }


def totals(ledgers: list[CidLedger]) -> dict[str, Any]:
    """Sums over cids, for the summary line and the report's totals row."""
    parked: Counter[str] = Counter()
    for ledger in ledgers:
        parked.update(ledger.parked)
    return {
        "cids": len(ledgers),
        "cids_failing": sum(1 for x in ledgers if not x.ok),
        "cids_warning": sum(1 for x in ledgers if x.status == WARN),
        "in_scope": sum(x.in_scope for x in ledgers),
        "migrated": sum(x.migrated for x in ledgers),
        "parked": dict(sorted(parked.items())),
        "edited_in_cdp": sum(x.edited_in_cdp.count for x in ledgers),
        "missing": sum(x.missing.count for x in ledgers),
        "extra": sum(x.extra.count for x in ledgers),
        "duplicates": sum(x.duplicates.count for x in ledgers),
        "mismatched": sum(x.mismatched for x in ledgers),
        "anomalies": sum(sum(a.count for a in x.anomalies.values()) for x in ledgers),
        "anomalous_notes": sum(x.anomalous_notes for x in ledgers),
        "ok": all(x.ok for x in ledgers),
    }


def compare_api_counts(ledger: CidLedger, api: dict[str, Any]) -> None:
    """Cross-checks the counts endpoint's answer for this cid against the stores."""
    ledger.api_counts = api
    if int(api.get("migrated", -1)) != ledger.store_documents:
        ledger.api_differences.append(f"migrated: api {api.get('migrated')} != store {ledger.store_documents}")
    api_parked = {k: int(v) for k, v in (api.get("parked") or {}).items() if int(v)}
    store_parked = {k: v for k, v in ledger.store_parked.items() if v}
    if api_parked != store_parked:
        ledger.api_differences.append(f"parked: api {api_parked} != store {store_parked}")
    if int(api.get("pending") or 0):
        ledger.api_differences.append(f"pending: {api.get('pending')} notes not yet landed or parked")
