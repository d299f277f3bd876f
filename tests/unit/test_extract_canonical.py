"""batch_id's canonical JSON: orjson gives the standard library's bytes for contract notes,
so batch ids stay what earlier versions computed (a resumed pass recognises its batches)."""
from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_notes_migration.extract import batch_id_for, canonical_json


def _std(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_same_bytes_as_the_standard_library(value):
    assert canonical_json(value) == _std(value)


def test_every_character_and_integers_beyond_64_bits():
    text = "".join(chr(c) for c in range(0x30000) if not 0xD800 <= c < 0xE000)
    value = {"b": [text, 2**70, -(2**70)], "a": "\u2028\x00\x7f\"\\/"}
    assert canonical_json(value) == _std(value)


def test_batch_id_is_the_hash_of_the_canonical_notes():
    notes = [{"legacy_crm_note_id": 5, "content_html": "<p>é</p>"}, {"legacy_crm_note_id": 9, "crm_person_id": 1}]
    digest = hashlib.sha256(_std(notes)).hexdigest()[:24]
    assert batch_id_for(3, notes) == f"crm-3-5-9-{digest}"
