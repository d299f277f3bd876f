"""The sorted-stream merge, the content checks and the stratified sampler (pure)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_notes_migration.usecases.reconcile import checks
from crm_notes_migration.usecases.reconcile.diff import StreamOrderError, merge_sorted
from crm_notes_migration.usecases.reconcile.sample import PARKED, SANITISED_XSS, UNICODE, Sample, StratifiedSampler


def _ident(x: int) -> int:
    return x


@given(st.sets(st.integers(1, 500)), st.sets(st.integers(1, 500)), st.sets(st.integers(1, 500)))
def test_merge_classifies_every_id_like_set_algebra(source, docs, parked):
    seen = {}
    for row in merge_sorted(
        {"s": (sorted(source), _ident), "d": (sorted(docs), _ident), "p": (sorted(parked), _ident)}
    ):
        seen[row.key] = tuple(bool(items) for items in row.items)
    assert set(seen) == source | docs | parked
    assert list(seen) == sorted(seen)
    assert {k for k, (s, d, p) in seen.items() if s and not d and not p} == source - docs - parked
    assert {k for k, (s, d, p) in seen.items() if not s} == (docs | parked) - source
    assert {k for k, (s, d, p) in seen.items() if d and p} == docs & parked


def test_merge_groups_repeated_keys_and_rejects_unsorted_streams():
    rows = list(merge_sorted({"a": ([1, 2, 2, 5], _ident), "b": ([2], _ident)}))
    assert [(r.key, r.items) for r in rows] == [(1, ([1], [])), (2, ([2, 2], [2])), (5, ([5], []))]
    with pytest.raises(StreamOrderError):
        list(merge_sorted({"a": ([1, 3, 2], _ident), "b": ([], _ident)}))


def test_merge_memory_does_not_grow_with_the_number_of_ids():
    def stream(n, step):
        return ((i, i * step) for i in range(n))

    def peak(n):
        tracemalloc.start()
        count = sum(1 for _ in merge_sorted({"a": (stream(n, 2), lambda t: t[1]), "b": (stream(n, 3), lambda t: t[1])}))
        _, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return count, high

    small_count, small = peak(2_000)
    big_count, big = peak(200_000)
    assert big_count > 50 * small_count
    assert big < small * 3 + 64_000  # ~constant: no id set is built


T = datetime(2021, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


def _doc(**changes):
    content = "<p>hello</p>"
    doc = {
        "_id": "oid",
        "contact_id": "c1",
        "content": content,
        "created_at": T,
        "updated_at": T,
        "attachments": [
            {"legacy_attachment_id": 1, "name": "a", "url": "https://x/a", "content_type": None, "size": 3}
        ],
        "migration": {"content_sha256": checks.sha256_hex(content), "source_sha256": "s" * 64, "legacy_updated_at": T},
    }
    doc.update(changes)
    return doc


def test_compare_document_names_each_kind_of_difference():
    expected = _doc()
    assert checks.compare_document(_doc(), expected) == []
    # pymongo without tz_aware returns naive UTC: the same instant, no mismatch
    assert checks.compare_document(_doc(created_at=T.replace(tzinfo=None)), expected) == []
    assert checks.compare_document(_doc(content="<p>evil</p>"), expected) == [checks.CONTENT_TAMPERED]
    both = _doc(content="<p>evil</p>")
    both["migration"] = dict(both["migration"], content_sha256=checks.sha256_hex("<p>evil</p>"))
    assert checks.compare_document(both, expected) == [checks.CONTENT_CHECKSUM]
    assert checks.compare_document(_doc(created_at=T + timedelta(hours=7)), expected) == [checks.CREATED_AT]
    assert checks.compare_document(_doc(attachments=[]), expected) == [checks.ATTACHMENTS]
    assert checks.compare_document(_doc(contact_id="c2"), expected) == [checks.CONTACT_ID]
    stale = _doc()
    stale["migration"] = dict(stale["migration"], source_sha256="t" * 64)
    assert checks.compare_document(stale, expected) == [checks.SOURCE_CHANGED]


def test_edited_in_cdp_is_updated_at_off_the_legacy_time():
    assert not checks.is_edited_in_cdp(_doc())
    assert checks.is_edited_in_cdp(_doc(updated_at=T + timedelta(days=1)))
    assert not checks.is_edited_in_cdp(_doc(updated_at=T.replace(tzinfo=None)))


def _sample(i: int, html: str = "<p>plain</p>", outcome: str = "migrated") -> Sample:
    return Sample(
        cid=1,
        legacy_crm_note_id=i,
        outcome=outcome,
        legacy_html=html,
        legacy_created_at=datetime(2020, 1, 1),
        legacy_updated_at=None,
    )


def _stream(seed: int):
    rng = random.Random(seed)
    hard = {rng.randrange(1, 1000): kind for kind in ("xss", "unicode", "parked")}
    for i in range(1, 1000):
        kind = hard.get(i)
        if kind == "xss":
            yield _sample(i, "<p>x</p><script>alert(1)</script>")
        elif kind == "unicode":
            yield _sample(i, "<p>日本語</p>")
        elif kind == "parked":
            yield _sample(i, outcome="parked:contact_not_found")
        else:
            yield _sample(i)


@pytest.mark.parametrize("data_seed", [1, 2, 3])
def test_sampler_keeps_every_hard_case_and_is_deterministic(data_seed):
    def run(seed):
        sampler = StratifiedSampler(5, seed, cid=1)
        for s in _stream(data_seed):
            sampler.offer(s)
        return sampler.result()

    picked = run(42)
    categories = {c for s in picked for c in s.categories}
    assert {SANITISED_XSS, UNICODE, PARKED} <= categories
    assert len(picked) == 5
    assert [s.legacy_crm_note_id for s in picked] == [s.legacy_crm_note_id for s in run(42)]
    assert any([s.legacy_crm_note_id for s in run(seed)] != [s.legacy_crm_note_id for s in picked] for seed in range(5))


def test_status_fails_on_accounting_warns_on_parked_and_ignores_anomalies():
    from crm_notes_migration.usecases.reconcile.ledger import FAIL, OK, WARN, CidLedger

    clean = CidLedger(cid=1, in_scope=3, migrated=3)
    clean.add_anomaly(1, "unresolved_mention")
    clean.add_anomaly(2, "attachment_dropped")
    clean.add_anomaly(3, "updated_before_created")
    clean.edited_in_cdp.add(2)
    assert (clean.ok, clean.status) == (True, OK)  # anomalies and user edits: informational

    parked = CidLedger(cid=1, in_scope=3, migrated=2)
    parked.parked["contact_not_found"] += 1
    assert (parked.ok, parked.status) == (True, WARN)
    stale = CidLedger(cid=1, in_scope=3, migrated=3)
    stale.parked_stale.add(3)
    assert (stale.ok, stale.status) == (True, WARN)

    for finding in ("missing", "extra", "duplicates"):
        broken = CidLedger(cid=1, in_scope=3, migrated=3)
        broken.parked["contact_not_found"] += 1
        getattr(broken, finding).add(7)
        assert (broken.ok, broken.status) == (False, FAIL), finding
    mismatched = CidLedger(cid=1, in_scope=3, migrated=3)
    mismatched.add_mismatch(5, [checks.CONTENT_TAMPERED])
    assert (mismatched.ok, mismatched.status) == (False, FAIL)
    disagreeing = CidLedger(cid=1, in_scope=3, migrated=3)
    disagreeing.api_differences.append("migrated: api 2 != store 3")
    assert disagreeing.status == FAIL


def test_the_snapshot_directory_is_removed_and_clears_what_killed_reconciles_left(tmp_path):
    from crm_notes_migration.usecases.reconcile.snapshot import DIRECTORY_PREFIX, snapshot_directory

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    left = tmp_path / f"{DIRECTORY_PREFIX}{gone.pid}-abc"  # its reconcile was killed
    running = tmp_path / f"{DIRECTORY_PREFIX}{os.getppid()}-def"  # a reconcile still running
    other = tmp_path / f"{DIRECTORY_PREFIX}older-naming"
    for d in (left, running, other):
        d.mkdir()
        (d / "stores.sqlite").write_bytes(b"x")
    with snapshot_directory(tmp_path) as mine:
        assert mine.is_dir() and mine.name.startswith(f"{DIRECTORY_PREFIX}{os.getpid()}-")
        assert not left.exists() and running.exists() and other.exists()
        (mine / "stores.sqlite").write_bytes(b"y")
    assert not mine.exists()
