"""The human QA gate end to end (issue 17): a reviewer gives verdicts in the QA report in
headless Chromium and exports them; `signoff` records them; `status` shows approved,
rejected and pending cids; a CSV of another report is refused; a change after the
sign-off makes the cid pending again. Real services, API and worker; commands as
subprocesses."""

from __future__ import annotations

import csv
import io
import json

import psycopg
import pytest

from crm_notes_devtools.stack import LocalStack
from tests.cli import cli
from tests.e2e.review_support import review_in_browser, shown_verdicts
from tests.e2e.run_support import load_fixture

CIDS = (11, 12, 13)


def status_of(settings, cwd) -> dict[int, dict]:
    proc = cli(settings, cwd, "status", "--json")
    return {row["cid"]: row for row in json.loads(proc.stdout)["cids"]}


@pytest.fixture
def migrated(isolated_settings, tmp_path):
    load_fixture(isolated_settings, cids=CIDS, per_cid=30)
    stack = LocalStack(isolated_settings, tmp_path / "stack").start()
    try:
        settings = stack.settings
        proc = cli(settings, tmp_path, "run", "--json")
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = tmp_path / "qa.html"
        proc = cli(settings, tmp_path, "reconcile", "--report", str(report), "--sample", "2")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        yield settings, tmp_path, report
    finally:
        stack.stop()


def test_verdicts_exported_from_the_report_gate_each_cid(migrated):
    settings, cwd, report = migrated
    before = status_of(settings, cwd)
    assert {c: r["signoff"] for c, r in before.items()} == dict.fromkeys(CIDS, "pending")
    assert all(r["qa"]["unreviewed"] > 0 for r in before.values())

    exported = review_in_browser(report, {11: "pass", 12: "fail", 13: None}, "Ani Lestari")
    assert exported.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(exported.removeprefix("\ufeff"))))
    assert {r["reviewer"] for r in rows if r["verdict"]} == {"Ani Lestari"}
    verdicts = cwd / "verdicts.csv"
    verdicts.write_text(exported, encoding="utf-8")

    proc = cli(settings, cwd, "signoff", str(verdicts), "--reviewer", "Ani Lestari", "--json")
    assert proc.returncode == 0, proc.stderr
    outcome = {row["cid"]: row["signoff"] for row in json.loads(proc.stdout)["cids"]}
    assert outcome == {11: "approved", 12: "rejected", 13: "pending"}

    after = status_of(settings, cwd)
    assert {c: r["signoff"] for c, r in after.items()} == {11: "approved", 12: "rejected", 13: "pending"}
    assert after[13]["qa"]["unreviewed"] == 1 and after[12]["qa"]["failed"] > 0
    assert cli(settings, cwd, "status", "--cid", "11").returncode == 0  # only approved cids: exit 0
    assert cli(settings, cwd, "status").returncode == 1

    # a second reviewer re-opens the same report with the recorded verdicts
    again = cwd / "qa-again.html"
    proc = cli(settings, cwd, "reconcile", "--report", str(again), "--sample", "2", "--with-verdicts")
    assert proc.returncode == 0, proc.stderr[-2000:]
    shown = shown_verdicts(again)
    expected = {f"{r['cid']}:{r['sample_id']}": r["verdict"] for r in rows if r["verdict"]}
    assert shown == expected and "fail" in shown.values()
    assert shown_verdicts(report) == {}  # the first report, opened afresh, holds none

    # a later change of cid 11's migration documents makes it pending again, with the reason
    with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE crm_notes SET content = '<p>changed after sign-off</p>' "
            "WHERE id = (SELECT min(id) FROM crm_notes WHERE cid = 11 AND deleted_at IS NULL "
            "AND crm_person_id IS NOT NULL)"
        )
    assert cli(settings, cwd, "run", "--cid", "11", "--json").returncode == 0
    row = status_of(settings, cwd)[11]
    assert row["signoff"] == "pending" and "changed after report" in row["signoff_reason"]


def test_signoff_refuses_a_csv_from_another_report_and_records_nothing(migrated):
    settings, cwd, report = migrated
    text = review_in_browser(report, {11: "pass"}, "Ani")
    other = text.replace("qa-", "qa-0")  # the same rows, as if exported from another report
    path = cwd / "other.csv"
    path.write_text(other, encoding="utf-8")
    proc = cli(settings, cwd, "signoff", str(path), "--reviewer", "Ani")
    assert proc.returncode == 2
    assert "export the verdicts from that report" in proc.stderr and "nothing was recorded" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert status_of(settings, cwd)[11]["qa"]["passed"] == 0

    unknown = text.replace('"11","', '"11","9', 1)  # a sample id the report does not hold
    path.write_text(unknown, encoding="utf-8")
    proc = cli(settings, cwd, "signoff", str(path), "--reviewer", "Ani")
    assert proc.returncode == 2, proc.stderr
    assert status_of(settings, cwd)[11]["signoff"] == "pending"
