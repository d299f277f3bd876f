"""The seed's CDP-authored notes: shaped like CDP app notes, on the right contacts and cids,
mentions in the canonical form, deterministic, and counted and digested by the expectations
as an independent reading of the generated documents says."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict

import bson
import pytest
from bson import Int64, ObjectId

from crm_notes_devtools.seed.expectations import expectations_of
from crm_notes_devtools.seed.generator import generate

N, C, SEED = 2000, 10, 1234
FIELDS = ["_id", "cid", "contact_id", "content", "mentions", "created_by", "created_at", "updated_at"]
_CANONICAL = re.compile(
    r'<a class="mention" data-mention="" data-user-id="([0-9a-f]{24})" href="mention://user/([0-9a-f]{24})">@([^<]*)</a>'
)


@pytest.fixture(scope="module")
def chunks():
    return list(generate(N, C, SEED))


def _notes(chunks) -> list[dict]:
    return [doc for ch in chunks for doc in ch.cdp_notes]


def test_shaped_like_a_cdp_app_note(chunks):
    notes = _notes(chunks)
    assert len(notes) > C
    assert len({d["_id"] for d in notes}) == len(notes)
    for doc in notes:
        assert list(doc) == FIELDS
        assert isinstance(doc["_id"], ObjectId) and isinstance(doc["cid"], Int64)
        assert isinstance(doc["contact_id"], ObjectId) and isinstance(doc["created_by"], ObjectId)
        assert doc["created_at"].microsecond % 1000 == 0 and doc["updated_at"] >= doc["created_at"]
        assert "source" not in doc and "legacy_crm_note_id" not in doc


def test_contacts_authors_and_mentions_belong_to_the_note_cid(chunks):
    contacts = {c["_id"]: int(c["cid"]) for ch in chunks for c in ch.contacts}
    users = {u["_id"]: (int(u["cid"]), u["name"]) for ch in chunks for u in ch.users}
    with_mentions = 0
    for doc in _notes(chunks):
        cid = int(doc["cid"])
        assert contacts[doc["contact_id"]] == cid
        assert users[doc["created_by"]][0] == cid
        anchors = _CANONICAL.findall(doc["content"])
        assert doc["content"].count("<a ") == len(anchors)
        assert [(ObjectId(a), name) for a, b, name in anchors if a == b] == [
            (m["user_id"], m["name"].replace("&", "&amp;")) for m in doc["mentions"]
        ]
        for m in doc["mentions"]:
            assert users[m["user_id"]] == (cid, m["name"])
        with_mentions += bool(doc["mentions"])
    assert 0 < with_mentions < len(_notes(chunks))


def test_on_migrated_contacts_most_cids_and_cids_without_crm_notes(chunks):
    crm_cids = {ch.cid for ch in chunks if ch.in_crm}
    migrated_persons = defaultdict(set)
    for ch in chunks:
        persons = {n[0]: n[2] for n in ch.notes}
        for nid, outcome in ch.outcomes:
            if outcome == "migrated":
                migrated_persons[ch.cid].add(str(persons[nid]))
    contact_source = {c["_id"]: c.get("source_id") for ch in chunks for c in ch.contacts}
    notes = _notes(chunks)
    on_migrated = [d for d in notes if contact_source[d["contact_id"]] in migrated_persons[int(d["cid"])]]
    assert 0 < len(on_migrated) < len(notes)
    per_cid = Counter(int(d["cid"]) for d in notes)
    assert len(crm_cids & set(per_cid)) > len(crm_cids) / 2
    outside = set(per_cid) - crm_cids
    assert outside and not outside & {n[1] for ch in chunks for n in ch.notes}
    assert all(any(c["cid"] == cid for ch in chunks for c in ch.contacts) for cid in outside)

    cdp = expectations_of(chunks, SEED, N, C).to_json()["cdp_authored"]
    assert cdp["notes"] == len(notes)
    assert cdp["on_migrated_contacts"] == len(on_migrated)
    assert cdp["with_mentions"] == sum(bool(d["mentions"]) for d in notes)
    assert cdp["in_cids_without_crm_notes"] == sum(per_cid[c] for c in outside)
    assert cdp["per_cid"] == {str(c): per_cid[c] for c in sorted(per_cid)}


def test_expectations_digest_is_sha256_of_the_notes_bson_in_id_order(chunks):
    total = hashlib.sha256()
    for doc in sorted(_notes(chunks), key=lambda d: d["_id"]):
        total.update(doc["_id"].binary + hashlib.sha256(bson.encode(doc)).digest())
    exp = expectations_of(chunks, SEED, N, C).to_json()
    assert exp["cdp_authored"]["sha256"] == total.hexdigest()
    assert set(exp["per_cid"]) == {str(ch.cid) for ch in chunks if ch.in_crm}  # CDP-only cids: no CRM entry


def test_deterministic_for_a_seed_and_different_for_another():
    def cdp(seed: int, page_size: int = 1000) -> dict:
        return expectations_of(generate(600, 5, seed, page_size=page_size), seed, 600, 5).to_json()

    assert cdp(7) == cdp(7) == cdp(7, page_size=37)
    assert cdp(7)["cdp_authored"]["sha256"] != cdp(8)["cdp_authored"]["sha256"]


def test_content_is_already_what_the_transform_writes(chunks):
    """Canonical mentions: the transform core's sanitiser leaves them exactly as they are."""
    from crm_notes_devtools.seed.cdp_notes import mention_anchor
    from crm_notes_migration.transform import sanitize_html

    odd = f"<p>x {mention_anchor(ObjectId('661658c10619e74c2e3824f6'), 'Ani <Mbak> & Co')} y</p>"
    assert "@Ani &lt;Mbak&gt; &amp; Co</a>" in odd
    anchors = [f"<p>{m.group(0)}</p>" for doc in _notes(chunks) for m in _CANONICAL.finditer(doc["content"])]
    assert anchors
    for content in [odd, *anchors]:
        assert sanitize_html(content) == content
