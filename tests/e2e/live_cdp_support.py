"""CDP-authored notes for the live-CDP tests (issue 14): notes CDP users wrote in the CDP
app, in `contact_notes` beside the migration's documents (no `source`, no
`legacy_crm_note_id`), and a second tenant the migration is never asked about."""

from __future__ import annotations

from datetime import UTC, datetime

from bson import Int64, ObjectId
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument

#: A tenant with notes in `contact_notes` (CDP-authored and migration-shaped) but none in the CRM.
OTHER_TENANT = 99
T = datetime(2023, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


def _cdp_note(cid: int, contact_id: ObjectId, text: str, user: dict | None = None) -> dict:
    content = f"<p>{text}</p>"
    mentions = []
    if user is not None:  # a mention in the canonical form (SPEC §5)
        hexid = str(user["_id"])
        content += (
            f'<p><a class="mention" data-mention="" data-user-id="{hexid}" '
            f'href="mention://user/{hexid}">@{user["name"]}</a></p>'
        )
        mentions = [{"user_id": user["_id"], "name": user["name"]}]
    return {
        "_id": ObjectId(),
        "cid": Int64(cid),
        "contact_id": contact_id,
        "content": content,
        "mentions": mentions,
        "attachments": [],
        "created_by": None,
        "created_at": T,
        "updated_at": T,
    }


def add_cdp_authored_notes(db, cids: tuple[int, ...]) -> list[ObjectId]:
    """Per migrated cid: CDP-authored notes on contacts that receive migrated notes (one with a
    mention) and on a contact of its own; for OTHER_TENANT: CDP-authored notes and documents
    shaped like migration documents (another migration's). Returns every `_id` inserted."""
    rows = []
    for cid in cids:
        contacts = list(db.contacts.find({"cid": cid}).sort("_id", 1).limit(3))
        user = db.users.find_one({"cid": cid})
        for i, contact in enumerate(contacts):
            rows.append(_cdp_note(cid, contact["_id"], f"cdp note {i} of cid {cid}", user if i == 0 else None))
        rows.append(_cdp_note(cid, ObjectId(), f"cdp note on a CDP-only contact of cid {cid}"))
    for i in range(3):
        rows.append(_cdp_note(OTHER_TENANT, ObjectId(), f"tenant {OTHER_TENANT} note {i}"))
    for lid in (1, 2):
        rows.append(
            {
                **_cdp_note(OTHER_TENANT, ObjectId(), f"tenant {OTHER_TENANT} migrated {lid}"),
                "source": "crm_migration",
                "legacy_crm_note_id": Int64(lid),
            }
        )
    db.contact_notes.insert_many(rows)
    return [r["_id"] for r in rows]


def raw_notes(db, ids: list[ObjectId]) -> dict[ObjectId, bytes]:
    """The stored bytes of these `contact_notes` documents, by `_id`."""
    coll = db.contact_notes.with_options(codec_options=CodecOptions(document_class=RawBSONDocument))
    return {doc["_id"]: doc.raw for doc in coll.find({"_id": {"$in": ids}})}
