"""Which store, queue and CRM errors are transient (SPEC §6a): judged by what the
service says, not only by the exception's class."""

from __future__ import annotations

import psycopg
import pymongo.errors
import pytest
import redis

from crm_notes_migration.cdp.errors import is_transient as store_transient
from crm_notes_migration.queue.broker import is_transient, retry_when
from crm_notes_migration.source.crm import is_transient as crm_transient

FERRETDB_SHUTDOWN = (
    "[msg_insert.go:168 handler.(*Handler).MsgInsert] FATAL: terminating connection due to administrator "
    "command (SQLSTATE 57P01)"
)
FERRETDB_DIAL = (
    "[msg_insert.go:168 handler.(*Handler).MsgInsert] failed to connect to `user=postgres database=ferretdb`:"
    "\n\t127.0.0.1:65432 (127.0.0.1): dial error: dial tcp 127.0.0.1:65432: connect: connection refused"
)


def _labelled(label: str) -> pymongo.errors.OperationFailure:
    return pymongo.errors.OperationFailure("x", 1, {"errorLabels": [label], "ok": 0, "errmsg": "x"})


@pytest.mark.parametrize(
    "exc",
    [
        pymongo.errors.OperationFailure(FERRETDB_SHUTDOWN, 1),
        pymongo.errors.OperationFailure(FERRETDB_DIAL, 1),
        pymongo.errors.OperationFailure("the database system is starting up (SQLSTATE 57P03)", 1),
        pymongo.errors.OperationFailure("interrupted at shutdown", 11600),
        pymongo.errors.OperationFailure("not primary", 10107),
        pymongo.errors.OperationFailure("connection reset by peer", 1),
        pymongo.errors.AutoReconnect("gone"),
        pymongo.errors.ServerSelectionTimeoutError("no server"),
        _labelled("RetryableWriteError"),
        _labelled("TransientTransactionError"),
        _labelled("NetworkError"),
        pymongo.errors.BulkWriteError({"writeErrors": [{"index": 0, "code": 1, "errmsg": FERRETDB_SHUTDOWN}]}),
        redis.exceptions.ConnectionError("refused"),
        redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
        redis.exceptions.ResponseError("LOADING Redis is loading the dataset in memory"),
        redis.exceptions.ReadOnlyError("READONLY You can't write against a read only replica."),
    ],
)
def test_an_outage_is_transient_and_retried(exc):
    assert is_transient(exc)
    assert retry_when(3, exc)


@pytest.mark.parametrize(
    "exc",
    [
        pymongo.errors.OperationFailure("unknown operator: $foo", 2),
        pymongo.errors.DuplicateKeyError("E11000 duplicate key error", 11000),
        pymongo.errors.DocumentTooLarge("too large"),
        pymongo.errors.BulkWriteError({"writeErrors": [{"index": 0, "code": 1, "errmsg": "invalid UTF-8"}]}),
        redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        ValueError("a bug"),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    ],
)
def test_a_job_s_own_error_is_not_transient(exc):
    assert not is_transient(exc)
    assert not retry_when(0, exc)


def test_the_store_judges_only_its_own_errors():
    assert not store_transient(redis.exceptions.ConnectionError("refused"))


def test_retries_are_bounded():
    assert not retry_when(10_000, pymongo.errors.AutoReconnect("gone"))


@pytest.mark.parametrize(
    "exc,transient",
    [
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"), True),
        (psycopg.errors.UndefinedTable('relation "crm_notes" does not exist'), False),
        (psycopg.errors.DataError("timestamp out of range"), False),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
    ],
)
def test_crm_errors_of_the_connection_are_transient(exc, transient):
    assert crm_transient(exc) is transient


def test_the_retry_budget_is_spread_over_about_job_retry_wait_s():
    from crm_notes_migration.queue.broker import MAX_BACKOFF_MS, MIN_BACKOFF_MS, retries_within

    assert retries_within(0.01) == 1
    assert retries_within(60) < retries_within(1200)
    # the mean delays of the retries cover the budget, and one retry fewer does not
    for budget in (5.0, 60.0, 1200.0):
        n = retries_within(budget)
        means = [min(MIN_BACKOFF_MS * 2**k * 1.5, MAX_BACKOFF_MS * 0.75) / 1000 for k in range(n)]
        assert sum(means) >= budget > sum(means[:-1])
    assert retry_when(5, pymongo.errors.AutoReconnect("gone"), max_retries=6)
    assert not retry_when(6, pymongo.errors.AutoReconnect("gone"), max_retries=6)
