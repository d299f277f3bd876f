"""Property test over the batch schema (SPEC §4), with the shapes real clients and legacy
data send mixed in (booleans and strings for integers, negative and 64-bit-overflowing
ids, NUL and lone surrogates, naive and out-of-range times, deep nesting, duplicates):
the API never answers 5xx, and after the worker ran, every note that carries a usable id
is in exactly one of `contact_notes` and the parked collection.

The real API app (FastAPI's TestClient, real FerretDB and Redis) and the worker's real
job handler, run inline on the jobs the API enqueued."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_notes_migration.api.app import create_app
from crm_notes_migration.bootstrap import batch_handler as make_batch_handler
from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.queue.broker import QUEUE_NAME, BatchQueue, build_broker

from .cdp_support import add_contacts

INT64_MAX = 2**63 - 1
PERSONS = (1, 2, 3)
URL = "/v1/migrations/crm-notes/batches"

odd_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["a\u0000.pdf", "caf\ud800", "\udfff", "\ud83d\ude00", "tab\there", "", " "]),
)
odd_int = st.one_of(
    st.sampled_from([True, False, -1, 0, -3, 2**63, INT64_MAX, 1.0, 1.5, "131 ", "2", None]),
    st.integers(min_value=-(2**64), max_value=2**64),
)
odd_time = st.sampled_from(
    [
        "2021-03-04T05:06:07.123456+00:00",
        "2021-03-04T05:06:07",
        "infinity",
        "-infinity",
        "0001-01-01 00:00:00 BC",
        "10000-01-01 00:00:00",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+05:00",
        "not a time",
        1614834367,
    ]
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def notes(draw, lid: int) -> Any:
    note: dict[str, Any] = {
        "legacy_crm_note_id": lid,
        "crm_person_id": draw(st.sampled_from(PERSONS)),
        "content_html": "<p>hello</p>",
        "created_at": "2021-03-04T05:06:07.123456+00:00",
        "attachments": [],
    }
    if draw(st.booleans()):
        note["attachments"] = [
            {
                "legacy_attachment_id": 1,
                "file_name": "a.pdf",
                "file_url": "https://f/a",
                "content_type": None,
                "file_size": 3,
            }
        ]
    if draw(st.booleans()):
        note["author"] = {"crm_user_id": 7, "email": "a@x.co", "name": "Ani"}
    for _ in range(draw(st.integers(0, 2))):  # break it, one field at a time
        where = draw(
            st.sampled_from(
                [
                    "id",
                    "person",
                    "content",
                    "created",
                    "updated",
                    "file_name",
                    "file_size",
                    "attachment_id",
                    "author",
                    "extra",
                    "deep",
                    "not_a_dict",
                ]
            )
        )
        if where == "id":
            note["legacy_crm_note_id"] = draw(odd_int)
        elif where == "person":
            note["crm_person_id"] = draw(odd_int)
        elif where == "content":
            note["content_html"] = draw(st.one_of(odd_text, st.none(), st.integers()))
        elif where == "created":
            note["created_at"] = draw(odd_time)
        elif where == "updated":
            note["updated_at"] = draw(st.one_of(odd_time, st.none()))
        elif where in ("file_name", "file_size", "attachment_id") and note["attachments"]:
            key = {"file_name": "file_name", "file_size": "file_size", "attachment_id": "legacy_attachment_id"}
            note["attachments"][0][key[where]] = draw(odd_text if where == "file_name" else odd_int)
        elif where == "author":
            note["author"] = {"crm_user_id": draw(odd_int), "email": draw(odd_text), "name": draw(odd_text)}
        elif where == "extra":
            note[draw(odd_text)] = draw(odd_text)
        elif where == "deep":
            note["content_html"] = _nested(draw(st.integers(1, 80)))
        elif where == "not_a_dict":
            return draw(st.sampled_from([[], "note", 1, None]))
    return note


@st.composite
def batches(draw, cid: int) -> dict[str, Any]:
    lids = draw(st.lists(st.integers(1, 6), max_size=5))  # repeats: the same note twice
    body: dict[str, Any] = {
        "contract_version": 1,
        "cid": cid,
        "batch_id": f"fuzz-{cid}",
        "notes": [draw(notes(lid)) for lid in lids],
    }
    if draw(st.integers(0, 5)) == 0:
        field = draw(st.sampled_from(["contract_version", "cid", "batch_id"]))
        body[field] = draw(st.one_of(odd_int, odd_text))
    return body


def _usable(lid: Any) -> bool:
    return type(lid) is int and 0 < lid <= INT64_MAX


@pytest.fixture
def stack(isolated_settings):
    settings_ = isolated_settings
    db = open_database(settings_)
    queue = BatchQueue(build_broker(settings_))
    handler = make_batch_handler(settings_, db, queue)
    with TestClient(create_app(settings_, db=db, queue=queue), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {settings_.migration_api_token}"
        yield client, db, queue, handler
    db.client.close()


def _run_jobs(queue: BatchQueue, handler) -> int:
    """Run every job on the queue through the worker's handler, as the worker would."""
    consumer = queue.broker.consume(QUEUE_NAME, prefetch=10, timeout=100)
    done = 0
    try:
        while True:
            message = next(consumer)
            if message is None:
                return done
            handler(*message.args)
            consumer.ack(message)
            done += 1
    finally:
        consumer.close()


def test_no_5xx_and_no_note_in_neither_collection(stack):
    client, db, queue, handler = stack
    cids = itertools.count(1000)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.data())
    def check(data):
        cid = next(cids)
        add_contacts(db, cid, list(PERSONS))
        body = data.draw(batches(cid))
        r = client.post(URL, content=json.dumps(body), headers={"content-type": "application/json"})
        assert r.status_code < 500, (r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/json")
        if r.status_code != 202:
            assert r.status_code in (409, 413, 422), r.text  # 409: a fuzzed batch_id seen before
            assert r.json()["detail"], r.text
            return
        cid = body["cid"]  # the fuzzed one, when it was valid
        _run_jobs(queue, handler)
        assert client.get("/v1/migrations/crm-notes/counts", params={"cid": cid}).json()["pending"] == 0
        for lid in {n.get("legacy_crm_note_id") for n in body["notes"] if isinstance(n, dict)}:
            if not _usable(lid):
                continue
            landed = db.contact_notes.count_documents({"cid": cid, "legacy_crm_note_id": lid})
            parked = db.contact_notes_migration_parked.count_documents({"cid": cid, "legacy_crm_note_id": lid})
            assert landed + parked == 1, (lid, landed, parked, r.json())

    check()
    assert queue.failed_jobs() == []
