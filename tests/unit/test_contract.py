from crm_notes_migration.contract import BatchEnvelope, NoteV1, validate_note

NOTE = {
    "legacy_crm_note_id": 1001,
    "crm_person_id": 55,
    "content_html": "<p>x</p>",
    "author": {"crm_user_id": 7, "email": "a@x.co", "name": "Ani"},
    "mentioned_users": [{"crm_user_id": 42, "email": "b@x.co", "name": "Budi Santoso"}],
    "created_at": "2021-03-04T05:06:07.123456+00:00",
    "updated_at": "2021-03-05T00:00:00+00:00",
    "attachments": [
        {
            "legacy_attachment_id": 9,
            "file_name": "a.pdf",
            "file_url": "https://f/a.pdf",
            "content_type": "application/pdf",
            "file_size": 1234,
        }
    ],
}


def test_the_spec_example_note_is_valid():
    note, detail = validate_note(NOTE)
    assert isinstance(note, NoteV1) and detail == ""
    assert note.created_at.microsecond == 123456


def test_a_naive_timestamp_is_rejected_with_the_field_named():
    note, detail = validate_note({**NOTE, "updated_at": "2021-03-05T00:00:00"})
    assert note is None
    assert detail.startswith("updated_at")


def test_unknown_fields_and_wrong_types_are_rejected():
    assert validate_note({**NOTE, "surprise": 1})[0] is None
    assert validate_note({**NOTE, "legacy_crm_note_id": "abc"})[0] is None


def test_the_envelope_keeps_notes_raw_so_one_bad_note_does_not_sink_the_batch():
    env = BatchEnvelope.model_validate(
        {"contract_version": 1, "cid": 1, "batch_id": "b", "notes": [NOTE, {"nonsense": True}]}
    )
    assert len(env.notes) == 2
