"""Two CDP users (Budi, Sari) and the legacy CRM users a note mentions, for the mention
tests: one note body's content through the transform, its mentions resolved as the worker
resolves them."""

from __future__ import annotations

from bson import ObjectId

from crm_notes_migration.contract import NoteV1
from crm_notes_migration.transform import CdpUser, Resolution
from crm_notes_migration.transform.note import transform_content

BUDI = CdpUser(ObjectId("64b000000000000000000001"), "Budi Santoso (CDP)", "budi@x.co")
SARI = CdpUser(ObjectId("64b000000000000000000002"), "Sari", "sari@x.co")
RESOLUTION = Resolution(
    (ObjectId(),),
    users_by_email={"budi@x.co": BUDI, "sari@x.co": SARI},
    users_by_id={str(BUDI.id): BUDI, str(SARI.id): SARI},
)
#: crm_users.id → email of the note's `mentioned_users`: Budi (spaced, upper case), Sari,
#: a user no CDP user has, and one without an email.
CRM_EMAILS = {42: "  Budi@X.co ", 43: "sari@x.co", 44: "nobody@x.co", 45: None}


def run(html: str):
    """(content, mentions, unresolved) of a note whose body is `html`."""
    note = NoteV1(
        legacy_crm_note_id=1,
        crm_person_id=1,
        content_html=html,
        created_at="2021-01-01T00:00:00+00:00",
        mentioned_users=[{"crm_user_id": k, "email": v, "name": None} for k, v in CRM_EMAILS.items()],
    )
    return transform_content(html, note, RESOLUTION)
