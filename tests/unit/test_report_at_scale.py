"""What keeps the QA report cheap at many cids: a minimal token diff, the page written a
cid at a time, and hard-case hints that do not depend on letter case."""

from __future__ import annotations

import re
import tracemalloc
from datetime import UTC, datetime
from html import unescape

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_notes_migration.report.report import _diff_marks, render_report, report_pieces, write_report
from crm_notes_migration.usecases.reconcile.ledger import CidLedger
from crm_notes_migration.usecases.reconcile.sample import MENTIONS, SANITISED_XSS, Sample, categorise

#: One-character tokens, so that characters of the marked diff count tokens.
_TOKENS = st.lists(st.sampled_from(["a", "b", "c", " ", "<", ">"]), max_size=14)


def _lcs(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def _text(marked: str) -> str:
    return unescape(re.sub(r"</?(del|ins)[^>]*>", "", marked))


def _sides(marked: str) -> tuple[str, str, str, str]:
    """(the old side, the new side, what neither mark covers, what is marked removed)."""
    before = re.sub(r'<ins class="add">.*?</ins>', "", marked, flags=re.S)
    after = re.sub(r'<del class="del">.*?</del>', "", marked, flags=re.S)
    kept = re.sub(r'<(del|ins) class="(del|add)">.*?</\1>', "", marked, flags=re.S)
    deleted = "".join(re.findall(r'<del class="del">(.*?)</del>', marked, flags=re.S))
    return _text(before), _text(after), _text(kept), _text(deleted)


@settings(max_examples=300, deadline=None)
@given(_TOKENS, _TOKENS)
def test_the_diff_rebuilds_both_sides_and_keeps_the_longest_common_run(a, b):
    marked, removed = _diff_marks(a, b)
    before, after, kept, deleted = _sides(marked)
    assert (before, after) == ("".join(a), "".join(b))
    assert len(kept) == _lcs(a, b)  # the fewest tokens marked: what the sanitiser removed, no more
    assert removed == len(deleted.replace(" ", ""))  # removed tokens, whitespace not counted


def _card_sample(cid: int, note: int, html: str) -> Sample:
    s = Sample(
        cid=cid,
        legacy_crm_note_id=note,
        outcome="migrated",
        legacy_html=html,
        legacy_created_at=datetime(2021, 1, 1),
        legacy_updated_at=None,
        migrated_html=html,
    )
    s.categories = categorise(s)
    return s


def _report_inputs(cids: int, per_cid: int, size: int) -> tuple[list[CidLedger], list[Sample]]:
    ledgers = [CidLedger(cid=c, in_scope=per_cid, migrated=per_cid) for c in range(1, cids + 1)]
    body = "<p>" + "ü word " * (size // 8) + "</p>"
    samples = [_card_sample(c, n, body) for c in range(1, cids + 1) for n in range(per_cid)]
    return ledgers, samples


_OPTIONS = dict(timezone_name="UTC", generated_at=datetime(2024, 1, 1, tzinfo=UTC), seed=3)


def test_the_page_comes_a_cid_at_a_time_and_is_written_as_it_comes(tmp_path):
    ledgers, samples = _report_inputs(cids=5, per_cid=2, size=200)
    pieces = list(report_pieces(ledgers, samples, **_OPTIONS))
    assert len(pieces) == 5 + 2  # the head, one piece per cid, the end
    assert all(p.count('<details class="cid"') == 1 for p in pieces[1:-1])
    path = tmp_path / "qa.html"
    write_report(path, ledgers, samples, **_OPTIONS)
    assert path.read_text(encoding="utf-8") == render_report(ledgers, samples, **_OPTIONS) == "".join(pieces)
    assert [p.name for p in tmp_path.iterdir()] == ["qa.html"]  # no partial file left


def _peak_while_writing(path, cids: int) -> tuple[int, int]:
    """(peak traced bytes while writing, bytes written) of a report of `cids` cids."""
    ledgers, samples = _report_inputs(cids=cids, per_cid=1, size=6_000)
    tracemalloc.start()
    try:
        write_report(path, ledgers, samples, **_OPTIONS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, path.stat().st_size


def test_writing_the_report_holds_about_one_cid_of_it_however_many_cids(tmp_path):
    small_peak, small = _peak_while_writing(tmp_path / "small.html", cids=40)
    large_peak, large = _peak_while_writing(tmp_path / "large.html", cids=200)
    assert large > 4 * small
    assert large_peak < small_peak + small, (small_peak, large_peak, small, large)  # not the page


def test_a_failed_write_leaves_the_old_report_and_no_partial_file(tmp_path):
    path = tmp_path / "qa.html"
    path.write_text("the previous report", encoding="utf-8")
    ledgers, samples = _report_inputs(cids=2, per_cid=1, size=100)
    samples[-1].legacy_created_at = object()  # type: ignore[assignment]  # breaks the second cid's card
    try:
        write_report(path, ledgers, samples, **_OPTIONS)
    except Exception:
        pass
    else:  # pragma: no cover - the card must fail for this test to mean anything
        raise AssertionError("the broken sample did not fail the report")
    assert path.read_text(encoding="utf-8") == "the previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["qa.html"]


_CASED = st.text(alphabet="<>/ =\"'scriptONCLIKmentdaJAVSv:-_", max_size=40)


@settings(max_examples=400, deadline=None)
@given(_CASED)
def test_hard_case_hints_ignore_letter_case(text):
    plain = _card_sample(1, 1, text.lower()).categories
    for variant in (text, text.upper(), text.swapcase()):
        got = _card_sample(1, 1, variant).categories
        assert (MENTIONS in got, SANITISED_XSS in got) == (MENTIONS in plain, SANITISED_XSS in plain)


def test_hard_case_hints_find_upper_case_code_and_mentions():
    got = _card_sample(1, 1, '<P ONCLICK="x()">Hi <SPAN CLASS="Mention">@Ann</SPAN> <A HREF="JavaScript:x">y</A></P>')
    assert MENTIONS in got.categories and SANITISED_XSS in got.categories
    assert _card_sample(1, 1, "<p>plain words, no code</p>").categories == ()
