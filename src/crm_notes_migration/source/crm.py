"""Reading the legacy CRM (SPEC §2) from PostgreSQL with psycopg 3.

Per cid, in-scope notes are read in ascending `crm_notes.id` with keyset pagination
(`id > after AND id <= upto ... ORDER BY id LIMIT n`), so memory is bounded by one page
whatever the size of a company and a later insert never shifts a page. Each page's
attachments and the CRM users it needs (authors and legacy mention `data-id`s) are
fetched with one `= ANY(%s)` query each: no per-note queries.

Every query is read-only, so when the connection drops (the server restarted, the
backend was terminated) the query is simply run again on a new connection: a page
iteration goes on from the page it was reading. That is retried with backoff for
`wait_s` (CRM_DATABASE_WAIT_S); the first connection is not (a wrong CRM_DATABASE_URL
should say so at once).

Legacy data (SPEC §6a): a `SQL_ASCII` database hands its text over as bytes, decoded here
note by note with `decode_legacy_text`; a timestamp Python cannot hold (`infinity`,
`-infinity`, outside years 1–9999) is read as the text PostgreSQL writes for it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import psycopg

from crm_notes_migration.config import DEFAULT_CRM_DATABASE_WAIT_S
from crm_notes_migration.errors import FixableError, masked
from crm_notes_migration.transform import LegacyAttachment, LegacyNote, LegacyUser, legacy_mention_user_ids
from crm_notes_migration.transform.legacy import decode_legacy_text

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

#: SQLSTATEs after which the same query on a new connection may well succeed: the server
#: shutting down or starting up (57P0x), too many connections, a serialisation failure
#: or deadlock; class 08 (connection exceptions) too, and errors without a SQLSTATE
#: (the connection itself failed).
_TRANSIENT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})
#: Backoff between reconnection attempts, in seconds (doubling, jittered).
RECONNECT_BACKOFF_S = (0.2, 5.0)

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Whether the CRM error is the connection's (worth reconnecting), not the query's."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _TRANSIENT_SQLSTATES


class CrmUnavailable(FixableError):
    """The CRM's connection dropped and did not come back within the wait budget."""


def _reconnecting(method: Callable[..., T]) -> Callable[..., T]:
    """Run the (read-only) method again on a new connection when the connection drops."""

    @functools.wraps(method)
    def wrapper(self: CrmSource, *args: Any, **kwargs: Any) -> T:
        return self._retrying(lambda: method(self, *args, **kwargs))

    return wrapper


def _held(column: str) -> str:
    """SQL: whether the timestamp `column` is one Python can hold (years 1–9999)."""
    return f"({column} >= '0001-01-01' AND {column} < '10000-01-01')"


# What is selected for those columns: a timestamp Python cannot hold is selected as NULL
# (psycopg would raise on it) and, for a note's times, as text in one trailing column.
_NOTE_SELECT = (
    f"id, cid, crm_person_id, content, created_by,"
    f" CASE WHEN {_held('created_at')} THEN created_at END,"
    f" CASE WHEN {_held('updated_at')} THEN updated_at END, deleted_at,"
    f" CASE WHEN NOT {_held('created_at')} OR NOT {_held('updated_at')}"
    f" THEN ARRAY[created_at::text, updated_at::text] END"
)
_ATTACHMENT_SELECT = (
    f"id, note_id, file_name, file_url, content_type, file_size, CASE WHEN {_held('created_at')} THEN created_at END"
)


def _text(value: Any) -> tuple[Any, bool]:
    """A text value of a `SQL_ASCII` database (bytes, or None) decoded (SPEC §6a)."""
    if value is None:
        return None, False
    return decode_legacy_text(bytes(value))


def _decoded(row: tuple[Any, ...], columns: tuple[int, ...]) -> tuple[tuple[Any, ...], bool]:
    """`row` with its text `columns` decoded; and whether one was not UTF-8."""
    out, fallback = list(row), False
    for i in columns:
        out[i], was = _text(out[i])
        fallback = fallback or was
    return tuple(out), fallback


class CrmSource:
    """The legacy CRM database, read-only. One connection; use from one thread."""

    def __init__(
        self, conninfo: str, wait_s: float = DEFAULT_CRM_DATABASE_WAIT_S, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.Connection | None = None
        self._connected_once = False
        self.wait_s = wait_s
        self._sleep = sleep
        self._bytes_text = False

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is None:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
            self._conn.execute("SET default_transaction_read_only = on")
            self._connected_once = True
            # SQL_ASCII: no encoding is declared, psycopg hands text over as bytes
            self._bytes_text = self._conn.info.encoding == "ascii"
        return self._conn

    def _retrying(self, work: Callable[[], T]) -> T:
        """`work()`, run again on a new connection while the connection keeps failing,
        for up to `wait_s` seconds; then `CrmUnavailable`."""
        failing_since: float | None = None
        attempt = 0
        while True:
            try:
                return work()
            except psycopg.Error as exc:
                if not (self._connected_once and is_transient(exc)):
                    raise
                self.close()
                now = time.monotonic()
                failing_since = now if failing_since is None else failing_since
                left = self.wait_s - (now - failing_since)
                if left <= 0:
                    raise CrmUnavailable(
                        f"the CRM database did not come back within {self.wait_s:g}s "
                        f"(CRM_DATABASE_WAIT_S) after its connection dropped ({type(exc).__name__}: "
                        f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}): "
                        f"check CRM_DATABASE_URL={masked(self._conninfo)}"
                    ) from exc
                attempt += 1
                if attempt == 1:  # reconnect at once; back off only if that fails too
                    log.warning(
                        "the CRM connection dropped (%s); reconnecting for up to %gs", type(exc).__name__, self.wait_s
                    )
                    continue
                low, high = RECONNECT_BACKOFF_S
                self._sleep(min(left, random.uniform(low, min(high, low * 2**attempt))))

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(psycopg.Error):  # a broken connection: nothing to close cleanly
                conn.close()

    def __enter__(self) -> CrmSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @_reconnecting
    def _rows(self, sql: str, params: tuple = ()) -> list[tuple[Any, ...]]:
        """The rows of one query, as tuples in the order of its columns."""
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    @_reconnecting
    def identity(self) -> str:
        """Which database this is (host, port, name and its oid, so a re-created one differs)."""
        info = self.conn.info
        oid = self.conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]  # type: ignore[index]
        return f"postgresql://{info.host}:{info.port}/{info.dbname}#{oid}"

    @_reconnecting
    def cids(self) -> list[int]:
        """Companies with at least one in-scope note, ascending."""
        return [r[0] for r in self.conn.execute(f"SELECT DISTINCT cid FROM crm_notes WHERE {IN_SCOPE} ORDER BY cid")]

    @_reconnecting
    def known_cids(self) -> list[int]:
        """Companies with at least one note, in scope or not, ascending: the CRM's list of
        cids, which "every cid" means (the CDP's collections hold every tenant's notes)."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT cid FROM crm_notes ORDER BY cid")]

    @_reconnecting
    def max_note_id(self, cid: int) -> int:
        """The highest note id of the cid (0 when none): a pass's high-water mark."""
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM crm_notes WHERE cid = %s", (cid,)).fetchone()[0]  # type: ignore[index]

    @_reconnecting
    def count_in_scope(self, cid: int, after_id: int = 0, upto_id: int | None = None) -> int:
        """In-scope notes of the cid with `after_id < id <= upto_id`."""
        upto = upto_id if upto_id is not None else 2**63 - 1
        return self.conn.execute(
            f"SELECT count(*) FROM crm_notes WHERE cid = %s AND id > %s AND id <= %s AND {IN_SCOPE}",
            (cid, after_id, upto),
        ).fetchone()[0]  # type: ignore[index]

    @_reconnecting
    def unknown_cids(self, cids: list[int]) -> list[int]:
        """Those of `cids` that have no note at all in the CRM, ascending."""
        known = {r[0] for r in self.conn.execute("SELECT DISTINCT cid FROM crm_notes WHERE cid = ANY(%s)", (cids,))}
        return sorted(set(cids) - known)

    @_reconnecting
    def in_scope_counts(self) -> dict[int, int]:
        """In-scope notes per cid, for every cid (one query)."""
        return dict(self.conn.execute(f"SELECT cid, count(*) FROM crm_notes WHERE {IN_SCOPE} GROUP BY cid").fetchall())

    def iter_in_scope_ids(self, cid: int) -> Iterator[int]:
        """Every in-scope note id of the cid, ascending, in pages of ID_PAGE_SIZE."""
        after = 0
        while True:
            ids = [
                r[0]
                for r in self._rows(
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
                f"SELECT {_NOTE_SELECT} FROM crm_notes WHERE cid = %s AND id > %s AND id <= %s AND {IN_SCOPE}"
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
        rows, odd_times = self._legacy_times(rows)
        # note ids whose text (content, attachments, users) was not UTF-8
        fallback: set[int] = set()
        if self._bytes_text:
            rows, fallback = self._decode_notes(rows)
        attachments: dict[int, list[LegacyAttachment]] = {}
        for a in self._rows(
            f"SELECT {_ATTACHMENT_SELECT} FROM crm_note_attachments WHERE note_id = ANY(%s) ORDER BY note_id, id",
            ([r[0] for r in rows],),
        ):
            if self._bytes_text:
                a, was = _decoded(a, (2, 3, 4))
                if was:
                    fallback.add(a[1])
            attachments.setdefault(a[1], []).append(LegacyAttachment(*a))
        # per row: (mention ids, the users it refers to: author first, then its mentions)
        wanted: list[tuple[tuple[int, ...], list[int]]] = []
        all_ids: set[int] = set()
        for r in rows:
            mentions = tuple(legacy_mention_user_ids(r[3]))
            ids = [r[4], *mentions] if r[4] is not None else list(mentions)
            all_ids.update(ids)
            wanted.append((mentions, ids))
        user_rows = (
            self._rows(f"SELECT {_USER_COLUMNS} FROM crm_users WHERE cid = %s AND id = ANY(%s)", (cid, sorted(all_ids)))
            if all_ids
            else []
        )
        users: dict[int, LegacyUser] = {}
        odd_users: set[int] = set()
        for u in user_rows:
            if self._bytes_text:
                u, was = _decoded(u, (2, 3))
                if was:
                    odd_users.add(u[0])
            users[u[0]] = LegacyUser(*u)
        page: Page = []
        no_attachments: tuple[LegacyAttachment, ...] = ()
        for r, (mentions, ids) in zip(rows, wanted, strict=True):
            found = attachments.get(r[0])
            note = LegacyNote(  # type: ignore[misc]  # r: the row's columns, before these two
                *r, attachments=tuple(found) if found else no_attachments, parsed_mentions=(r[3], mentions)
            )
            if r[0] in odd_times:
                note = replace(
                    note, created_at=odd_times[r[0]][0], updated_at=odd_times[r[0]][1], parsed_mentions=(r[3], mentions)
                )
            if (fallback or odd_users) and (r[0] in fallback or any(i in odd_users for i in ids)):
                note = replace(note, legacy_encoding=True, parsed_mentions=(r[3], mentions))
            page.append((note, {i: users[i] for i in ids if i in users}))
        return page

    def _legacy_times(self, rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], dict[int, tuple]]:
        """The note rows without their trailing column, and, by note id, (created_at,
        updated_at) of the notes with a time Python cannot hold: that time as PostgreSQL
        writes it, the other as read."""
        odd: dict[int, tuple] = {}
        out = []
        for r in rows:
            if r[8] is not None:
                texts = [t.decode("ascii") if isinstance(t, bytes) else t for t in r[8]]
                odd[r[0]] = (
                    r[5] if r[5] is not None else texts[0],
                    r[6] if r[6] is not None or texts[1] is None else texts[1],
                )
            out.append(r[:8])
        return out, odd

    @staticmethod
    def _decode_notes(rows: list[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], set[int]]:
        """Rows of a `SQL_ASCII` database with their content decoded, and the ids of the
        notes whose content was not UTF-8."""
        out, fallback = [], set()
        for r in rows:
            r, was = _decoded(r, (3,))
            if was:
                fallback.add(r[0])
            out.append(r)
        return out, fallback
