"""Helpers of the CDP-side integration tests (issue 4): real services, real processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from bson import Int64, ObjectId

from crm_notes_devtools.stack import free_port
from crm_notes_devtools.stack import settings_env as stack_settings_env

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # a service coming back up
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def settings_env(settings) -> dict[str, str]:
    """The child's environment for these settings, with unbuffered output for the logs."""
    return {**stack_settings_env(settings), "PYTHONUNBUFFERED": "1"}


def start_worker(settings, log_path: Path, threads: int = 2) -> subprocess.Popen:
    """A real `crm-notes-migrate worker` process."""
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "crm_notes_migration.cli", "worker", "--threads", str(threads)],
        env=settings_env(settings),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(10)


class ApiServer:
    """The API served by uvicorn in a thread on a free port."""

    def __init__(self, settings) -> None:
        import uvicorn

        from crm_notes_migration.bootstrap import api_app as create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {settings.migration_api_token}"}, timeout=30
        )

    def __enter__(self) -> ApiServer:
        self.thread.start()
        wait_until(lambda: self.server.started, 20, what="uvicorn")
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(10)

    def post_batch(self, batch: dict) -> httpx.Response:
        return self.client.post("/v1/migrations/crm-notes/batches", json=batch)

    def counts(self, cid: int | None = None) -> dict:
        r = self.client.get("/v1/migrations/crm-notes/counts", params={"cid": cid} if cid is not None else None)
        r.raise_for_status()
        return r.json()


def note(lid: int, person: int, content: str = "<p>hello</p>", **extra) -> dict:
    """A contract note (SPEC §4)."""
    out = {
        "legacy_crm_note_id": lid,
        "crm_person_id": person,
        "content_html": content,
        "created_at": "2021-03-04T05:06:07.123456+00:00",
        "updated_at": "2021-03-05T00:00:00+00:00",
    }
    out.update(extra)
    return out


def batch(cid: int, batch_id: str, notes: list[dict]) -> dict:
    return {"contract_version": 1, "cid": cid, "batch_id": batch_id, "notes": notes}


def add_contacts(db, cid: int, persons: list[int], twice: tuple[int, ...] = ()) -> None:
    """Contacts of `cid` for `persons` (two for each person in `twice`)."""
    rows = [{"_id": ObjectId(), "cid": Int64(cid), "source_id": str(p)} for p in persons]
    rows += [{"_id": ObjectId(), "cid": Int64(cid), "source_id": str(p)} for p in twice]
    if rows:
        db.contacts.insert_many(rows)


def drained(api: ApiServer, cid: int, migrated: int) -> bool:
    c = api.counts(cid)
    return c["pending"] == 0 and c["migrated"] == migrated
