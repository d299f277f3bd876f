"""The migration-day use cases on fakes of their ports: the left-scope merge, rollback's
order and refusals, status's sign-off plug, and withdraw's decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_notes_migration.usecases import withdraw as withdraw_module
from crm_notes_migration.usecases.left_scope import may_hold_out_of_scope, not_in_scope, withdraw_left_scope
from crm_notes_migration.usecases.rollback import rollback
from crm_notes_migration.usecases.signoff import RecordedSignoff
from crm_notes_migration.usecases.status import APPROVED, Review, status
from crm_notes_migration.usecases.withdraw import PendingBatches, WithdrawalRequest, withdraw

T = datetime(2022, 1, 1, tzinfo=UTC)


def test_not_in_scope_yields_held_ids_missing_from_the_crm():
    assert list(not_in_scope([1, 2, 5, 9, 10], [2, 3, 4, 5, 10, 11])) == [1, 9]
    assert list(not_in_scope([1, 2], [])) == [1, 2]
    assert list(not_in_scope([], [1, 2])) == []
    with pytest.raises(ValueError):
        list(not_in_scope([3, 2], [1]))


def test_the_sweep_runs_only_where_the_counts_say_something_may_have_left_scope():
    assert not may_hold_out_of_scope(10, 0, 10)
    assert may_hold_out_of_scope(11, 0, 10)  # one held beyond the scope (or kept for a user's edit)
    assert may_hold_out_of_scope(10, 2, 10)  # notes pending: the counts cannot tell
    assert may_hold_out_of_scope(None, None, 10)


def test_withdraw_left_scope_sends_chunks_and_sums_the_answers():
    sent = []

    def fake(body):
        sent.append(body)
        return {
            "withdrawn": len(body["legacy_crm_note_ids"]) - 1,
            "unparked": 1,
            "kept_edited_in_cdp": body["legacy_crm_note_ids"][:1],
        }

    result = withdraw_left_scope(7, iter(range(1, 11)), iter([2, 4, 6]), fake, chunk=3)
    assert [b["legacy_crm_note_ids"] for b in sent] == [[1, 3, 5], [7, 8, 9], [10]]
    assert all(b["reason"] == "left_scope" and b["include_edited"] is False and b["cid"] == 7 for b in sent)
    assert result.as_dict() == {"withdrawn": 4, "unparked": 3, "kept_edited_in_cdp": [1, 7, 10]}


class FakeCheckpoint:
    def __init__(self, log):
        self.log = log

    def reset_cids(self, cids):
        self.log.append(("reset", list(cids)))


def test_rollback_refuses_before_changing_anything_when_a_cid_has_pending_batches():
    log = []
    report = rollback(
        [3, 1, 2],
        withdraw=lambda b: log.append(b) or {},
        pending=lambda c: 5 if c == 2 else 0,
        checkpoint=FakeCheckpoint(log),
    )
    assert not report.ok and report.refused == {2: 5} and log == []
    assert report.as_dict()["refused"] == [{"cid": 2, "pending": 5}]


def test_rollback_resets_the_checkpoint_first_then_withdraws_each_cid():
    log = []

    def fake(body):
        log.append(("withdraw", body["cid"], body["legacy_crm_note_ids"], body["include_edited"]))
        if body["cid"] == 2:
            raise PendingBatches(2, 4)  # a batch arrived after the check
        return {"cid": body["cid"], "withdrawn": 1, "unparked": 0, "kept_edited_in_cdp": [], "absent": 0}

    report = rollback([2, 1], withdraw=fake, pending=lambda c: 0, checkpoint=FakeCheckpoint(log), include_edited=True)
    assert log == [("reset", [1, 2]), ("withdraw", 1, "all", True), ("withdraw", 2, "all", True)]
    assert report.refused == {2: 4} and [c["cid"] for c in report.cids] == [1]
    assert report.cids[0]["checkpoint_reset"] is True


def test_a_dry_run_rollback_leaves_the_checkpoint_alone():
    log = []
    report = rollback(
        [1],
        withdraw=lambda b: {"cid": 1, "withdrawn": 2},
        pending=lambda c: 0,
        checkpoint=FakeCheckpoint(log),
        dry_run=True,
    )
    assert log == [] and report.ok and report.cids == [{"cid": 1, "withdrawn": 2, "checkpoint_reset": False}]


class Approving:
    def review(self, cid, verdict):
        return Review(passed=3, signoff=APPROVED if verdict and verdict["ok"] else "rejected")


def test_status_is_ok_only_when_every_cid_is_approved_by_the_signoff_source():
    counts = {
        1: {"migrated": 4, "parked": {"contact_not_found": 1, "ambiguous_contact": 0}, "pending": 0},
        2: {"migrated": 0, "parked": {}, "pending": 3},
    }
    verdicts = {1: {"ok": True, "status": "warn", "at": T, "report": "qa.html", "samples": 6}}
    args = {
        "in_scope": {1: 5, 2: 3},
        "counts": lambda cids: {c: counts[c] for c in cids},
        "verdicts": lambda cids: verdicts,
    }
    pending = status([2, 1], signoffs=RecordedSignoff({}, {}), **args)
    assert pending.as_dict() == {
        "ok": False,
        "cids": [
            {
                "cid": 1,
                "in_scope": 5,
                "migrated": 4,
                "parked": {"contact_not_found": 1},
                "pending": 0,
                "reconciled": {"ok": True, "status": "warn", "at": T.isoformat(), "report": "qa.html"},
                "qa": {"passed": 0, "failed": 0, "unreviewed": 6},
                "signoff": "pending",
                "signoff_reason": "no QA report was written for it",
            },
            {
                "cid": 2,
                "in_scope": 3,
                "migrated": 0,
                "parked": {},
                "pending": 3,
                "reconciled": None,
                "qa": {"passed": 0, "failed": 0, "unreviewed": 0},
                "signoff": "pending",
                "signoff_reason": "never reconciled",
            },
        ],
    }
    assert status([1], signoffs=Approving(), **args).ok
    assert not status([1, 2], signoffs=Approving(), **args).ok
    assert not status([], signoffs=Approving(), **args).ok


class FakeStore:
    """An in-memory WithdrawalStore: documents and parked records of one cid, by legacy id."""

    def __init__(self, docs, parked, pending=0):
        self.docs, self.parked, self.pending, self.batches, self.verdict = docs, set(parked), pending, 2, True

    def pending_notes(self, cid):
        return self.pending

    def documents(self, cid, ids):
        return [self.docs[i] for i in sorted(set(ids)) if i in self.docs]

    def documents_after(self, cid, after, limit):
        return [self.docs[i] for i in sorted(self.docs) if i > after][:limit]

    def delete_documents(self, cid, docs, unless_changed):
        gone = {int(d["legacy_crm_note_id"]) for d in docs if int(d["legacy_crm_note_id"]) in self.docs}
        for i in gone:
            del self.docs[i]
        return gone

    def parked_ids(self, cid, ids):
        return self.parked & set(ids)

    def unpark(self, cid, ids):
        n = len(self.parked & set(ids))
        self.parked -= set(ids)
        return n

    def count_parked(self, cid):
        return len(self.parked)

    def unpark_all(self, cid):
        n, self.parked = len(self.parked), set()
        return n

    def delete_batches(self, cid):
        n, self.batches = self.batches, 0
        return n

    def forget_verdict(self, cid):
        self.verdict = False


def _doc(lid, edited=False, deleted=False):
    doc = {
        "_id": lid,
        "legacy_crm_note_id": lid,
        "updated_at": T + timedelta(days=edited),
        "migration": {"legacy_updated_at": T},
    }
    if deleted:
        doc["deleted_at"] = T
    return doc


def test_withdraw_all_pages_through_keeps_edits_and_counts_a_dry_run_the_same(monkeypatch):
    monkeypatch.setattr(withdraw_module, "PAGE_SIZE", 2)
    docs = {i: _doc(i, edited=(i == 3), deleted=(i == 5)) for i in range(1, 8)}
    request = WithdrawalRequest(9, None, "rollback")
    store = FakeStore(dict(docs), {10, 11})
    planned = withdraw(store, request, dry_run=True).as_dict()
    assert store.docs == docs and store.parked == {10, 11} and store.batches == 2 and store.verdict
    done = withdraw(store, request).as_dict()
    assert planned == done == {"cid": 9, "withdrawn": 5, "unparked": 2, "kept_edited_in_cdp": [3, 5], "absent": 0}
    assert sorted(store.docs) == [3, 5] and store.batches == 0 and not store.verdict
    assert withdraw(store, WithdrawalRequest(9, None, "rollback", include_edited=True)).withdrawn == 2


def test_withdraw_all_refuses_while_pending_and_ids_count_the_absent():
    with pytest.raises(PendingBatches):
        withdraw(FakeStore({1: _doc(1)}, set(), pending=3), WithdrawalRequest(9, None, "rollback"))
    store = FakeStore({1: _doc(1), 2: _doc(2, edited=True)}, {4})
    result = withdraw(store, WithdrawalRequest(9, (1, 2, 3, 4, 4), "left_scope"))
    assert result.as_dict() == {"cid": 9, "withdrawn": 1, "unparked": 1, "kept_edited_in_cdp": [2], "absent": 1}
    with pytest.raises(ValueError):
        WithdrawalRequest(9, None, "left_scope")
