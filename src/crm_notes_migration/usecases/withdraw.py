"""The withdrawals use case (SPEC §3 "After landing", §4): take migration documents of one
cid back out of the CDP, with their parked records.

Two reasons. `left_scope`: the notes were soft-deleted in the CRM or lost their person
since they landed; `run` sends their ids. `rollback`: the migration of the cid is taken
back, by ids or `"all"` (every migration document, parked record and batch record of the
cid). A document a CDP user edited (or marked deleted) stays unless `include_edited`, and
is reported as `kept_edited_in_cdp`. Only migration documents of the named cid are read or
deleted: the store names the cid and `source: "crm_migration"` in every query, so a
CDP-authored note is never touched. Repeating a withdrawal is harmless: what is gone is
`absent` the second time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from crm_notes_migration.usecases.reconcile.checks import is_edited

LEFT_SCOPE = "left_scope"
ROLLBACK = "rollback"
REASONS = (LEFT_SCOPE, ROLLBACK)
#: Migration documents read (and deleted) per round trip while withdrawing "all".
PAGE_SIZE = 1000


class PendingBatches(Exception):
    """The cid still has batches queued: a rollback now would race the worker."""

    def __init__(self, cid: int, pending: int) -> None:
        super().__init__(f"cid {cid} has {pending} notes pending in queued batches")
        self.cid, self.pending = cid, pending


@dataclass(frozen=True)
class WithdrawalRequest:
    """One withdrawal; `legacy_crm_note_ids` None means "all" (only with `rollback`)."""

    cid: int
    legacy_crm_note_ids: tuple[int, ...] | None
    reason: str
    include_edited: bool = False

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"reason: must be one of {', '.join(REASONS)}")
        if self.legacy_crm_note_ids is None and self.reason != ROLLBACK:
            raise ValueError('legacy_crm_note_ids: "all" is only allowed with reason "rollback"')


@dataclass
class WithdrawalResult:
    """The endpoint's answer (SPEC §4)."""

    cid: int
    withdrawn: int = 0
    unparked: int = 0
    kept_edited_in_cdp: list[int] = field(default_factory=list)
    absent: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cid": self.cid,
            "withdrawn": self.withdrawn,
            "unparked": self.unparked,
            "kept_edited_in_cdp": sorted(self.kept_edited_in_cdp),
            "absent": self.absent,
        }


class WithdrawalStore(Protocol):
    """What withdrawing reads and writes; every call is about one cid's migration records."""

    def pending_notes(self, cid: int) -> int:
        """Notes of the cid's batches still queued."""

    def documents(self, cid: int, legacy_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The cid's migration documents of these legacy ids (`_id`, `legacy_crm_note_id`,
        `updated_at`, `deleted_at`, `migration.legacy_updated_at`)."""

    def documents_after(self, cid: int, after: int, limit: int) -> list[dict[str, Any]]:
        """The cid's migration documents with `legacy_crm_note_id > after`, ascending,
        at most `limit` (same fields as `documents`)."""

    def delete_documents(self, cid: int, docs: Sequence[dict[str, Any]], unless_changed: bool) -> set[int]:
        """Delete these migration documents of the cid; with `unless_changed`, each only if
        its `updated_at` and `deleted_at` are still as read. Returns the legacy ids deleted."""

    def parked_ids(self, cid: int, legacy_ids: Sequence[int]) -> set[int]:
        """Which of these legacy ids of the cid have a parked record."""

    def unpark(self, cid: int, legacy_ids: Sequence[int]) -> int:
        """Delete the parked records of these legacy ids of the cid; how many went."""

    def count_parked(self, cid: int) -> int:
        """Parked records of the cid."""

    def unpark_all(self, cid: int) -> int:
        """Delete every parked record of the cid; how many went."""

    def delete_batches(self, cid: int) -> int:
        """Delete the cid's batch records, so the same batches sent again are new work."""

    def forget_verdict(self, cid: int) -> None:
        """Delete the cid's last reconcile verdict (it was about documents now gone)."""


def withdraw(store: WithdrawalStore, request: WithdrawalRequest, *, dry_run: bool = False) -> WithdrawalResult:
    """Withdraw what `request` names; with `dry_run`, say what would go and change nothing.
    Raises `PendingBatches` for "all" while the cid has queued batches."""
    if request.legacy_crm_note_ids is None:
        return _withdraw_all(store, request, dry_run)
    return _withdraw_ids(store, request, request.legacy_crm_note_ids, dry_run)


def _split(docs: Sequence[dict[str, Any]], include_edited: bool) -> tuple[list[dict[str, Any]], list[int]]:
    """(documents to delete, legacy ids kept because a user edited them)."""
    go: list[dict[str, Any]] = []
    kept: list[int] = []
    for doc in docs:
        if include_edited or not is_edited(doc):
            go.append(doc)
        else:
            kept.append(int(doc["legacy_crm_note_id"]))
    return go, kept


def _delete(
    store: WithdrawalStore, cid: int, docs: list[dict[str, Any]], request: WithdrawalRequest, result: WithdrawalResult
) -> None:
    if not docs:
        return
    deleted = store.delete_documents(cid, docs, unless_changed=not request.include_edited)
    result.withdrawn += len(deleted)
    raced = [int(d["legacy_crm_note_id"]) for d in docs if int(d["legacy_crm_note_id"]) not in deleted]
    if raced:  # changed between the read and the delete: decided again on what is there now
        again, kept = _split(store.documents(cid, raced), request.include_edited)
        result.kept_edited_in_cdp.extend(kept)
        if again:
            result.withdrawn += len(store.delete_documents(cid, again, unless_changed=False))


def _withdraw_ids(
    store: WithdrawalStore, request: WithdrawalRequest, legacy_ids: Sequence[int], dry_run: bool
) -> WithdrawalResult:
    cid = request.cid
    wanted = sorted(set(legacy_ids))
    result = WithdrawalResult(cid)
    docs = store.documents(cid, wanted) if wanted else []
    parked = store.parked_ids(cid, wanted) if wanted else set()
    present = {int(d["legacy_crm_note_id"]) for d in docs} | parked
    result.absent = len(wanted) - len(present)
    go, kept = _split(docs, request.include_edited)
    result.kept_edited_in_cdp.extend(kept)
    if dry_run:
        result.withdrawn, result.unparked = len(go), len(parked)
        return result
    _delete(store, cid, go, request, result)
    result.unparked = store.unpark(cid, sorted(parked)) if parked else 0
    return result


def _withdraw_all(store: WithdrawalStore, request: WithdrawalRequest, dry_run: bool) -> WithdrawalResult:
    cid = request.cid
    pending = store.pending_notes(cid)
    if pending:
        raise PendingBatches(cid, pending)
    result = WithdrawalResult(cid)
    if not dry_run:
        # batch records first: interrupted after this, the documents still there are the
        # ones a replayed run would write again (a ledger without documents writes nothing)
        store.delete_batches(cid)
        store.forget_verdict(cid)
    for page in _pages(store, cid):
        go, kept = _split(page, request.include_edited)
        result.kept_edited_in_cdp.extend(kept)
        if dry_run:
            result.withdrawn += len(go)
        else:
            _delete(store, cid, go, request, result)
    result.unparked = store.count_parked(cid) if dry_run else store.unpark_all(cid)
    return result


def _pages(store: WithdrawalStore, cid: int) -> Iterator[list[dict[str, Any]]]:
    """The cid's migration documents, a page at a time, by ascending legacy id (keyset:
    deleting the page just read never shifts the next one)."""
    after = 0
    while True:
        page = store.documents_after(cid, after, PAGE_SIZE)
        if not page:
            return
        yield page
        after = int(page[-1]["legacy_crm_note_id"])
        if len(page) < PAGE_SIZE:
            return
