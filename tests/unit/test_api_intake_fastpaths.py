"""The API intake's shortcuts give exactly what the long way gives.

- `canonical_json` / `canonical_sha256` write with orjson when that gives the bytes of the
  documented `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`:
  compared with it on arbitrary JSON values (floats, NaN, big integers, awkward strings,
  deep nesting) and on the seed's batches as the extractor sends them.
- `split_notes` (type-exact integer check, pydantic-core serializer called directly) is
  compared with the previous implementation, kept here as the reference, on the seed's
  notes and on notes mutated into every kind of trouble.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_notes_migration.api.batches import INT64_MAX, INT64_MIN, _ints_fit, split_notes
from crm_notes_migration.cdp.batches import canonical_json, canonical_sha256
from crm_notes_migration.contract import validate_note
from crm_notes_migration.transform import INVALID_NOTE
from crm_notes_migration.usecases.extract import batch_id_for
from crm_notes_migration.usecases.ingest import park_record

from .seed_contracts import seed_contracts


def reference_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def reference_ints_fit(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, dict):
        return all(reference_ints_fit(v) for v in value.values())
    if isinstance(value, list):
        return all(reference_ints_fit(v) for v in value)
    return True


def _reference_usable_id(raw: Any) -> int | None:
    value = raw.get("legacy_crm_note_id") if isinstance(raw, dict) else None
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= INT64_MAX
    return value if ok else None


def reference_split_notes(cid: int, notes: list[Any]):
    """`split_notes` as it was before the shortcuts."""
    accepted, rejected, parks, seen = [], [], [], set()
    for raw in notes:
        note, detail = validate_note(raw) if isinstance(raw, dict) else (None, "note: not an object")
        if note is not None and not reference_ints_fit(raw):
            note, detail = None, "an integer is out of the 64-bit range"
        lid = _reference_usable_id(raw)
        if note is None:
            rejected.append({"legacy_crm_note_id": lid, "reason": INVALID_NOTE, "detail": detail})
            if lid is not None:
                payload = json.dumps(raw, ensure_ascii=False, default=str)
                parks.append(park_record(cid, lid, payload, INVALID_NOTE, detail))
            continue
        if note.legacy_crm_note_id in seen:
            rejected.append(
                {
                    "legacy_crm_note_id": lid,
                    "reason": INVALID_NOTE,
                    "detail": "legacy_crm_note_id: appears twice in this batch",
                }
            )
            continue
        seen.add(note.legacy_crm_note_id)
        accepted.append(note.model_dump(mode="json"))
    return accepted, rejected, parks


def seed_batches(notes: int = 700, cids: int = 3, seed: int = 11, size: int = 250) -> list[dict[str, Any]]:
    """The seed's in-scope notes as contract batches of `size`, one cid per batch."""
    by_cid: dict[int, list[dict[str, Any]]] = {}
    for cid, contract in seed_contracts(notes, cids, seed):
        by_cid.setdefault(cid, []).append(contract)
    out = []
    for cid, page in by_cid.items():
        for i in range(0, len(page), size):
            part = page[i : i + size]
            out.append({"contract_version": 1, "cid": cid, "batch_id": batch_id_for(cid, part), "notes": part})
    return out


@pytest.fixture(scope="module")
def batches() -> list[dict[str, Any]]:
    # As the API gets them: sent by orjson, parsed by orjson.
    return [orjson.loads(orjson.dumps(b)) for b in seed_batches()]


# --- canonical JSON -------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "\u2028\u2029", "\x00\x1f\x7f\x80\x9f", '"\\/\b\f\n\r\t', "\ufeff\uffff", "😀\U0010ffff", "é", "e\u0301"]
)
_SCALARS = (
    st.none()
    | st.booleans()
    | _TEXT
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e-7, 1e-5, 1e16, 1e22, 5e-324, 1.0, float("nan"), float("inf")])
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_TEXT, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=1500, deadline=None)
@given(_JSON)
def test_canonical_json_is_the_standard_encoders_on_any_json_value(value):
    assert canonical_json(value) == reference_json(value)


@settings(max_examples=500, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | _TEXT | st.integers(min_value=-(2**63), max_value=2**64 - 1),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_TEXT, inner, max_size=5),
        max_leaves=40,
    )
)
def test_canonical_json_without_floats_is_orjsons(value):
    """Where the shortcut is taken at all: values orjson can write (not only the fallback)."""
    fast = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    assert fast == reference_json(value) == canonical_json(value)


def test_canonical_json_odd_inputs_behave_as_before():
    nested: Any = "x"
    for _ in range(300):  # over orjson's 254 levels
        nested = [nested]
    assert canonical_json({"n": nested}) == reference_json({"n": nested})
    for odd in ({"a": (1, 2.5)}, {1: "int key"}, {"k": {True: 1}}):  # tuples, non-str keys
        assert canonical_json(odd) == reference_json(odd)
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate (json.loads accepts "\\ud800")
        reference_json({"a": "\ud800"})
    # ... hashes all the same (SPEC §4: the API rejects its note, not the whole body)
    assert canonical_json({"a": "\ud800"}) == '{"a":"\ud800"}'.encode("utf-8", "surrogatepass")
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(RecursionError):
        reference_json(deep)
    with pytest.raises(RecursionError):
        canonical_json(deep)


def test_canonical_sha256_on_the_seed_batches(batches):
    for body in batches:
        want = hashlib.sha256(reference_json(body)).hexdigest()
        assert canonical_sha256(body) == want
        # the same batch with floats and a NaN in it (they go the long way)
        odd = copy.deepcopy(body)
        odd["notes"][0]["crm_person_id"] = float(odd["notes"][0]["crm_person_id"])
        odd["notes"][-1]["extra"] = [1e-7, float("nan"), 2**64]
        assert canonical_sha256(odd) == hashlib.sha256(reference_json(odd)).hexdigest()
        assert canonical_sha256(odd) != want


# --- split_notes ----------------------------------------------------------------------


def _troubled(notes: list[dict[str, Any]]) -> list[Any]:
    """The seed's notes, then copies mutated into every kind of trouble split_notes sorts."""
    out: list[Any] = list(notes)
    n = copy.deepcopy(notes[:12])
    n[0]["crm_person_id"] = 2**63  # too big for 64 bits (pydantic takes it)
    n[1]["crm_person_id"] = -(2**63)  # fits
    n[2]["crm_person_id"] = float(n[2]["crm_person_id"])  # a float pydantic takes as int
    n[3]["author"] = {"crm_user_id": 2**64, "email": None, "name": None}
    n[4]["crm_person_id"] = True  # a bool
    n[5]["created_at"] = "2021-01-01T00:00:00"  # no offset
    n[6]["legacy_crm_note_id"] = "x"
    n[7]["unexpected"] = 1
    n[8]["crm_person_id"] = str(n[8]["crm_person_id"])  # lax int from str
    n[9]["attachments"] = [{"legacy_attachment_id": 2**63, "file_name": "a", "file_url": "b"}]
    n[10]["mentioned_users"] = [{"crm_user_id": -(2**63) - 1}]
    out += n
    out += [notes[0], "not a dict", 5, None, {"legacy_crm_note_id": 2**64}]  # a duplicate, non-objects
    return out


def test_split_notes_is_the_previous_split_notes(batches):
    for body in batches:
        for notes in (body["notes"], _troubled(body["notes"])):
            got, want = split_notes(body["cid"], notes), reference_split_notes(body["cid"], notes)
            assert got[0] == want[0] and got[1] == want[1]
            assert got[2] == want[2]
            assert orjson.dumps(got[0]) == orjson.dumps(want[0])  # same message bytes


class _Dict(dict):
    pass


class _Int(int):
    pass


@settings(max_examples=1000, deadline=None)
@given(
    st.recursive(
        _SCALARS | st.integers(min_value=-(2**64), max_value=2**64).map(_Int),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(_TEXT, inner, max_size=4)
            | st.dictionaries(_TEXT, inner, max_size=3).map(_Dict)
        ),
        max_leaves=20,
    )
)
def test_ints_fit_is_the_previous_ints_fit(value):
    assert _ints_fit(value) == reference_ints_fit(value)
