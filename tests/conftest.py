"""Shared fixtures. Integration and end-to-end tests use the real local services
(scripts/services.sh), each test in its own databases so tests never see each other."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from crm_notes_migration.config import Settings

# The machines are shared: time-based health checks and deadlines would fail on a busy
# moment, not on a wrong property. Examples and shrinking stay as they are.
settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")

ROOT = Path(__file__).resolve().parents[1]
ADMIN_PG_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
MONGO_URI = os.environ.get("TEST_MONGODB_URI", "mongodb://127.0.0.1:27017/")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def services() -> None:
    """Makes sure PostgreSQL, Redis and FerretDB run (idempotent, quick when they do)."""
    if os.environ.get("CRM_NOTES_SKIP_SERVICES_UP") != "1":
        subprocess.run([str(ROOT / "scripts" / "services.sh"), "up"], check=True)


def _pg_url(dbname: str) -> str:
    return ADMIN_PG_URL.rsplit("/", 1)[0] + "/" + dbname


@pytest.fixture
def isolated_settings(services, tmp_path) -> Iterator[Settings]:
    """Settings pointing at a fresh CRM database, a fresh CDP database and a fresh queue
    namespace; all three are removed afterwards."""
    import psycopg
    import pymongo
    import redis

    suffix = uuid.uuid4().hex[:10]
    crm_db = f"crm_test_{suffix}"
    cdp_db = f"cdp_test_{suffix}"
    namespace = f"cnm-test-{suffix}"
    with psycopg.connect(ADMIN_PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{crm_db}"')
    settings = Settings(
        _env_file=None,
        crm_database_url=_pg_url(crm_db),
        cdp_mongodb_uri=MONGO_URI,
        cdp_mongodb_db=cdp_db,
        redis_url=REDIS_URL,
        migration_api_token="test-token-" + suffix,
        queue_namespace=namespace,
    )
    try:
        yield settings
    finally:
        pymongo.MongoClient(MONGO_URI).drop_database(cdp_db)
        r = redis.Redis.from_url(REDIS_URL)
        keys = list(r.scan_iter(f"{namespace}*", count=1000))
        if keys:
            r.delete(*keys)
        with psycopg.connect(ADMIN_PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{crm_db}" WITH (FORCE)')
