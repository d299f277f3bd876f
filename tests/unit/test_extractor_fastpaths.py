"""The extractor's shortcuts give what the straightforward code gives, on generated notes:
the mention ids the reader parsed once and the contract reuses, and
the positional construction of rows."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from crm_notes_devtools.seed.generator import generate
from crm_notes_migration.source import crm
from crm_notes_migration.transform import LegacyAttachment, LegacyNote, LegacyUser
from crm_notes_migration.transform.legacy import legacy_note_to_contract
from crm_notes_migration.transform.mentions import legacy_mention_user_ids
from crm_notes_migration.usecases.extract import build_batch, canonical_json

TZ = ZoneInfo("America/New_York")


def reference_mention_ids(html: str | None) -> list[int]:
    """Every legacy span, found by parsing every note (no pre-check)."""
    if not html:
        return []
    ids: list[int] = []
    for node in LexborHTMLParser(html, is_fragment=True).css("span.mention[data-id]"):
        value = (node.attributes.get("data-id") or "").strip()
        if value.isascii() and value.isdigit() and len(value) <= 19 and int(value) not in ids:
            ids.append(int(value))
    return ids


@pytest.fixture(scope="module")
def seed():
    notes, attachments, users = [], [], []
    for chunk in generate(1500, 8, 77):
        notes += chunk.notes
        attachments += chunk.attachments
        users += chunk.crm_users
    return notes, attachments, users


def test_mention_ids_match_the_reference_on_generated_notes(seed):
    notes, _, _ = seed
    contents = [row[3] for row in notes]
    assert sum(1 for c in contents if c and reference_mention_ids(c)) > 100  # the seed has mentions
    for content in contents:
        assert legacy_mention_user_ids(content) == reference_mention_ids(content)


PIECES = st.sampled_from(
    [
        "mention",
        "MENTION",
        "MeNtIoN",
        "mentio",
        "ention",
        "&#",
        "&",
        "#",
        "&#109;ention",
        "é",
        "ı",
        "K",
        "İ",
        "\udc80",
        "𝓂",
        "<span class='mention' data-id='5'>@x</span>",
        " ",
        "a",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join))
def test_mention_ids_match_the_reference_on_mention_shaped_text(html):
    assert legacy_mention_user_ids(html) == reference_mention_ids(html)


def _pages(seed):
    """Generated rows as the reader builds them (positionally, mention ids parsed once), and
    as straightforward code builds them (by column name, nothing precomputed)."""
    notes, attachments, users = seed
    names = [c.strip() for c in crm._NOTE_COLUMNS.split(",")]
    by_note: dict[int, list[tuple]] = {}
    for a in attachments:
        by_note.setdefault(a[1], []).append(a)
    user_rows = {u[0]: u for u in users}
    fast, plain = [], []
    for row in notes:
        atts = sorted(by_note.get(row[0], []))
        mentions = tuple(legacy_mention_user_ids(row[3]))
        fast.append(
            (
                LegacyNote(
                    *row, attachments=tuple(LegacyAttachment(*a) for a in atts), parsed_mentions=(row[3], mentions)
                ),
                {u[0]: LegacyUser(*u) for u in user_rows.values() if u[1] == row[1]},
            )
        )
        random.Random(row[0]).shuffle(atts)  # any attachment order: the contract sorts them
        plain.append(
            (
                LegacyNote(
                    **dict(zip(names, row, strict=False)),
                    attachments=tuple(
                        LegacyAttachment(
                            **dict(zip([c.strip() for c in crm._ATTACHMENT_COLUMNS.split(",")], a, strict=False))
                        )
                        for a in atts
                    ),
                ),
                {
                    u[0]: LegacyUser(**dict(zip([c.strip() for c in crm._USER_COLUMNS.split(",")], u, strict=False)))
                    for u in user_rows.values()
                    if u[1] == row[1]
                },
            )
        )
    return fast, plain


def test_contracts_from_parsed_mentions_equal_those_parsed_again(seed):
    fast, plain = _pages(seed)
    assert any(n.parsed_mentions[1] for n, _ in fast)
    for (a, users_a), (b, users_b) in zip(fast, plain, strict=False):
        # the same row (parsed_mentions is not part of equality), attachments in another order
        assert a == dataclasses.replace(b, attachments=tuple(sorted(b.attachments, key=lambda x: x.id)))
        assert legacy_note_to_contract(a, users_a, TZ) == legacy_note_to_contract(b, users_b, TZ)
    for start in range(0, len(fast), 200):
        page_a, page_b = fast[start : start + 200], plain[start : start + 200]
        batch_a, batch_b = build_batch(7, page_a, TZ), build_batch(7, page_b, TZ)
        assert batch_a["batch_id"] == batch_b["batch_id"]
        assert canonical_json(batch_a) == canonical_json(batch_b)


def test_parsed_mentions_of_another_content_are_not_used():
    span = '<span class="mention" data-id="{}">@x</span>'
    users = {i: LegacyUser(i, 1, f"u{i}@x.co", f"U{i}") for i in (1, 2)}
    note = LegacyNote(9, 1, 3, span.format(1), None, datetime(2020, 1, 1), parsed_mentions=(span.format(1), (1,)))
    changed = dataclasses.replace(note, content=span.format(2))
    assert legacy_note_to_contract(changed, users, TZ)[0]["mentioned_users"] == [
        {"crm_user_id": 2, "email": "u2@x.co", "name": "U2"}
    ]
    # an equal but distinct string is parsed again, with the same result
    again = dataclasses.replace(note, content="".join(list(note.content)))
    assert legacy_note_to_contract(again, users, TZ) == legacy_note_to_contract(note, users, TZ)


@pytest.mark.parametrize(
    "cls,columns",
    [(LegacyNote, crm._NOTE_COLUMNS), (LegacyAttachment, crm._ATTACHMENT_COLUMNS), (LegacyUser, crm._USER_COLUMNS)],
)
def test_reader_columns_are_the_leading_fields_in_order(cls, columns):
    names = [c.strip() for c in columns.split(",")]
    assert [f.name for f in dataclasses.fields(cls)][: len(names)] == names
    assert all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in dataclasses.fields(cls)[len(names) :]
    )
