"""A parked record always fits in a MongoDB document (ingest.park_record)."""

import hashlib

import bson

from crm_notes_migration.usecases.ingest import PARKED_CONTENT_KEPT_BYTES, PARKED_CONTENT_MAX_BYTES, park_record

MONGO_MAX_DOCUMENT = 16 * 1024 * 1024


def _payload(content):
    return {
        "legacy_crm_note_id": 5,
        "crm_person_id": 1,
        "content_html": content,
        "created_at": "2021-03-04T05:06:07+00:00",
        "attachments": [{"legacy_attachment_id": 1}],
    }


def test_a_note_too_large_to_store_is_cut_and_says_so():
    content = "<p>" + "x" * (PARKED_CONTENT_MAX_BYTES + 1000) + "</p>"
    rec = park_record(3, 5, _payload(content), "content_too_large", "sanitised content over 1 MiB")
    assert len(bson.encode(rec)) < MONGO_MAX_DOCUMENT
    assert rec["note"]["content_html"] == content[:PARKED_CONTENT_KEPT_BYTES]
    assert {k: v for k, v in rec["note"].items() if k != "content_html"} == {
        k: v for k, v in _payload(content).items() if k != "content_html"
    }
    assert rec["note_truncated"] == {
        "content_html_bytes": len(content),
        "content_html_sha256": hashlib.sha256(content.encode()).hexdigest(),
        "kept_bytes": PARKED_CONTENT_KEPT_BYTES,
    }
    assert rec["reason"] == "content_too_large" and rec["detail"].startswith("sanitised content over 1 MiB (")


def test_the_cut_falls_on_a_character():
    content = "é" * (PARKED_CONTENT_MAX_BYTES // 2 + 1)  # two bytes each: one byte over the limit
    rec = park_record(3, 5, _payload(content), "content_too_large", "d")
    kept = rec["note"]["content_html"]
    assert content.startswith(kept) and len(kept.encode()) == rec["note_truncated"]["kept_bytes"]
    assert PARKED_CONTENT_KEPT_BYTES - 1 <= len(kept.encode()) <= PARKED_CONTENT_KEPT_BYTES
    assert len(bson.encode(rec)) < MONGO_MAX_DOCUMENT


def test_notes_up_to_the_limit_are_kept_whole():
    for content in ("<p>small</p>", "x" * PARKED_CONTENT_MAX_BYTES, "é" * (PARKED_CONTENT_MAX_BYTES // 2)):
        payload = _payload(content)
        rec = park_record(3, 5, payload, "content_too_large", "d")
        assert rec["note"] is payload and "note_truncated" not in rec and rec["detail"] == "d"


def test_payloads_without_string_content_are_kept_as_they_are():
    for payload in ({"legacy_crm_note_id": 5, "content_html": 12}, {"legacy_crm_note_id": 5}, "not a dict"):
        assert park_record(3, 5, payload, "invalid_note", "d")["note"] is payload
