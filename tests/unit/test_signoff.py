"""The sign-off rule and the verdicts CSV (usecases/signoff.py), without services."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_notes_migration.usecases.signoff import (
    SignoffRefused,
    parse_verdicts,
    review,
    signoff,
    verdicts_csv,
)

REPORT = "qa-0123456789abcdef01234567"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def reconciled(ok=True, report_id=REPORT, sample_ids=(5, 7), fingerprint="3:abc"):
    return {
        "ok": ok,
        "status": "ok" if ok else "fail",
        "report_id": report_id,
        "sample_ids": list(sample_ids),
        "fingerprint": fingerprint,
        "samples": len(sample_ids),
    }


def signed(verdicts, report_id=REPORT):
    return {"report_id": report_id, "verdicts": {str(k): {"verdict": v} for k, v in verdicts.items()}}


def rows(*items, report_id=REPORT):
    return [
        {
            "report_id": report_id,
            "cid": cid,
            "sample_id": sid,
            "category": "random",
            "verdict": v,
            "comment": c,
            "reviewer": "Ani",
            "reviewed_at": "2026-12-05T11:00:00Z",
        }
        for cid, sid, v, c in items
    ]


def test_every_sample_passed_on_a_clean_unchanged_cid_is_approved():
    r = review(reconciled(), signed({5: "pass", 7: "pass"}), "3:abc")
    assert (r.signoff, r.passed, r.failed, r.unreviewed) == ("approved", 2, 0, 0)


def test_a_failed_sample_rejects_the_cid():
    r = review(reconciled(), signed({5: "pass", 7: "fail"}), "3:abc")
    assert (r.signoff, r.failed) == ("rejected", 1)


def test_a_sample_without_verdict_keeps_the_cid_pending():
    r = review(reconciled(), signed({5: "pass"}), "3:abc")
    assert (r.signoff, r.unreviewed) == ("pending", 1)
    assert "without a verdict" in r.reason


def test_documents_changed_after_the_report_make_an_approved_cid_pending_again():
    r = review(reconciled(), signed({5: "pass", 7: "pass"}), "4:def")
    assert r.signoff == "pending" and "changed after report" in r.reason


def test_an_unclean_reconcile_is_never_approved():
    r = review(reconciled(ok=False), signed({5: "pass", 7: "pass"}), "3:abc")
    assert r.signoff == "pending" and "not clean" in r.reason


def test_verdicts_of_an_older_report_do_not_count():
    r = review(reconciled(), signed({5: "pass", 7: "pass"}, report_id="qa-older"), "3:abc")
    assert (r.signoff, r.unreviewed) == ("pending", 2)


def test_never_reconciled_is_pending():
    assert review(None, None, None).signoff == "pending"


def test_the_csv_round_trips_with_its_bom_and_a_formula_looking_comment_kept_as_typed():
    text = verdicts_csv(rows((11, 5, "pass", '=HYPERLINK("x")'), (11, 7, "fail", 'bad, "quoted"')))
    assert text.startswith("\ufeff")
    parsed = parse_verdicts(text)
    assert [(r.cid, r.sample_id, r.verdict, r.comment) for r in parsed] == [
        (11, 5, "pass", '=HYPERLINK("x")'),
        (11, 7, "fail", 'bad, "quoted"'),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "report_id,cid,sample_id,verdict\r\nqa-1,abc,5,pass\r\n",
        "report_id,cid,sample_id,verdict\r\nqa-1,11,5,maybe\r\n",
        "report_id,cid,sample_id,verdict\r\nqa-1,11,-5,pass\r\n",
        "report_id,cid,sample_id,verdict\r\n,11,5,pass\r\n",
        "cid,sample_id,verdict\r\n11,5,pass\r\n",
        "report_id,cid,sample_id,verdict\r\n",
    ],
)
def test_broken_csvs_are_refused(bad):
    with pytest.raises(SignoffRefused):
        parse_verdicts(bad)


def _signoff(items, last, report_id=REPORT):
    recorded = []
    result = signoff(
        parse_verdicts(verdicts_csv(rows(*items, report_id=report_id))),
        "Ani",
        NOW,
        reconciled=lambda cids: {c: last[c] for c in cids if c in last},
        fingerprints=lambda cids: {c: "3:abc" for c in cids},
        record=lambda cid, rid, who, at, verdicts: recorded.append((cid, rid, who, verdicts)),
    )
    return result, recorded


def test_signoff_records_each_cid_and_says_its_outcome():
    result, recorded = _signoff(
        [(11, 5, "pass", ""), (11, 7, "pass", ""), (12, 5, "fail", "wrong")], {11: reconciled(), 12: reconciled()}
    )
    assert {c: r.signoff for c, r in result.reviews.items()} == {11: "approved", 12: "rejected"}
    assert [(c, rid, who) for c, rid, who, _ in recorded] == [(11, REPORT, "Ani"), (12, REPORT, "Ani")]


@pytest.mark.parametrize(
    ("items", "last", "report_id", "why"),
    [
        ([(11, 5, "pass", "")], {11: reconciled(report_id="qa-newer")}, REPORT, "last report of cid 11"),
        ([(11, 99, "pass", "")], {11: reconciled()}, REPORT, "no sample 99"),
        ([(13, 5, "pass", "")], {}, REPORT, "never reconciled"),
    ],
)
def test_signoff_refuses_and_records_nothing(items, last, report_id, why):
    with pytest.raises(SignoffRefused, match=why):
        _signoff(items, last, report_id)


def test_a_csv_mixing_two_reports_is_refused():
    text = verdicts_csv(rows((11, 5, "pass", "")) + rows((11, 7, "pass", ""), report_id="qa-other"))
    with pytest.raises(SignoffRefused, match="mixes reports"):
        signoff(
            parse_verdicts(text), "Ani", NOW, reconciled=lambda c: {}, fingerprints=lambda c: {}, record=lambda *a: None
        )
