"""transform_note, identity/checksums, attachments and the legacy → contract step."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bson import Int64, ObjectId

import crm_notes_migration.transform as transform
from crm_notes_migration.contract import CONTRACT_VERSION, NoteV1, validate_note
from crm_notes_migration.transform import (
    AMBIGUOUS_CONTACT,
    CONTACT_NOT_FOUND,
    CONTENT_TOO_LARGE,
    TRANSFORM_VERSION,
    CdpUser,
    LegacyAttachment,
    LegacyNote,
    LegacyUser,
    Resolution,
    TransformOptions,
    content_sha256,
    legacy_note_to_contract,
    normalise_email,
    note_object_id,
    source_sha256,
    transform_note,
)

CONTACT = ObjectId("650000000000000000000001")
AUTHOR = CdpUser(ObjectId("650000000000000000000002"), "Ani", "ani@x.co")
RESOLVED = Resolution((CONTACT,), users_by_email={"ani@x.co": AUTHOR}, users_by_id={str(AUTHOR.id): AUTHOR})


def raw_note(**overrides):
    raw = {
        "legacy_crm_note_id": 1001,
        "crm_person_id": 55,
        "content_html": "<p>Hello <b>x</b></p>",
        "author": {"crm_user_id": 7, "email": " ANI@x.co", "name": "Ani"},
        "mentioned_users": [],
        "created_at": "2021-03-04T05:06:07.123456+00:00",
        "updated_at": "2021-03-05T00:00:00.999999+07:00",
        "attachments": [],
    }
    raw.update(overrides)
    return NoteV1.model_validate(raw)


def test_public_api_is_exactly_the_documented_one():
    assert set(transform.__all__) == {
        "transform_note",
        "note_object_id",
        "source_sha256",
        "content_sha256",
        "sanitize_html",
        "visible_text",
        "normalise_email",
        "legacy_time_to_utc",
        "to_storage_time",
        "legacy_mention_user_ids",
        "legacy_note_to_contract",
        "LegacyNote",
        "LegacyAttachment",
        "LegacyUser",
        "CdpUser",
        "Resolution",
        "TransformOptions",
        "TransformResult",
        "TRANSFORM_VERSION",
        "CONTACT_NOT_FOUND",
        "AMBIGUOUS_CONTACT",
        "EDITED_IN_CDP",
        "CONTENT_TOO_LARGE",
        "INVALID_NOTE",
    }
    assert all(hasattr(transform, name) for name in transform.__all__)


def test_document_has_every_field_of_spec_3_but_migrated_at():
    note = raw_note()
    result = transform_note(123, note, RESOLVED, TransformOptions())
    assert result.reason is None
    doc = result.document
    assert doc == {
        "_id": note_object_id(123, 1001),
        "cid": 123,
        "contact_id": CONTACT,
        "content": "<p>Hello <b>x</b></p>",
        "mentions": [],
        "attachments": [],
        "created_by": AUTHOR.id,
        "created_at": datetime(2021, 3, 4, 5, 6, 7, 123000, tzinfo=UTC),
        "updated_at": datetime(2021, 3, 4, 17, 0, 0, 999000, tzinfo=UTC),
        "legacy_crm_note_id": 1001,
        "source": "crm_migration",
        "notifications_suppressed": True,
        "migration": {
            "contract_version": CONTRACT_VERSION,
            "transform_version": TRANSFORM_VERSION,
            "content_sha256": hashlib.sha256(b"<p>Hello <b>x</b></p>").hexdigest(),
            "source_sha256": source_sha256(123, note),
            "legacy_updated_at": datetime(2021, 3, 4, 17, 0, 0, 999000, tzinfo=UTC),
        },
    }
    assert type(doc["cid"]) is Int64 and type(doc["legacy_crm_note_id"]) is Int64
    assert result.anomalies == []


def test_null_updated_at_becomes_created_at():
    doc = transform_note(1, raw_note(updated_at=None), RESOLVED, TransformOptions()).document
    assert doc["updated_at"] == doc["created_at"] == doc["migration"]["legacy_updated_at"]


def test_updated_before_created_is_kept_and_reported():
    result = transform_note(1, raw_note(updated_at="2020-01-01T00:00:00+00:00"), RESOLVED, TransformOptions())
    assert result.document["updated_at"] == datetime(2020, 1, 1, tzinfo=UTC)
    assert "updated_before_created" in result.anomalies


def test_null_content_becomes_empty_string():
    doc = transform_note(1, raw_note(content_html=None), RESOLVED, TransformOptions()).document
    assert doc["content"] == "" and doc["migration"]["content_sha256"] == hashlib.sha256(b"").hexdigest()


def test_unknown_author_gives_null_created_by():
    result = transform_note(1, raw_note(author={"crm_user_id": 9, "email": "x@y.z"}), RESOLVED, TransformOptions())
    assert result.document["created_by"] is None
    assert "author_unresolved" in result.anomalies
    assert transform_note(1, raw_note(author=None), RESOLVED, TransformOptions()).document["created_by"] is None


def test_unresolved_mention_is_an_anomaly():
    html = '<span class="mention" data-id="5" data-value="Zed"><span>@Zed</span></span>'
    result = transform_note(1, raw_note(content_html=html), RESOLVED, TransformOptions())
    assert result.document["content"] == "@Zed"
    assert "unresolved_mention" in result.anomalies


def test_contact_reasons_take_precedence_over_size():
    big = raw_note(content_html="<p>" + "x" * 100 + "</p>")
    small = TransformOptions(max_note_html_bytes=10)
    missing = transform_note(1, big, Resolution(()), small)
    assert (missing.reason, missing.document) == (CONTACT_NOT_FOUND, None)
    ambiguous = transform_note(1, big, Resolution((CONTACT, ObjectId())), small)
    assert (ambiguous.reason, ambiguous.document) == (AMBIGUOUS_CONTACT, None)
    too_large = transform_note(1, big, RESOLVED, small)
    assert (too_large.reason, too_large.document) == (CONTENT_TOO_LARGE, None)


def test_size_limit_counts_sanitised_utf8_bytes():
    html = "<p>" + "é" * 10 + "</p><script>" + "x" * 1000 + "</script>"  # 27 bytes once sanitised
    assert (
        transform_note(1, raw_note(content_html=html), RESOLVED, TransformOptions(max_note_html_bytes=27)).reason
        is None
    )
    assert (
        transform_note(1, raw_note(content_html=html), RESOLVED, TransformOptions(max_note_html_bytes=26)).reason
        == CONTENT_TOO_LARGE
    )


def test_attachments_in_id_order_with_scheme_filter_and_rewrite():
    attachments = [
        {
            "legacy_attachment_id": 9,
            "file_name": "b.pdf",
            "file_url": "https://old.files/x/b.pdf",
            "content_type": "application/pdf",
            "file_size": 10,
        },
        {
            "legacy_attachment_id": 3,
            "file_name": "a.png",
            "file_url": "http://other/a.png",
            "content_type": None,
            "file_size": None,
        },
        {"legacy_attachment_id": 5, "file_name": "evil", "file_url": "javascript:alert(1)"},
        {"legacy_attachment_id": 6, "file_name": "local", "file_url": "file:///etc/passwd"},
    ]
    options = TransformOptions(attachment_url_rewrite=("https://old.files/", "https://new.files/"))
    result = transform_note(1, raw_note(attachments=attachments), RESOLVED, options)
    assert result.document["attachments"] == [
        {"legacy_attachment_id": 3, "name": "a.png", "url": "http://other/a.png", "content_type": None, "size": None},
        {
            "legacy_attachment_id": 9,
            "name": "b.pdf",
            "url": "https://new.files/x/b.pdf",
            "content_type": "application/pdf",
            "size": 10,
        },
    ]
    assert type(result.document["attachments"][0]["legacy_attachment_id"]) is Int64
    assert result.anomalies == ["attachment_dropped:5", "attachment_dropped:6"]


def test_note_object_id_is_deterministic_from_cid_and_id_alone():
    assert note_object_id(1, 2) == note_object_id(1, 2)
    assert note_object_id(1, 2) != note_object_id(2, 1)
    assert note_object_id(12, 3) != note_object_id(1, 23)
    a = transform_note(5, raw_note(content_html="a"), RESOLVED, TransformOptions()).document["_id"]
    b = transform_note(5, raw_note(content_html="b", crm_person_id=9), RESOLVED, TransformOptions()).document["_id"]
    assert a == b == note_object_id(5, 1001)


def test_checksums_follow_their_documented_definitions():
    note = raw_note()
    dumped = note.model_dump(mode="json")
    dumped["created_at"] = "2021-03-04T05:06:07.123456+00:00"
    dumped["updated_at"] = "2021-03-04T17:00:00.999999+00:00"
    canonical = json.dumps({"cid": 7, "note": dumped}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert source_sha256(7, note) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert source_sha256(8, note) != source_sha256(7, note)
    same_instant = raw_note(created_at="2021-03-04T12:06:07.123456+07:00")
    assert source_sha256(7, same_instant) == source_sha256(7, note)
    assert content_sha256("é") == hashlib.sha256("é".encode()).hexdigest()


def test_normalise_email():
    assert normalise_email("  Budi@X.Co ") == "budi@x.co"
    assert normalise_email("") is None and normalise_email(None) is None


# --- legacy row → contract note -------------------------------------------------------

USERS = {
    7: LegacyUser(7, 10, "ani@x.co", "Ani"),
    42: LegacyUser(42, 10, "budi@x.co", "Budi"),
    50: LegacyUser(50, 99, "other@x.co", "Other cid"),
}
SPAN = '<span class="mention" data-id="{}" data-value="N"><span>@N</span></span>'


def legacy(**overrides) -> LegacyNote:
    values = dict(
        id=1001,
        cid=10,
        crm_person_id=55,
        content=f"<p>{SPAN.format(42)} {SPAN.format(50)} {SPAN.format(42)}</p>",
        created_by=7,
        created_at=datetime(2021, 11, 7, 1, 30, 0, 5),
        updated_at=None,
        attachments=(
            LegacyAttachment(9, 1001, "b.pdf", "https://f/b.pdf", "application/pdf", 5, datetime(2021, 1, 1)),
            LegacyAttachment(2, 1001, "a.txt", "ftp://f/a.txt", None, None, datetime(2021, 1, 1)),
        ),
    )
    values.update(overrides)
    return LegacyNote(**values)


def test_legacy_note_to_contract_builds_a_valid_contract_note():
    contract, anomalies = legacy_note_to_contract(legacy(), USERS, ZoneInfo("America/New_York"))
    assert contract == {
        "legacy_crm_note_id": 1001,
        "crm_person_id": 55,
        "content_html": legacy().content,
        "author": {"crm_user_id": 7, "email": "ani@x.co", "name": "Ani"},
        "mentioned_users": [{"crm_user_id": 42, "email": "budi@x.co", "name": "Budi"}],
        "created_at": "2021-11-07T05:30:00.000005+00:00",
        "updated_at": None,
        "attachments": [
            {
                "legacy_attachment_id": 2,
                "file_name": "a.txt",
                "file_url": "ftp://f/a.txt",
                "content_type": None,
                "file_size": None,
            },
            {
                "legacy_attachment_id": 9,
                "file_name": "b.pdf",
                "file_url": "https://f/b.pdf",
                "content_type": "application/pdf",
                "file_size": 5,
            },
        ],
    }
    assert anomalies == ["dst_ambiguous", "mentioned_user_unknown"]
    note, detail = validate_note(json.loads(json.dumps(contract)))
    assert note is not None, detail


def test_dangling_author_keeps_its_id_and_is_reported():
    contract, anomalies = legacy_note_to_contract(legacy(created_by=404, content=None), USERS, ZoneInfo("UTC"))
    assert contract["author"] == {"crm_user_id": 404, "email": None, "name": None}
    assert contract["mentioned_users"] == []
    assert anomalies == ["author_unknown"]
    assert legacy_note_to_contract(legacy(created_by=None), USERS, ZoneInfo("UTC"))[0]["author"] is None


def test_legacy_row_end_to_end_through_the_core():
    budi = CdpUser(ObjectId("650000000000000000000042"), "Budi S", "budi@x.co")
    resolution = Resolution((CONTACT,), {"ani@x.co": AUTHOR, "budi@x.co": budi}, {str(budi.id): budi})
    contract, _ = legacy_note_to_contract(legacy(), USERS, ZoneInfo("Asia/Jakarta"))
    result = transform_note(10, NoteV1.model_validate(contract), resolution, TransformOptions())
    doc = result.document
    anchor = f'<a class="mention" data-mention="" data-user-id="{budi.id}" href="mention://user/{budi.id}">@N</a>'
    assert doc["content"] == f"<p>{anchor} @N {anchor}</p>"
    assert doc["mentions"] == [{"user_id": budi.id, "name": "Budi S"}]
    assert doc["created_at"] == datetime(2021, 11, 6, 18, 30, tzinfo=UTC)
    assert [a["legacy_attachment_id"] for a in doc["attachments"]] == [9]
    assert result.anomalies == ["unresolved_mention", "attachment_dropped:2"]
