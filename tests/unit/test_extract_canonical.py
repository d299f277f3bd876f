"""batch_id's canonical JSON: the standard library's bytes, so batch ids stay what earlier
versions computed (a resumed pass recognises its batches). `canonical_json` on arbitrary
JSON values is compared with `json.dumps` in test_api_intake_fastpaths.py (the API's body
hash uses the same function)."""

from __future__ import annotations

import hashlib
import json

from crm_notes_migration.usecases.extract import batch_id_for, canonical_json


def _std(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_every_character_and_integers_beyond_64_bits():
    text = "".join(chr(c) for c in range(0x30000) if not 0xD800 <= c < 0xE000)
    value = {"b": [text, 2**70, -(2**70)], "a": '\u2028\x00\x7f"\\/'}
    assert canonical_json(value) == _std(value)


def test_batch_id_is_the_hash_of_the_canonical_notes():
    notes = [{"legacy_crm_note_id": 5, "content_html": "<p>é</p>"}, {"legacy_crm_note_id": 9, "crm_person_id": 1}]
    digest = hashlib.sha256(_std(notes)).hexdigest()[:24]
    assert batch_id_for(3, notes) == f"crm-3-5-9-{digest}"
