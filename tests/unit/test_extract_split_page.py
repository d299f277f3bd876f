"""Pages cut into batches by content size (extract.split_page)."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from crm_notes_migration.transform import LegacyNote
from crm_notes_migration.usecases.extract import MAX_BATCH_CONTENT_CHARS, split_page

T = datetime(2021, 1, 1, tzinfo=UTC)


def _page(sizes):
    return [(LegacyNote(i + 1, 7, 1, None if n is None else "x" * n, None, T), {}) for i, n in enumerate(sizes)]


@given(st.lists(st.one_of(st.none(), st.integers(0, 300)), max_size=60), st.integers(1, 400))
def test_parts_keep_order_and_every_note_and_respect_the_limit(sizes, limit):
    page = _page(sizes)
    parts = split_page(page, limit)
    assert [row for part in parts for row in part] == page  # nothing lost, repeated or reordered
    assert all(parts)  # no empty batch
    for part in parts:
        total = sum(len(note.content or "") for note, _ in part)
        assert total <= limit or len(part) == 1  # only a single note may be over the limit alone
    for left, right in zip(parts, parts[1:], strict=False):  # a part ends only where the next note would not fit
        used = sum(len(note.content or "") for note, _ in left)
        assert used + len(right[0][0].content or "") > limit


def test_a_page_of_ordinary_notes_stays_one_batch():
    assert len(split_page(_page([2000] * 500))) == 1
    assert MAX_BATCH_CONTENT_CHARS > 2000 * 500


def test_megabyte_notes_are_spread_over_batches():
    parts = split_page(_page([100, 1_300_000, 100, 1_300_000, 1_300_000, 100]))
    assert [len(p) for p in parts] == [3, 1, 2]
