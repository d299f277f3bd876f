"""Helpers of the `run` end-to-end tests: a small CRM + CDP fixture written here, a
logging proxy in front of the real API, and `run` as a subprocess."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg
import pymongo
from bson import Int64, ObjectId

from crm_notes_devtools.seed.loader import create_crm_schema
from tests.cli import cli_json

T0 = datetime(2022, 1, 2, 3, 4, 5, 678901)


def load_fixture(settings, cids=(11, 12, 13), per_cid=60) -> dict[int, dict]:
    """Per cid: `per_cid` notes; every 10th deleted, every 12th without person (out of
    scope); every 7th in-scope person has no contact (parked contact_not_found).
    Returns the expected outcome per cid, computed from those rules."""
    expected: dict[int, dict] = {}
    notes, users, atts, contacts, cdp_users = [], [], [], [], []
    nid = 0
    for cid in cids:
        users.append((cid * 100 + 1, cid, f"ani{cid}@x.co", "Ani"))
        cdp_users.append({"_id": ObjectId(), "cid": Int64(cid), "email": f" ANI{cid}@x.co", "name": "Ani C"})
        exp = {"in_scope": 0, "migrated": 0, "parked": {}}
        for i in range(1, per_cid + 1):
            nid += 1
            person = None if i % 12 == 0 else cid * 1000 + i
            deleted = T0 if i % 10 == 0 else None
            content = (
                f'<p>note {nid} <b>bold</b></p><span class="mention" data-index="0" data-denotation-char="@"'
                f' data-id="{cid * 100 + 1}" data-value="Ani"><span contenteditable="false">'
                f'<span class="ql-mention-denotation-char">@</span>Ani</span></span>'
            )
            notes.append((nid, cid, person, content, cid * 100 + 1, T0 + timedelta(minutes=nid), None, deleted))
            if i % 4 == 0:
                atts.append((nid, nid, f"f{nid}.pdf", f"https://files.example/{nid}", "application/pdf", 10))
            if person is None or deleted is not None:
                continue
            exp["in_scope"] += 1
            if i % 7 == 0:
                exp["parked"]["contact_not_found"] = exp["parked"].get("contact_not_found", 0) + 1
            else:
                exp["migrated"] += 1
                contacts.append({"_id": ObjectId(), "cid": Int64(cid), "source_id": str(person)})
        expected[cid] = exp
    with psycopg.connect(settings.crm_database_url, autocommit=True) as conn:
        create_crm_schema(conn)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO crm_users VALUES (%s,%s,%s,%s)", users)
            cur.executemany("INSERT INTO crm_notes VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", notes)
            cur.executemany("INSERT INTO crm_note_attachments VALUES (%s,%s,%s,%s,%s,%s,now())", atts)
    db = pymongo.MongoClient(settings.cdp_mongodb_uri)[settings.cdp_mongodb_db]
    db.contacts.insert_many(contacts)
    db.users.insert_many(cdp_users)
    return expected


class LoggingProxy:
    """Forwards every request to the API and records (method, path, batch_id, status)."""

    def __init__(self, target: str, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.log: list[tuple[str, str, str | None, int]] = []
        client = httpx.Client(base_url=target, timeout=60)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                if self.command == "POST" and outer.delay_s:
                    time.sleep(outer.delay_s)  # a slow network, so a test can stop a run midway
                r = client.request(self.command, self.path, content=body, headers=headers)
                batch_id = json.loads(body).get("batch_id") if self.command == "POST" and body else None
                outer.log.append((self.command, self.path, batch_id, r.status_code))
                self.send_response(r.status_code)
                for k in ("content-type", "retry-after"):
                    if k in r.headers:
                        self.send_header(k, r.headers[k])
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = _forward

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def posted(self) -> list[str]:
        return [b for m, _, b, _ in self.log if m == "POST"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_cli(settings, cwd: Path, *args: str, api_url: str | None = None, timeout: float = 300):
    """`crm-notes-migrate run ARGS --json` as a subprocess: (exit code, parsed JSON or None, stderr)."""
    env = {"MIGRATION_API_URL": api_url} if api_url else {}
    return cli_json(settings, cwd, "run", "--json", *args, timeout=timeout, **env)


def snapshot_notes(db) -> dict[int, dict]:
    """contact_notes by legacy id, per cid equality (FerretDB pushes it down)."""
    out = {}
    for cid in db.contact_notes.distinct("cid"):
        for doc in db.contact_notes.find({"cid": cid}):
            out[int(doc["legacy_crm_note_id"])] = doc
    return out
