"""CrmSource against a real PostgreSQL with rows inserted here (SPEC §2 schema)."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest

from crm_notes_devtools.seed.loader import create_crm_schema
from crm_notes_migration.source.crm import CrmSource

T = datetime(2021, 3, 4, 5, 6, 7)


def mention(uid: int, name: str) -> str:
    return (
        f'<span class="mention" data-index="0" data-denotation-char="@" data-id="{uid}" data-value="{name}">'
        f'<span contenteditable="false"><span class="ql-mention-denotation-char">@</span>{name}</span></span>'
    )


@pytest.fixture
def crm(isolated_settings):
    url = isolated_settings.crm_database_url
    with psycopg.connect(url, autocommit=True) as conn:
        create_crm_schema(conn)
        conn.execute(
            "INSERT INTO crm_users VALUES (1, 10, 'a@x.co', 'Ani'), (2, 10, 'b@x.co', 'Budi'),"
            " (3, 20, 'c@y.co', 'Citra'), (4, 10, 'd@x.co', 'Dewi')"
        )
        rows = []
        for i in range(1, 31):  # cid 10: ids 1..30; every 5th deleted, every 7th without person
            deleted = T if i % 5 == 0 else None
            person = None if i % 7 == 0 else 100 + i
            content = f"<p>note {i}</p>" + (mention(2, "Budi") if i % 3 == 0 else "")
            rows.append((i, 10, person, content, 1 if i % 2 else None, T, None, deleted))
        rows += [
            (31, 20, 500, "<p>other</p>" + mention(2, "Budi"), 3, T, T, None),
            (32, 10, 101, mention(3, "Citra"), 99, T, None, None),
        ]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO crm_notes VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", rows)
            cur.executemany(
                "INSERT INTO crm_note_attachments VALUES (%s,%s,%s,%s,%s,%s,%s)",
                [
                    (9, 3, "b.pdf", "https://f/b", "application/pdf", 2, T),
                    (8, 3, "a.pdf", "https://f/a", None, None, T),
                    (7, 31, "c.txt", "https://f/c", "text/plain", 3, T),
                ],
            )
    with CrmSource(url) as source:
        yield source


def expected_ids(cid_rows=range(1, 31)):
    return [i for i in cid_rows if i % 5 and i % 7] + [32]


def test_pages_are_in_scope_ascending_and_bounded(crm):
    pages = list(crm.iter_pages(10, 0, crm.max_note_id(10), page_size=4))
    ids = [note.id for page in pages for note, _ in page]
    assert ids == expected_ids()
    assert all(len(p) <= 4 for p in pages) and len(pages) == -(-len(ids) // 4)
    assert all(note.cid == 10 and note.deleted_at is None and note.crm_person_id for p in pages for note, _ in p)


def test_high_water_and_resume_point(crm):
    ids = [n.id for p in crm.iter_pages(10, 8, 20, 100) for n, _ in p]
    assert ids == [i for i in range(9, 21) if i % 5 and i % 7]
    assert crm.max_note_id(10) == 32 and crm.max_note_id(20) == 31 and crm.max_note_id(99) == 0


def test_attachments_and_users_come_with_each_note(crm):
    notes = {n.id: (n, users) for p in crm.iter_pages(10, 0, 100, 10) for n, users in p}
    note3, users3 = notes[3]
    assert [a.id for a in note3.attachments] == [8, 9]
    assert note3.attachments[1].file_url == "https://f/b"
    assert set(users3) == {1, 2} and users3[2].full_name == "Budi"
    assert notes[4][1] == {}  # no author, no mention
    # a mention of another cid's user and a dangling author are not fetched
    assert notes[32][1] == {}
    other = [n for p in crm.iter_pages(20, 0, 100, 10) for n in p]
    assert [(n.id, set(u)) for n, u in other] == [(31, {3})]
    assert [a.id for a in other[0][0].attachments] == [7]


def test_cids_counts_ids_and_identity(crm):
    assert crm.cids() == [10, 20]
    assert crm.in_scope_counts() == {10: len(expected_ids()), 20: 1}
    assert crm.count_in_scope(10, 0, 20) == len([i for i in range(1, 21) if i % 5 and i % 7])
    assert list(crm.iter_in_scope_ids(10)) == expected_ids()
    ident = crm.identity()
    assert ident.startswith("postgresql://") and "crm_test_" in ident and "#" in ident


def test_known_cids_include_a_cid_whose_notes_all_left_scope(crm, isolated_settings):
    with psycopg.connect(isolated_settings.crm_database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO crm_notes VALUES (40, 30, 7, '<p>gone</p>', 1, %s, NULL, %s)", (T, T))
    assert crm.cids() == [10, 20]
    assert crm.known_cids() == [10, 20, 30]  # reconcile still shows such a cid's extras


def test_queries_per_page_do_not_grow_with_notes(crm, monkeypatch):
    calls = []
    original = crm._rows

    def counting(sql, params=()):
        calls.append(sql)
        return original(sql, params)

    monkeypatch.setattr(crm, "_rows", counting)
    pages = list(crm.iter_pages(10, 0, 100, 50))
    assert len(pages) == 1
    assert len(calls) == 3  # notes, attachments, users: one each for the page
