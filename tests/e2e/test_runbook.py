"""docs/RUNBOOK.md, executed: every line of its ```sh blocks, in order, on a small seed, with
real services, API and worker; the CRM changes between steps as it would on the day.

A line ending in `&` runs in the background until the end; `# exits N` is the exit code
the line must have (default 0). So the runbook cannot drift from what the tool does."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pymongo
from bson import Int64, ObjectId

from crm_notes_devtools.stack import free_port, settings_env
from tests.e2e.review_support import review_in_browser
from tests.e2e.run_support import load_fixture

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "RUNBOOK.md"
CID = 11


@dataclass
class Step:
    section: str
    command: str
    exits: int = 0
    background: bool = False


def runbook_steps(text: str) -> list[Step]:
    """The runnable lines of the ```sh blocks, with their section heading."""
    steps: list[Step] = []
    section, in_sh = "", False
    for line in text.splitlines():
        if line.startswith("```"):
            in_sh = not in_sh and line.strip() == "```sh"
            continue
        if not in_sh:
            if line.startswith("## "):
                section = line[3:].strip()
            continue
        command = line.strip()
        if not command or command.startswith("#"):
            continue
        exits = 0
        if m := re.search(r"\s+#\s*exits\s+(\d+)\s*$", command):
            exits, command = int(m.group(1)), command[: m.start()]
        background = command.endswith("&")
        steps.append(Step(section, command.rstrip("&").strip(), exits, background))
    return steps


def test_the_runbook_names_every_migration_day_command():
    steps = runbook_steps(RUNBOOK.read_text())
    used = {s.command.split()[1] for s in steps if s.command.startswith("crm-notes-migrate ")}
    assert {"serve", "worker", "run", "reconcile", "status", "retry-parked", "failed-jobs", "rollback"} <= used
    sections = [s.section for s in steps]
    assert sections == sorted(sections, key=lambda x: int(x.split(".")[0]))  # in the document's order


def _crm(settings, sql: str, *params) -> None:
    with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
        conn.execute(sql, params)


def test_the_runbook_runs_on_a_small_seed(isolated_settings, tmp_path):
    load_fixture(isolated_settings)
    port = free_port()
    settings = isolated_settings.model_copy(update={"migration_api_url": f"http://127.0.0.1:{port}"})
    env = {
        **settings_env(settings),
        "API_PORT": str(port),
        "CID": str(CID),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    db = pymongo.MongoClient(settings.cdp_mongodb_uri, tz_aware=True)[settings.cdp_mongodb_db]
    background: list[subprocess.Popen] = []
    outputs: dict[str, list[str]] = {}
    edited = None

    def before(section: str) -> None:
        """What happens in the CRM and the CDP between the runbook's steps."""
        nonlocal edited
        if section.startswith("4."):  # contacts synced for one parked note
            parked = db.contact_notes_migration_parked.find_one({"cid": CID, "reason": "contact_not_found"})
            db.contacts.insert_one(
                {"_id": ObjectId(), "cid": Int64(CID), "source_id": str(parked["note"]["crm_person_id"])}
            )
        if section.startswith("6."):  # one note soft-deleted; another edited in the CDP, then deleted in the CRM
            docs = sorted(
                db.contact_notes.find({"cid": CID, "source": "crm_migration"}), key=lambda d: d["legacy_crm_note_id"]
            )
            gone, edited = int(docs[0]["legacy_crm_note_id"]), int(docs[1]["legacy_crm_note_id"])
            db.contact_notes.update_one(
                {"_id": docs[1]["_id"], "cid": Int64(CID)},
                {"$set": {"updated_at": docs[1]["updated_at"] + timedelta(days=1)}},
            )
            _crm(
                settings,
                "UPDATE crm_notes SET deleted_at = %s WHERE id = ANY(%s)",
                datetime(2024, 5, 6),
                [gone, edited],
            )

    try:
        done: set[str] = set()
        for step in runbook_steps(RUNBOOK.read_text()):
            if step.section not in done:
                before(step.section)
                done.add(step.section)
            if step.command.startswith("crm-notes-migrate signoff"):  # the reviewer's export
                (tmp_path / "qa-verdicts.csv").write_text(
                    review_in_browser(tmp_path / "qa-report.html", {}, "Ani Lestari", every="pass"), encoding="utf-8"
                )
            if step.background:
                background.append(
                    subprocess.Popen(
                        ["bash", "-c", step.command],
                        cwd=tmp_path,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
                continue
            proc = subprocess.run(
                ["bash", "-c", step.command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
            )
            assert proc.returncode == step.exits, (step, proc.stdout[-3000:], proc.stderr[-3000:])
            outputs.setdefault(step.section[:2], []).append(proc.stdout + proc.stderr)
    finally:
        for proc in background:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)

    assert '{"mongodb":"ok","redis":"ok"}' in outputs["1."][0]
    assert "landed 1" in outputs["4."][0]
    assert f"cid {CID}: left scope: withdrew 1, unparked 0, kept 1 edited in the CDP: {edited}" in outputs["6."][0]
    signed = json.loads(_json_of(outputs["5."][3]))
    assert signed["ok"] is True and {row["signoff"] for row in signed["cids"]} == {"approved"}
    assert f"cid {CID}: would withdraw" in outputs["8."][0] and "checkpoint reset" in outputs["8."][1]
    left = {int(c) for c in db.contact_notes.distinct("cid", {"source": "crm_migration"})}
    assert left == {CID}  # after rolling back everything, only the document a user edited stays
    assert db.contact_notes.count_documents({"cid": CID, "source": "crm_migration"}) == 1
    assert db.contact_notes_migration_parked.count_documents({}) == 0 and db.migration_batches.count_documents({}) == 0
    db.client.close()


def _json_of(output: str) -> str:
    return output[output.index("{") : output.rindex("}") + 1]
