"""CDP-authored notes of the seed: what CDP users already wrote in `contact_notes` (SPEC §3).

The migration must never change, delete or count them. The seed writes them on some
contacts of most cids (some on the very contacts that receive migrated notes), with
mentions in the canonical form (SPEC §5), and in CDP-only companies: cids with contacts
but no CRM notes, which the migration is never asked about. Shaped like a note of the CDP
app: `_id`, `cid`, `contact_id`, `content`, `mentions`, `created_by`, `created_at`,
`updated_at`; no `source`, no `legacy_crm_note_id`.

Pure and deterministic: every draw comes from a `random.Random` seeded from (seed, cid),
separate from the CRM's draws, so adding these notes leaves the CRM rows unchanged.
"""

from __future__ import annotations

import hashlib
import html
import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import bson
from bson import Int64, ObjectId

from crm_notes_devtools.seed.content import ContentWriter
from crm_notes_devtools.seed.people import _name, object_id

#: Share of the CRM's cids whose contacts hold CDP-authored notes (the first cid always does).
CID_RATE = 0.85
#: CDP-authored notes of such a cid: 1 + its CRM notes // NOTES_DIVISOR.
NOTES_DIVISOR = 25
#: Share of the notes that mention CDP users (every third note does, plus this rate of the rest).
MENTION_RATE = 0.25
#: CDP-only companies: one per CDP_ONLY_PER_CIDS CRM cids, at least one.
CDP_ONLY_PER_CIDS = 10
#: The CDP app went live here: its notes are written after this time.
CDP_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
CDP_SPAN_SECONDS = 300 * 86400


def cdp_only_cids(seed: int, crm_cids: list[int]) -> list[int]:
    """Companies of the CDP that have no CRM notes, ascending; disjoint from `crm_cids`."""
    rng = random.Random(f"crm-seed:{seed}:cdp-only-cids")
    n = max(1, len(crm_cids) // CDP_ONLY_PER_CIDS)
    top = max(crm_cids, default=100) + 1
    return sorted(rng.sample(range(top, top + 40 * n + 1000), n))


def cdp_only_people(seed: int, cid: int) -> tuple[list[dict], list[dict]]:
    """(contacts, users) of a CDP-only company: contacts without a CRM link, a few users."""
    rng = random.Random(f"crm-seed:{seed}:cdp-only:{cid}")
    contacts = [
        {"_id": object_id(seed, "cdp-only-contact", cid, k), "cid": Int64(cid), "name": _name(rng)}
        for k in range(rng.randint(3, 8))
    ]
    users = [
        {
            "_id": object_id(seed, "cdp-only-cid-user", cid, k),
            "cid": Int64(cid),
            "email": f"user{k}@company{cid}.co.id",
            "name": _name(rng),
        }
        for k in range(rng.randint(2, 4))
    ]
    return contacts, users


def mention_anchor(user_id: ObjectId, name: str) -> str:
    """The canonical CDP mention of SPEC §5, as the CDP app writes it."""
    hex_id = str(user_id)
    return (
        f'<a class="mention" data-mention="" data-user-id="{hex_id}" '
        f'href="mention://user/{hex_id}">@{html.escape(name, quote=False)}</a>'
    )


def cdp_authored_notes(
    seed: int,
    cid: int,
    count: int,
    contacts: list[dict],
    users: list[dict],
    migrated_contacts: list[ObjectId],
    writer: ContentWriter,
) -> list[dict]:
    """`count` notes of CDP users of `cid`: every other one on a contact of
    `migrated_contacts` (when there are any), the rest on any contact of the cid."""
    rng = random.Random(f"crm-seed:{seed}:cdp-notes:{cid}")
    own_contacts = [c["_id"] for c in contacts if int(c["cid"]) == cid]
    own_users = [u for u in users if int(u["cid"]) == cid]
    if not own_contacts or not own_users:
        return []
    notes = []
    for k in range(count):
        pool = migrated_contacts if migrated_contacts and k % 2 == 0 else own_contacts
        lang = rng.choice(("en", "id"))
        mentioned: list[dict] = []
        if k % 3 == 0 or rng.random() < MENTION_RATE:
            mentioned = rng.sample(own_users, k=min(len(own_users), rng.choice((1, 1, 2))))
        parts = [writer.text(rng, lang, 1)]
        for user in mentioned:
            parts += [mention_anchor(user["_id"], user["name"]), writer.text(rng, lang, 1)]
        content = f"<p>{' '.join(parts)}</p>"
        if rng.random() < 0.3:
            content += f"<p>{writer.text(rng, lang, rng.randint(1, 3))}</p>"
        created = CDP_EPOCH + timedelta(milliseconds=rng.randrange(CDP_SPAN_SECONDS * 1000))
        updated = created if rng.random() < 0.7 else created + timedelta(milliseconds=rng.randrange(86_400_000))
        notes.append(
            {
                "_id": object_id(seed, "cdp-note", cid, k),
                "cid": Int64(cid),
                "contact_id": rng.choice(pool),
                "content": content,
                "mentions": [{"user_id": u["_id"], "name": u["name"]} for u in mentioned],
                "created_by": rng.choice(own_users)["_id"],
                "created_at": created,
                "updated_at": updated,
            }
        )
    return notes


def note_sha256(doc: Mapping) -> bytes:
    """SHA-256 of one note's BSON, fields in stored order: changes with any byte of it."""
    return hashlib.sha256(bson.encode(doc)).digest()


def notes_digest(hashes: Iterable[tuple[ObjectId, bytes]]) -> str:
    """One hex digest of many notes, given (`_id`, note_sha256) in any order: SHA-256 over
    each `_id`'s 12 bytes and its note's SHA-256, in `_id` order."""
    total = hashlib.sha256()
    for oid, digest in sorted(hashes):
        total.update(oid.binary + digest)
    return total.hexdigest()
