"""A reconcile stopped with `kill` (SIGTERM) leaves nothing behind: its snapshot directory,
gigabytes at millions of notes, goes with it; it exits as after Ctrl-C, with no traceback."""

from __future__ import annotations

import signal
import subprocess
import time

from crm_notes_devtools.stack import cli_command, settings_env
from crm_notes_migration.usecases.reconcile.snapshot import DIRECTORY_PREFIX
from tests.cli import seed_cli


def test_a_killed_reconcile_removes_its_snapshot(isolated_settings, tmp_path):
    seeded = seed_cli(isolated_settings, 6000, 8, 3)
    assert seeded.returncode == 0, seeded.stderr
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(
        cli_command("reconcile", "--workers", "1"),
        cwd=tmp_path,
        env={**settings_env(isolated_settings), "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(scratch.glob(f"{DIRECTORY_PREFIX}{proc.pid}-*")):
            assert proc.poll() is None, f"reconcile ended before its snapshot was seen: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no snapshot directory appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130  # interrupted, as after Ctrl-C
    assert "Traceback" not in err, err[-2000:]
    assert list(scratch.iterdir()) == []
