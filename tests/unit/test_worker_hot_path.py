"""The worker's per-note steps give what their straightforward definitions give:
`note_object_id`, `validate_note` and the times of `transform_note`, equal to their
definitions spelled out here, on the seed generator's notes and generated inputs.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crm_notes_migration.contract import NoteV1, validate_note
from crm_notes_migration.transform import (
    Resolution,
    TransformOptions,
    note_object_id,
    to_storage_time,
    transform_note,
)

from .seed_contracts import seed_contracts

SEED = seed_contracts(400, 3, 7)


def _reference_object_id(cid: int, legacy_id: int) -> ObjectId:
    """SPEC §3's definition, namespace spelled out."""
    key = b"|".join((b"crm_notes_migration/contact_notes/v1", str(cid).encode(), str(legacy_id).encode()))
    return ObjectId(hashlib.sha256(key).digest()[:12])


@pytest.mark.parametrize("cid, legacy_id", [(1, 1), (0, 2**63 - 1), (-5, 10**30), (10**20, 7)])
def test_note_object_id_edge_integers(cid, legacy_id):
    assert note_object_id(cid, legacy_id) == _reference_object_id(cid, legacy_id)


def test_note_object_id_on_seed_notes():
    for cid, contract in SEED:
        lid = contract["legacy_crm_note_id"]
        assert note_object_id(cid, lid) == _reference_object_id(cid, lid)


def _reference_validate(raw):
    try:
        return NoteV1.model_validate(raw), ""
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return None, f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "invalid")


BROKEN = [
    {"legacy_crm_note_id": 0},
    {"legacy_crm_note_id": "abc"},
    {"created_at": "2021-03-04T05:06:07"},
    {"updated_at": "yesterday"},
    {"surprise": 1},
    {"author": {"crm_user_id": "x"}},
    {"attachments": [{"legacy_attachment_id": 1}]},
    {"mentioned_users": [{"crm_user_id": 1, "extra": True}]},
]


def test_validate_note_equals_model_validate_on_seed_and_broken_notes():
    invalid = 0
    for i, (_, contract) in enumerate(SEED):
        raw = {**contract, **BROKEN[i % len(BROKEN)]} if i % 3 == 0 else contract
        note, detail = validate_note(raw)
        expected_note, expected_detail = _reference_validate(raw)
        assert (note, detail) == (expected_note, expected_detail)
        invalid += note is None
    assert invalid > 0
    assert validate_note({})[1] == _reference_validate({})[1]


OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
TIMES = st.tuples(st.datetimes(datetime(1971, 1, 1), datetime(2100, 1, 1)), OFFSETS).map(
    lambda t: t[0].replace(tzinfo=t[1])
)


@settings(max_examples=300, deadline=None)
@given(TIMES, st.none() | TIMES)
def test_transform_note_times_follow_their_definitions(created, updated):
    cid, contract = SEED[0]
    raw = {
        **contract,
        "content_html": "<p>x</p>",
        "created_at": created.isoformat(),
        "updated_at": updated and updated.isoformat(),
    }
    note = NoteV1.model_validate(raw)
    result = transform_note(cid, note, Resolution((ObjectId(),)), TransformOptions())
    doc = result.document
    assert doc["created_at"] == to_storage_time(note.created_at)
    assert doc["created_at"].tzinfo is UTC
    expected_updated = to_storage_time(note.updated_at) if note.updated_at is not None else doc["created_at"]
    assert doc["updated_at"] == expected_updated and doc["updated_at"].tzinfo is UTC
    assert doc["migration"]["legacy_updated_at"] == expected_updated
    late = note.updated_at is not None and note.updated_at < note.created_at
    assert ("updated_before_created" in result.anomalies) is late
