"""CrmSource's pages of a loaded seed equal a straightforward reading of the same database
(by column name, one query per note), and so do the contract batches built from them."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_migration.source.crm import IN_SCOPE, CrmSource
from crm_notes_migration.transform import LegacyAttachment, LegacyNote, LegacyUser, legacy_note_to_contract
from crm_notes_migration.transform.mentions import legacy_mention_user_ids
from crm_notes_migration.usecases.extract import build_batch, canonical_json

TZ = ZoneInfo("America/New_York")


def straightforward_notes(conn, cid: int) -> list[tuple[LegacyNote, dict[int, LegacyUser]]]:
    out = []
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(f"SELECT * FROM crm_notes WHERE cid = %s AND {IN_SCOPE} ORDER BY id", (cid,)).fetchall():
            atts = cur.execute(
                "SELECT * FROM crm_note_attachments WHERE note_id = %s ORDER BY id", (row["id"],)
            ).fetchall()
            note = LegacyNote(**row, attachments=tuple(LegacyAttachment(**a) for a in atts))
            users = {}
            for uid in ([row["created_by"]] if row["created_by"] is not None else []) + legacy_mention_user_ids(
                row["content"]
            ):
                user = cur.execute("SELECT * FROM crm_users WHERE id = %s AND cid = %s", (uid, cid)).fetchone()
                if user is not None:
                    users.setdefault(uid, LegacyUser(**user))
            out.append((note, users))
    return out


def test_pages_and_batches_equal_a_straightforward_reading(isolated_settings):
    load_seed(isolated_settings, 600, 4, 99)
    url = isolated_settings.crm_database_url
    with CrmSource(url) as source, psycopg.connect(url) as conn:
        cids = source.cids()
        assert cids
        for cid in cids:
            expected = straightforward_notes(conn, cid)
            pages = list(source.iter_pages(cid, 0, source.max_note_id(cid), 37))
            got = [item for page in pages for item in page]
            assert [(n, u) for n, u in got] == expected
            assert [list(u) for _, u in got] == [list(u) for _, u in expected]  # same order of users
            assert any(n.parsed_mentions and n.parsed_mentions[1] for n, _ in got)
            for (n, u), (m, v) in zip(got, expected, strict=False):
                assert legacy_note_to_contract(n, u, TZ) == legacy_note_to_contract(m, v, TZ)
            for k, page in enumerate(pages):
                other = build_batch(cid, expected[k * 37 : (k + 1) * 37], TZ)
                mine = build_batch(cid, page, TZ)
                assert mine["batch_id"] == other["batch_id"]
                assert canonical_json(mine) == canonical_json(other)
