"""The CRM's connection dropping (SPEC §6a, issue 15 item 6): the reader reconnects and
goes on where it was, for CRM_DATABASE_WAIT_S, then says what is unreachable."""

from __future__ import annotations

import psycopg
import pytest

from crm_notes_migration.source.crm import CrmSource, CrmUnavailable
from tests.conftest import ADMIN_PG_URL
from tests.e2e.run_support import load_fixture

CID = 11


def _drop_connections(settings) -> int:
    dbname = settings.crm_database_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_PG_URL, autocommit=True) as conn:
        return len(
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        )


def test_pages_go_on_where_they_were_after_the_connection_drops(isolated_settings):
    expected = load_fixture(isolated_settings, cids=(CID,), per_cid=60)[CID]
    sleeps: list[float] = []
    with CrmSource(isolated_settings.crm_database_url, wait_s=60, sleep=sleeps.append) as source:
        ids, dropped = [], 0
        for number, page in enumerate(source.iter_pages(CID, 0, 10**9, 5)):
            ids += [note.id for note, _ in page]
            if number % 3 == 0:
                dropped += _drop_connections(isolated_settings)
        assert dropped >= 3
        assert ids == sorted(set(ids)) and len(ids) == expected["in_scope"]  # none skipped, none twice
        _drop_connections(isolated_settings)
        assert source.count_in_scope(CID) == expected["in_scope"]
        assert list(source.iter_in_scope_ids(CID)) == ids
    assert sleeps == []  # the server was there: reconnected at once


def test_a_crm_that_does_not_come_back_is_named_after_the_wait(isolated_settings):
    load_fixture(isolated_settings, cids=(CID,), per_cid=12)
    dbname = isolated_settings.crm_database_url.rsplit("/", 1)[1]
    sleeps: list[float] = []
    source = CrmSource(isolated_settings.crm_database_url, wait_s=0.5, sleep=sleeps.append)
    try:
        assert source.count_in_scope(CID) > 0
        with psycopg.connect(ADMIN_PG_URL, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        _drop_connections(isolated_settings)
        with pytest.raises(CrmUnavailable) as info:
            source.count_in_scope(CID)
        message = str(info.value)
        assert "CRM_DATABASE_WAIT_S" in message and "\n" not in message
        assert "CRM_DATABASE_URL=postgresql://postgres:***@127.0.0.1:" in message and dbname in message
        assert sleeps  # it did wait and retry before giving up
    finally:
        source.close()
        with psycopg.connect(ADMIN_PG_URL, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')


def test_a_wrong_query_is_not_retried(isolated_settings):
    sleeps: list[float] = []
    with (
        CrmSource(isolated_settings.crm_database_url, wait_s=60, sleep=sleeps.append) as source,
        pytest.raises(psycopg.errors.UndefinedTable),
    ):
        source.cids()  # the test's database has no table
    assert sleeps == []
