"""A private stack for fault tests: the project's own PostgreSQL, Redis and FerretDB
(`scripts/services.sh`) on ports of their own, in a data directory of their own, so a
test can stop and restart each of them without touching the shared services.

`private_stack` (a module fixture) starts it once per test module and always stops it
and removes its data; `fault_settings` gives each test fresh databases and a fresh
queue namespace on it. Ports come from FAULTS_PG_PORT, FAULTS_REDIS_PORT and
FAULTS_FERRET_PORT when set, else free ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pymongo
import pytest

from crm_notes_devtools.stack import cli_command, free_port, settings_env
from crm_notes_migration.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services.sh"
#: How long a client of the private store waits to select a server: a stopped store
#: fails an operation in this time (the default, 30 s, would make every test slow).
STORE_SELECTION_MS = 3000


class PrivateStack:
    """PostgreSQL (also under FerretDB), Redis and FerretDB on private ports."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.pg_port = int(os.environ.get("FAULTS_PG_PORT") or free_port())
        self.redis_port = int(os.environ.get("FAULTS_REDIS_PORT") or free_port())
        self.ferret_port = int(os.environ.get("FAULTS_FERRET_PORT") or free_port())
        self.env = {
            **os.environ,
            "SERVICES_PG_PORT": str(self.pg_port),
            "SERVICES_REDIS_PORT": str(self.redis_port),
            "SERVICES_FERRET_PORT": str(self.ferret_port),
            "CRM_NOTES_DATA_DIR": str(data_dir),
        }

    def services(self, *args: str) -> None:
        """`scripts/services.sh ARGS` for this stack."""
        proc = subprocess.run([str(SERVICES), *args], env=self.env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"services.sh {' '.join(args)} failed: {proc.stderr[-2000:]}")

    def up(self) -> None:
        self.services("up")

    def down(self) -> None:
        self.services("down")

    def restart(self, service: str, down_s: float) -> float:
        """Stop `service` (postgres, redis or ferretdb), keep it down `down_s` seconds,
        start it again; returns how long it was away."""
        started = time.monotonic()
        self.services("stop", service)
        time.sleep(down_s)
        self.up()
        return time.monotonic() - started

    @property
    def admin_pg_url(self) -> str:
        return f"postgresql://postgres:postgres@127.0.0.1:{self.pg_port}/postgres"

    def pg_url(self, dbname: str) -> str:
        return f"postgresql://postgres:postgres@127.0.0.1:{self.pg_port}/{dbname}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.ferret_port}/?serverSelectionTimeoutMS={STORE_SELECTION_MS}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def terminate_backends(self, dbname: str) -> int:
        """Drop every connection to `dbname` (pg_terminate_backend); how many there were."""
        with psycopg.connect(self.admin_pg_url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        return len(rows)


@pytest.fixture(scope="module")
def private_stack() -> Iterator[PrivateStack]:
    """The private stack, up for the module, then down and its data removed, whatever happened."""
    data_dir = Path(tempfile.mkdtemp(prefix="crm-notes-faults-", dir="/tmp"))
    data_dir.chmod(0o777)  # PostgreSQL's cluster lives in it and runs as the postgres user
    stack = PrivateStack(data_dir)
    try:
        stack.up()
        yield stack
    finally:
        try:
            stack.down()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def fault_settings(private_stack: PrivateStack) -> Iterator[Settings]:
    """Settings on the private stack: a fresh CRM database, CDP database and queue namespace."""
    suffix = uuid.uuid4().hex[:10]
    crm_db = f"crm_fault_{suffix}"
    with psycopg.connect(private_stack.admin_pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{crm_db}"')
    settings = Settings(
        _env_file=None,
        crm_database_url=private_stack.pg_url(crm_db),
        cdp_mongodb_uri=private_stack.mongo_uri,
        cdp_mongodb_db=f"cdp_fault_{suffix}",
        redis_url=private_stack.redis_url,
        migration_api_token="fault-token-" + suffix,
        queue_namespace=f"cnm-fault-{suffix}",
    )
    yield settings
    # the stack goes away with the module; a test's databases go now, so tests stay apart
    try:
        pymongo.MongoClient(private_stack.mongo_uri).drop_database(settings.cdp_mongodb_db)
        with psycopg.connect(private_stack.admin_pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{crm_db}" WITH (FORCE)')
    except Exception:  # a test that left a service down: the module's teardown removes everything
        pass


def start_cli(settings: Settings, cwd: Path, *args: str, **env: str) -> subprocess.Popen:
    """`crm-notes-migrate ARGS` as a background process (stdout and stderr captured)."""
    return subprocess.Popen(
        cli_command(*args),
        cwd=cwd,
        env={**settings_env(settings), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float) -> tuple[int, dict | None, str]:
    """Wait for a `start_cli` process; (exit code, its --json output or None, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"still running after {timeout}s; stderr: {err[-3000:]}") from None
    try:
        parsed = json.loads(out)
    except ValueError:
        parsed = None
    return proc.returncode, parsed, err


def run_cli(settings: Settings, cwd: Path, *args: str, timeout: float = 180, **env: str):
    """`crm-notes-migrate ARGS` to the end: (exit code, --json output or None, stderr)."""
    return finish(start_cli(settings, cwd, *args, **env), timeout)
