"""Errors a newcomer meets are one line (SPEC §8, issue 15 items 7, 12-14): exit code 2,
one line on stderr naming what is wrong and the variable or flag to fix, no traceback
(`--debug` shows it). The commands run in this process (typer's runner: the same group
and translation as the installed command, without a process start per case) against
the real services; `serve` runs as a process."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pymongo
import pytest
from bson import Int64
from pydantic import ValidationError
from typer.testing import CliRunner

from crm_notes_devtools.stack import cli_command, free_port, settings_env
from crm_notes_migration.cli import app
from tests.e2e.run_support import load_fixture

DEAD_STORE = "mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500"


def cli(settings, cwd, *args: str, **env: str):
    """`crm-notes-migrate ARGS` in `cwd` with the settings' environment (plus `env`)."""
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), env={**settings_env(settings), **env})
    finally:
        os.chdir(previous)


def assert_one_line(result, *needles: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, (result.exit_code, result.stderr[-3000:], result.exception)
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def crm(isolated_settings, tmp_path):
    """A small CRM and CDP (run_support's fixture) on the shared services."""
    load_fixture(isolated_settings, cids=(11,), per_cid=12)
    return isolated_settings, tmp_path


@pytest.mark.parametrize("command", [["run"], ["run", "--dry-run"], ["reconcile"]])
def test_a_crm_database_without_crm_notes(isolated_settings, tmp_path, command):
    result = cli(isolated_settings, tmp_path, *command)  # the test's CRM database has no table at all
    line = assert_one_line(result, "crm_notes", "CRM_DATABASE_URL=postgresql://postgres:***@127.0.0.1:")
    assert "postgres:postgres@" not in line  # the password is not shown


@pytest.mark.parametrize("command", [["run"], ["run", "--dry-run"], ["reconcile"]])
def test_an_unreachable_crm(isolated_settings, tmp_path, command):
    url = f"postgresql://postgres:postgres@127.0.0.1:{free_port()}/crm"
    result = cli(isolated_settings, tmp_path, *command, CRM_DATABASE_URL=url)
    assert_one_line(result, "CRM database is unreachable", "CRM_DATABASE_URL=postgresql://postgres:***@127.0.0.1:")


@pytest.mark.parametrize("command", [["run", "--dry-run"], ["reconcile"], ["retry-parked"], ["worker"]])
def test_an_unreachable_cdp_store(crm, command):
    settings, cwd = crm
    uri = DEAD_STORE.format(port=free_port())
    # a worker waits about JOB_RETRY_WAIT_S for a store that is away when it starts
    result = cli(settings, cwd, *command, CDP_MONGODB_URI=uri, JOB_RETRY_WAIT_S="1")
    assert_one_line(result, "CDP store is unreachable", f"CDP_MONGODB_URI={uri}")


@pytest.mark.parametrize("command", [["failed-jobs"], ["failed-jobs", "--requeue"]])
def test_an_unreachable_redis(isolated_settings, tmp_path, command):
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert_one_line(
        cli(isolated_settings, tmp_path, *command, REDIS_URL=url), "Redis is unreachable", f"REDIS_URL={url}"
    )


@pytest.mark.parametrize(
    "variable,value", [("MAX_BATCH_NOTES", "abc"), ("CRM_TIMEZONE", "Mars/Olympus"), ("MIGRATION_API_WAIT_S", "-1")]
)
def test_a_bad_setting_names_its_variable(isolated_settings, tmp_path, variable, value):
    result = cli(isolated_settings, tmp_path, "run", **{variable: value})
    assert_one_line(result, f"invalid setting {variable}={value!r}", f"fix {variable}")


def test_debug_raises_the_error_itself(isolated_settings, tmp_path):
    result = cli(isolated_settings, tmp_path, "--debug", "run", MAX_BATCH_NOTES="abc")
    assert isinstance(result.exception, ValidationError) and result.stderr == ""


def test_a_company_the_crm_does_not_have(crm):
    settings, cwd = crm
    for args in (["run"], ["run", "--dry-run"], ["reconcile"]):
        result = cli(settings, cwd, *args, "--cid", "11", "--cid", "999999")
        assert_one_line(result, "--cid 999999", "fix --cid")
        assert "--cid 11" not in result.stderr
    # a company the CRM no longer has, whose migration documents are still in the CDP, is reconciled
    db = pymongo.MongoClient(settings.cdp_mongodb_uri)[settings.cdp_mongodb_db]
    db.contact_notes.insert_one({"cid": Int64(77), "legacy_crm_note_id": Int64(1), "source": "crm_migration"})
    result = cli(settings, cwd, "reconcile", "--cid", "77", MIGRATION_API_TOKEN="")  # no counts cross-check
    assert result.exit_code == 1 and "extra 1" in result.stderr, result.stderr


def test_an_api_that_never_answers_is_waited_for_its_budget_then_named(crm):
    settings, cwd = crm
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = cli(settings, cwd, "run", MIGRATION_API_URL=url, MIGRATION_API_WAIT_S="3")
    assert time.monotonic() - started < 60
    assert_one_line(result, f"the API is unreachable at MIGRATION_API_URL={url} ", "MIGRATION_API_WAIT_S=3")


def test_serve_warns_at_start_and_readyz_names_what_is_down(isolated_settings, tmp_path):
    port, redis_url = free_port(), f"redis://127.0.0.1:{free_port()}/0"
    env = {**settings_env(isolated_settings), "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            cli_command("serve", "--port", str(port)), env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while "Application startup complete" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        warnings = [line for line in log.read_text().splitlines() if "WARNING" in line]
        assert len(warnings) == 1 and f"REDIS_URL={redis_url}" in warnings[0] and "redis is unreachable" in warnings[0]
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30)
        assert ready.status_code == 503
        body = ready.json()
        assert body["mongodb"] == "ok" and body["redis"].startswith("unreachable: ConnectionError")
    finally:
        proc.terminate()
        proc.wait(30)


def test_serve_without_a_token_says_which_variable(isolated_settings, tmp_path):
    result = cli(isolated_settings, tmp_path, "serve", MIGRATION_API_TOKEN="")
    assert_one_line(result, "MIGRATION_API_TOKEN is not set")
