"""Reading the legacy CRM (SPEC §2) from PostgreSQL with psycopg 3.

Per cid, in-scope notes are read in ascending `crm_notes.id` with keyset pagination
(`id > after AND id <= upto ... ORDER BY id LIMIT n`), so memory is bounded by one page
whatever the size of a company and a later insert never shifts a page. Each page's
attachments and the CRM users it needs (authors and legacy mention `data-id`s) are
fetched with one `= ANY(%s)` query each: no per-note queries.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from ..transform import LegacyAttachment, LegacyNote, LegacyUser, legacy_mention_user_ids

#: The in-scope filter of SPEC §2.
IN_SCOPE = "deleted_at IS NULL AND crm_person_id IS NOT NULL"
#: Ids per query of `iter_in_scope_ids`.
ID_PAGE_SIZE = 20_000

# The columns in the order of the fields of LegacyNote, LegacyAttachment and LegacyUser:
# a row is passed positionally (tests/unit/test_extractor_fastpaths.py holds them together).
_NOTE_COLUMNS = "id, cid, crm_person_id, content, created_by, created_at, updated_at, deleted_at"
_ATTACHMENT_COLUMNS = "id, note_id, file_name, file_url, content_type, file_size, created_at"
_USER_COLUMNS = "id, cid, email, full_name"

Page = list[tuple[LegacyNote, dict[int, LegacyUser]]]


class CrmSource:
    """The legacy CRM database, read-only. One connection; use from one thread."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.Connection | None = None

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
            self._conn.execute("SET default_transaction_read_only = on")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "CrmSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple[Any, ...]]:
        """The rows of one query, as tuples in the order of its columns."""
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def identity(self) -> str:
        """Which database this is (host, port, name and its oid, so a re-created one differs)."""
        info = self.conn.info
        oid = self.conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
        return f"postgresql://{info.host}:{info.port}/{info.dbname}#{oid}"

    def cids(self) -> list[int]:
        """Companies with at least one in-scope note, ascending."""
        return [r[0] for r in self.conn.execute(f"SELECT DISTINCT cid FROM crm_notes WHERE {IN_SCOPE} ORDER BY cid")]

    def known_cids(self) -> list[int]:
        """Companies with at least one note, in scope or not, ascending: the CRM's list of
        cids, which "every cid" means (the CDP's collections hold every tenant's notes)."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT cid FROM crm_notes ORDER BY cid")]

    def max_note_id(self, cid: int) -> int:
        """The highest note id of the cid (0 when none): a pass's high-water mark."""
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM crm_notes WHERE cid = %s", (cid,)).fetchone()[0]

    def count_in_scope(self, cid: int, after_id: int = 0, upto_id: int | None = None) -> int:
        """In-scope notes of the cid with `after_id < id <= upto_id`."""
        upto = upto_id if upto_id is not None else 2**63 - 1
        return self.conn.execute(
            f"SELECT count(*) FROM crm_notes WHERE cid = %s AND id > %s AND id <= %s AND {IN_SCOPE}",
            (cid, after_id, upto),
        ).fetchone()[0]

    def in_scope_counts(self) -> dict[int, int]:
        """In-scope notes per cid, for every cid (one query)."""
        return dict(self.conn.execute(f"SELECT cid, count(*) FROM crm_notes WHERE {IN_SCOPE} GROUP BY cid").fetchall())

    def iter_in_scope_ids(self, cid: int) -> Iterator[int]:
        """Every in-scope note id of the cid, ascending, in pages of ID_PAGE_SIZE."""
        after = 0
        while True:
            ids = [
                r[0]
                for r in self.conn.execute(
                    f"SELECT id FROM crm_notes WHERE cid = %s AND id > %s AND {IN_SCOPE} ORDER BY id LIMIT %s",
                    (cid, after, ID_PAGE_SIZE),
                )
            ]
            yield from ids
            if len(ids) < ID_PAGE_SIZE:
                return
            after = ids[-1]

    def iter_pages(self, cid: int, after_id: int, upto_id: int, page_size: int) -> Iterator[Page]:
        """In-scope notes of the cid with `after_id < id <= upto_id`, ascending, `page_size` at a time;
        each note comes with the CRM users (of the same cid) it refers to, by id."""
        while True:
            rows = self._rows(
                f"SELECT {_NOTE_COLUMNS} FROM crm_notes WHERE cid = %s AND id > %s AND id <= %s AND {IN_SCOPE}"
                " ORDER BY id LIMIT %s",
                (cid, after_id, upto_id, page_size),
            )
            if not rows:
                return
            yield self._page(cid, rows)
            if len(rows) < page_size:
                return
            after_id = rows[-1][0]

    def _page(self, cid: int, rows: list[tuple[Any, ...]]) -> Page:
        attachments: dict[int, list[LegacyAttachment]] = {}
        for a in self._rows(
            f"SELECT {_ATTACHMENT_COLUMNS} FROM crm_note_attachments WHERE note_id = ANY(%s) ORDER BY note_id, id",
            ([r[0] for r in rows],),
        ):
            attachments.setdefault(a[1], []).append(LegacyAttachment(*a))
        # per row: (mention ids, the users it refers to: author first, then its mentions)
        wanted: list[tuple[tuple[int, ...], list[int]]] = []
        all_ids: set[int] = set()
        for r in rows:
            mentions = tuple(legacy_mention_user_ids(r[3]))
            ids = [r[4], *mentions] if r[4] is not None else list(mentions)
            all_ids.update(ids)
            wanted.append((mentions, ids))
        users = {
            u[0]: LegacyUser(*u)
            for u in (
                self._rows(f"SELECT {_USER_COLUMNS} FROM crm_users WHERE cid = %s AND id = ANY(%s)",
                           (cid, sorted(all_ids)))
                if all_ids
                else []
            )
        }
        page: Page = []
        no_attachments: tuple[LegacyAttachment, ...] = ()
        for r, (mentions, ids) in zip(rows, wanted):
            found = attachments.get(r[0])
            note = LegacyNote(*r, attachments=tuple(found) if found else no_attachments,
                              parsed_mentions=(r[3], mentions))
            page.append((note, {i: users[i] for i in ids if i in users}))
        return page
