"""`crm-notes-migrate` as a subprocess with the settings' environment, for the integration
and end-to-end tests: one way to run a command and to read what its --json printed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from crm_notes_devtools.stack import cli_command, settings_env
from crm_notes_migration.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def cli(
    settings: Settings, cwd: Path, *args: str, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """`crm-notes-migrate ARGS` in `cwd` to the end, output captured; `env` on top of the settings'."""
    return subprocess.run(
        cli_command(*args),
        cwd=cwd,
        env={**settings_env(settings), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli_json(settings: Settings, cwd: Path, *args: str, timeout: float = 300, **env: str) -> tuple[int, Any, str]:
    """`cli`, read: (exit code, the JSON it printed or None, stderr; with stdout too when that
    was no JSON, so a failure's message shows whichever stream it went to)."""
    proc = cli(settings, cwd, *args, timeout=timeout, **env)
    try:
        return proc.returncode, json.loads(proc.stdout), proc.stderr
    except ValueError:
        return proc.returncode, None, proc.stderr + proc.stdout


def seed_cli(settings: Settings, notes: int, cids: int, seed: int) -> subprocess.CompletedProcess[str]:
    """`crm-notes-migrate seed --json` into the settings' CRM and CDP databases."""
    return cli(settings, ROOT, "seed", "--notes", str(notes), "--cids", str(cids), "--seed", str(seed), "--json")
