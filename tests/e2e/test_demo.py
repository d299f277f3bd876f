"""`crm-notes-migrate demo` from the command line, on a small seed: it finishes, leaves the
seed's CDP-authored notes untouched, writes the QA report, and leaves none of its child
processes behind."""

from __future__ import annotations

import re
import subprocess

import psutil

from crm_notes_devtools.stack import cli_command


def _demo_children(workdir) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if "crm_notes_migration.cli" in cmd and proc.info["cwd"] == str(workdir):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_demo_runs_end_to_end_and_stops_what_it_started(services, tmp_path):
    proc = subprocess.run(
        cli_command("demo", "--notes", "600", "--cids", "5", "--report", "out/qa.html"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "run exit 0, reconcile exit 0" in proc.stderr.replace("\n", " ")
    untouched = re.search(r"CDP notes untouched: (\d+) of (\d+)", proc.stderr)
    assert untouched and untouched.group(1) == untouched.group(2) != "0", proc.stderr[-3000:]
    report = tmp_path / "out" / "qa.html"
    assert report.exists() and report.stat().st_size > 1000
    assert report.as_uri() in proc.stderr.replace("\n", "")
    assert (tmp_path / ".crm-notes-migrate" / "demo" / "api.log").exists()
    assert _demo_children(tmp_path / ".crm-notes-migrate" / "demo") == []
