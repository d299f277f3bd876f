"""The API and workers as local child processes: for `demo`, the end-to-end tests and the
benchmark. Each child is this Python running `crm_notes_migration.cli`, configured only
through the environment (SPEC §8 variables), and is stopped with SIGTERM, then SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from crm_notes_migration.config import Settings

#: Seconds the API gets to answer /healthz after start.
API_START_TIMEOUT_S = 60.0
#: Seconds a child gets to stop after SIGTERM before it is killed.
STOP_GRACE_S = 15.0


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that makes a child process read these settings."""
    env = dict(os.environ if base is None else base)
    values = {
        "CRM_DATABASE_URL": settings.crm_database_url,
        "CDP_MONGODB_URI": settings.cdp_mongodb_uri,
        "CDP_MONGODB_DB": settings.cdp_mongodb_db,
        "REDIS_URL": settings.redis_url,
        "MIGRATION_API_URL": settings.migration_api_url,
        "MIGRATION_API_TOKEN": settings.migration_api_token or "",
        "CRM_TIMEZONE": settings.crm_timezone,
        "MAX_BATCH_NOTES": str(settings.max_batch_notes),
        "MAX_NOTE_HTML_BYTES": str(settings.max_note_html_bytes),
        "ATTACHMENT_URL_REWRITE": settings.attachment_url_rewrite or "",
        "QUEUE_NAMESPACE": settings.queue_namespace,
        "MIGRATION_API_WAIT_S": f"{settings.migration_api_wait_s:g}",
        "CRM_DATABASE_WAIT_S": f"{settings.crm_database_wait_s:g}",
        "JOB_RETRY_WAIT_S": f"{settings.job_retry_wait_s:g}",
    }
    env.update({k: v for k, v in values.items() if v != ""})
    # glibc gives each thread its own malloc arena; with the API's, the worker's and the
    # extractor's threads that fragments: two arenas cut peak RSS by 10-30 % (bench.pipeline)
    env.setdefault("MALLOC_ARENA_MAX", "2")
    return env


def cli_command(*args: str) -> list[str]:
    """`crm-notes-migrate ARGS` run by this interpreter."""
    return [sys.executable, "-m", "crm_notes_migration.cli", *args]


class LocalStack:
    """API + N workers for `settings`; `settings.migration_api_url` is set to the API's URL."""

    def __init__(self, settings: Settings, workdir: Path, workers: int = 1, worker_threads: int = 4) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.settings = settings.model_copy(update={"migration_api_url": f"http://127.0.0.1:{self.port}"})
        self.workers, self.worker_threads = workers, worker_threads
        self.procs: dict[str, subprocess.Popen] = {}

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            cli_command(*args),
            cwd=self.workdir,
            env=settings_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def start(self) -> LocalStack:
        """Start the API and the workers; returns once the API answers /healthz."""
        api = self._spawn("api", "serve", "--host", "127.0.0.1", "--port", str(self.port))
        for i in range(self.workers):
            self._spawn(f"worker{i + 1}", "worker", "--threads", str(self.worker_threads))
        deadline = time.monotonic() + API_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if api.poll() is not None:
                raise RuntimeError(f"the API exited with {api.returncode}: {self.log_tail('api')}")
            try:
                if httpx.get(f"{self.settings.migration_api_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the API did not answer within {API_START_TIMEOUT_S:.0f}s: {self.log_tail('api')}")

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items()}

    def stop(self) -> None:
        """SIGTERM every child, wait for it, SIGKILL what is left."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
