"""The human QA gate (SPEC §8 `signoff`): verdicts exported from a QA report are recorded
against that report, and each cid's sign-off follows from them.

A cid is `approved` when its last reconcile was clean, every one of its samples in the
reviewed report has a verdict, none failed, and its migration documents have not changed
since that report; `rejected` when a sample failed; otherwise `pending`, with the reason.
`review` is that rule, the one place `signoff` and `status` take it from.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_notes_migration.usecases.status import APPROVED, PENDING, REJECTED, Review

#: The columns of a verdicts CSV (the QA report's export).
CSV_COLUMNS = ("report_id", "cid", "sample_id", "category", "verdict", "comment", "reviewer", "reviewed_at")
PASS, FAIL = "pass", "fail"
_VERDICTS = ("", PASS, FAIL)


class SignoffRefused(ValueError):
    """The CSV cannot be recorded; nothing was recorded. The message says why."""


@dataclass(frozen=True)
class VerdictRow:
    """One sample's verdict, as exported from the report."""

    line: int
    report_id: str
    cid: int
    sample_id: int
    verdict: str
    comment: str
    reviewed_at: str


@dataclass
class SignoffResult:
    """What `signoff` recorded, and the resulting review of each cid of the CSV."""

    report_id: str
    reviewer: str
    reviews: dict[int, Review] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "report_id": self.report_id,
            "reviewer": self.reviewer,
            "cids": [
                {
                    "cid": cid,
                    "signoff": r.signoff,
                    "reason": r.reason,
                    "qa": {"passed": r.passed, "failed": r.failed, "unreviewed": r.unreviewed},
                }
                for cid, r in sorted(self.reviews.items())
            ],
        }


def _positive_int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and 0 < int(text) < 2**63 else None


def parse_verdicts(text: str) -> list[VerdictRow]:
    """The rows of a verdicts CSV (a UTF-8 BOM allowed); a missing column or a broken row
    refuses the whole file, naming the lines."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    missing = [c for c in ("report_id", "cid", "sample_id", "verdict") if c not in (reader.fieldnames or [])]
    if missing:
        raise SignoffRefused(f"not a verdicts CSV of a QA report: no column {', '.join(missing)}")
    rows: list[VerdictRow] = []
    broken: list[str] = []
    for record in reader:
        line = reader.line_num
        cid, sample = _positive_int(record.get("cid") or ""), _positive_int(record.get("sample_id") or "")
        verdict = (record.get("verdict") or "").strip().lower()
        report_id = (record.get("report_id") or "").strip()
        if None in record or cid is None or sample is None or verdict not in _VERDICTS or not report_id:
            broken.append(str(line))
            continue
        rows.append(
            VerdictRow(
                line, report_id, cid, sample, verdict, record.get("comment") or "", record.get("reviewed_at") or ""
            )
        )
    if broken:
        shown = ", ".join(broken[:10]) + (" …" if len(broken) > 10 else "")
        raise SignoffRefused(f"broken rows (cid, sample_id, report_id or verdict pass/fail/empty) on lines {shown}")
    if not rows:
        raise SignoffRefused("the CSV holds no verdicts")
    return rows


def review(
    reconciled: Mapping[str, Any] | None,
    signed: Mapping[str, Any] | None,
    fingerprint: str | None,
) -> Review:
    """A cid's QA counts and sign-off from its last reconcile record, its recorded sign-off
    and the current fingerprint of its migration documents."""
    if reconciled is None:
        return Review(reason="never reconciled")
    sample_ids = [int(i) for i in reconciled.get("sample_ids") or []]
    report_id = reconciled.get("report_id")
    if not report_id:
        return Review(unreviewed=int(reconciled.get("samples") or 0), reason="no QA report was written for it")
    verdicts: Mapping[str, Mapping[str, Any]] = {}
    if signed is not None and signed.get("report_id") == report_id:
        verdicts = signed.get("verdicts") or {}
    given = [str((verdicts.get(str(i)) or {}).get("verdict") or "") for i in sample_ids]
    passed, failed = given.count(PASS), given.count(FAIL)
    counts = {"passed": passed, "failed": failed, "unreviewed": len(given) - passed - failed}
    if fingerprint != reconciled.get("fingerprint"):
        reason = f"its migration documents changed after report {report_id}: reconcile and review again"
        return Review(**counts, signoff=PENDING, reason=reason)
    if failed:
        return Review(**counts, signoff=REJECTED, reason=f"{failed} sample(s) failed QA")
    if not reconciled.get("ok"):
        return Review(
            **counts, signoff=PENDING, reason=f"its last reconcile was not clean ({reconciled.get('status')})"
        )
    if counts["unreviewed"]:
        return Review(**counts, signoff=PENDING, reason=f"{counts['unreviewed']} sample(s) without a verdict")
    return Review(**counts, signoff=APPROVED, reason=f"every sample of report {report_id} passed")


class RecordedSignoff:
    """The status use case's sign-off source: recorded sign-offs and current fingerprints,
    read once for the cids asked about."""

    def __init__(self, signed: Mapping[int, Mapping[str, Any]], fingerprints: Mapping[int, str]) -> None:
        self.signed = signed
        self.fingerprints = fingerprints

    def review(self, cid: int, verdict: Mapping[str, Any] | None) -> Review:
        return review(verdict, self.signed.get(cid), self.fingerprints.get(cid))


def signoff(
    rows: list[VerdictRow],
    reviewer: str,
    now: datetime,
    *,
    reconciled: Callable[[list[int]], Mapping[int, Mapping[str, Any]]],
    fingerprints: Callable[[list[int]], Mapping[int, str]],
    record: Callable[[int, str, str, datetime, dict[int, dict[str, str]]], None],
) -> SignoffResult:
    """Check the rows against each cid's last reviewed report, then record them per cid.
    Refused (nothing recorded) when the rows come from several reports or from a report
    that is not the cid's last, name a cid never reconciled, or name unknown samples."""
    if not reviewer.strip():
        raise SignoffRefused("a reviewer is needed: give --reviewer NAME")
    report_ids = sorted({r.report_id for r in rows})
    if len(report_ids) > 1:
        raise SignoffRefused(f"the CSV mixes reports {', '.join(report_ids)}: export one report's verdicts")
    report_id = report_ids[0]
    cids = sorted({r.cid for r in rows})
    last = reconciled(cids)
    by_cid: dict[int, dict[int, dict[str, str]]] = {c: {} for c in cids}
    for cid in cids:
        rec = last.get(cid)
        if rec is None:
            raise SignoffRefused(f"cid {cid} was never reconciled: run `reconcile --report` first")
        if rec.get("report_id") != report_id:
            raise SignoffRefused(
                f"the CSV is from report {report_id}, but the last report of cid {cid} is "
                f"{rec.get('report_id') or 'none'}: export the verdicts from that report"
            )
    for row in rows:
        known = {int(i) for i in last[row.cid].get("sample_ids") or []}
        if row.sample_id not in known:
            raise SignoffRefused(f"line {row.line}: cid {row.cid} has no sample {row.sample_id} in report {report_id}")
        by_cid[row.cid][row.sample_id] = {
            "verdict": row.verdict,
            "comment": row.comment,
            "reviewed_at": row.reviewed_at,
        }
    for cid in cids:
        record(cid, report_id, reviewer.strip(), now, by_cid[cid])
    current = fingerprints(cids)
    result = SignoffResult(report_id, reviewer.strip())
    for cid in cids:
        signed = {"report_id": report_id, "verdicts": {str(k): v for k, v in by_cid[cid].items()}}
        result.reviews[cid] = review(last[cid], signed, current.get(cid))
    return result


def verdicts_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as the report exports them (every cell quoted, a UTF-8 BOM): for tests and tools."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, quoting=csv.QUOTE_ALL, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return "\ufeff" + out.getvalue()
