"""SPEC §4's strict checks, on the real API (uvicorn, FerretDB, Redis): strict types,
bounded nesting, a storable batch_id, a lone surrogate rejecting only its note, and 422
details that name the offending field."""

from __future__ import annotations

import json

import pytest

from crm_notes_migration.cdp.mongo import open_database

from .cdp_support import ApiServer, batch, note

CID = 21
URL = "/v1/migrations/crm-notes/batches"


@pytest.fixture
def api(isolated_settings):
    with ApiServer(isolated_settings) as a:
        yield a


def _post_raw(api: ApiServer, body: str | bytes):
    return api.client.post(URL, content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cid", True),
        ("cid", "131 "),
        ("cid", -1),
        ("cid", 0),
        ("cid", 1.0),
        ("cid", 2**63),
        ("contract_version", True),
        ("contract_version", 1.0),
        ("batch_id", "a\u0000b"),
        ("batch_id", "tab\there"),
        ("batch_id", "x\ud800"),
    ],
)
def test_a_bad_envelope_is_a_422_naming_the_field(api, field, value):
    body = {**batch(CID, "env", [note(1, 1)]), field: value}
    r = _post_raw(api, json.dumps(body))  # json.dumps writes "\ud800" as its escape
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith(f"{field}:"), detail
    assert "validation error" not in detail
    assert api.counts(CID)["pending"] == 0


@pytest.mark.parametrize(("depth", "status"), [(64, 202), (65, 422), (1000, 422), (10_000, 422)])
def test_nesting_deeper_than_64_levels_is_a_422(api, depth, status):
    # the whole body is `depth` levels deep: the envelope is one, the notes list two, ...
    inner = "[" * (depth - 3) + "1" + "]" * (depth - 3)
    body = (
        f'{{"contract_version": 1, "cid": {CID}, "batch_id": "deep-{depth}", "notes": [{{"legacy_crm_note_id": 1,'
        f' "crm_person_id": 1, "created_at": "2021-03-04T05:06:07+00:00", "x": {inner}}}]}}'
    )
    r = _post_raw(api, body)
    assert r.status_code == status, r.text
    if status == 422:
        assert r.json()["detail"] == "body: nested deeper than 64 levels"
    else:  # 64 levels is a body, with one invalid note (an unknown field)
        assert r.json()["rejected"][0]["detail"].startswith("x:")
    assert api.client.get("/healthz").status_code == 200  # the connection and server live on


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("crm_person_id",), -3, "crm_person_id"),
        (("crm_person_id",), True, "crm_person_id"),
        (("legacy_crm_note_id",), "2", None),  # no usable id: rejected, not parked
        (("attachments", 0, "file_size"), -1, "attachments.0.file_size"),
        (("attachments", 0, "legacy_attachment_id"), 0, "attachments.0.legacy_attachment_id"),
        (("attachments", 0, "file_size"), 1.5, "attachments.0.file_size"),
        (("author", "crm_user_id"), 2**63, "author.crm_user_id"),
        (("content_html",), "<p>a\ud800b</p>", "content_html"),
        (("attachments", 0, "file_name"), "x\udfff.pdf", "attachments.0.file_name"),
        (("author", "name"), "\ud83d", "author.name"),
        (("created_at",), "9999-12-31T23:59:59-05:00", "created_at"),  # year 10000 in UTC
        (("created_at",), "0001-01-01 00:00:00 BC", "created_at"),
        (("updated_at",), "infinity", "updated_at"),
        (("updated_at",), "2021-03-04T05:06:07", "updated_at"),  # naive
    ],
)
def test_a_bad_note_is_rejected_alone_naming_the_field(api, isolated_settings, path, value, named):
    bad = note(
        2,
        2,
        author={"crm_user_id": 7, "email": "a@x.co", "name": "Ani"},
        attachments=[{"legacy_attachment_id": 9, "file_name": "a.pdf", "file_url": "https://f/a", "file_size": 3}],
    )
    target = bad
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    body = batch(CID, f"bad-{path}-{value!r}"[:150], [note(1, 1), bad, note(3, 3)])
    r = _post_raw(api, json.dumps(body))
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["accepted"] == 2
    [rejected] = answer["rejected"]
    assert rejected["reason"] == "invalid_note"
    assert rejected["detail"].startswith(f"{named or 'legacy_crm_note_id'}:"), rejected
    db = open_database(isolated_settings)
    parked = list(db.contact_notes_migration_parked.find({"cid": CID}))
    if named is None:
        assert parked == [] and rejected["legacy_crm_note_id"] is None
    else:
        [rec] = parked
        assert rec["legacy_crm_note_id"] == 2 and rec["reason"] == "invalid_note"
        assert rec["detail"] == rejected["detail"]
    counts = api.counts(CID)
    assert counts["pending"] == 2 and sum(counts["parked"].values()) == (0 if named is None else 1)


def test_a_lone_surrogate_is_parked_escaped_and_the_answer_is_idempotent(api, isolated_settings):
    body = json.dumps(batch(CID, "sur", [note(1, 1), note(2, 2, "<p>caf\ud800</p>")]))
    assert "\\ud800" in body
    first = _post_raw(api, body)
    assert first.status_code == 202 and first.json()["accepted"] == 1
    assert _post_raw(api, body).json() == first.json()  # the same body again: the same answer
    rec = open_database(isolated_settings).contact_notes_migration_parked.find_one({"cid": CID})
    assert "\\ud800" in rec["note"] and rec["detail"].startswith("content_html: a lone surrogate (U+D800)")
