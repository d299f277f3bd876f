"""commands/errors.py: the one place where an error a user can fix becomes one line."""

from __future__ import annotations

import pymongo.errors
import pytest
import redis
from pydantic import ValidationError

from crm_notes_migration.client import MigrationApiError
from crm_notes_migration.commands.errors import one_line
from crm_notes_migration.config import Settings
from crm_notes_migration.errors import masked


@pytest.mark.parametrize(
    "url,shown",
    [
        ("postgresql://postgres:s3cret@127.0.0.1:5432/crm", "postgresql://postgres:***@127.0.0.1:5432/crm"),
        ("mongodb://app:p%40ss@h1:27017,h2:27017/?tls=true", "mongodb://app:***@h1:27017,h2:27017/?tls=true"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_passwords_are_masked(url, shown):
    assert masked(url) == shown


def test_an_unreachable_store_is_one_short_line_naming_its_variable(monkeypatch):
    monkeypatch.setenv("CDP_MONGODB_URI", "mongodb://u:pw@127.0.0.1:1/")
    exc = pymongo.errors.ServerSelectionTimeoutError(
        "127.0.0.1:1: [Errno 111] Connection refused (configured timeouts: socketTimeoutMS: 20000.0ms), "
        "Timeout: 0.5s, Topology Description: <TopologyDescription id: 1, topology_type: Unknown, servers: [...]>"
    )
    line = one_line(exc)
    assert line == (
        "the CDP store is unreachable (127.0.0.1:1: [Errno 111] Connection refused (configured "
        "timeouts: socketTimeoutMS: 20000.0ms)): check CDP_MONGODB_URI=mongodb://u:***@127.0.0.1:1/"
    )


def test_redis_names_redis_url(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    line = one_line(redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1.\nConnection refused."))
    assert line == "Redis is unreachable (Error 111 connecting to 127.0.0.1:1.): check REDIS_URL=redis://127.0.0.1:1/0"


def test_a_bad_setting_names_its_variable(monkeypatch):
    monkeypatch.setenv("MAX_BATCH_NOTES", "abc")
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)
    line = one_line(info.value)
    assert line is not None and line.startswith("invalid setting MAX_BATCH_NOTES='abc': ")
    assert line.endswith("fix MAX_BATCH_NOTES")


def test_a_refused_token_names_migration_api_token():
    line = one_line(MigrationApiError("GET /v1/migrations/crm-notes/counts: HTTP 401: wrong token", 401))
    assert line is not None and "MIGRATION_API_TOKEN" in line


@pytest.mark.parametrize("exc", [ValueError("a bug"), KeyError("x"), MigrationApiError("HTTP 409: conflict", 409)])
def test_anything_else_keeps_its_traceback(exc):
    assert one_line(exc) is None
