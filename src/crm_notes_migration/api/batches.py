"""The migrate endpoint's use case: validate, answer idempotently, park the invalid,
enqueue the rest. HTTP-free so the app only translates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm_notes_migration.cdp.batches import DISCARDED, DONE, QUEUED, BatchLedger, canonical_sha256
from crm_notes_migration.cdp.store import NoteStore
from crm_notes_migration.contract import BatchEnvelope, NoteV1, validate_note
from crm_notes_migration.queue.broker import BatchQueue
from crm_notes_migration.transform import INVALID_NOTE
from crm_notes_migration.usecases.contact_gone import ContactsOf, notes_with_contact_gone, recheck_batch_id
from crm_notes_migration.usecases.ingest import park_record

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: `note.model_dump(mode=...)` without the Python wrapper around pydantic-core.
_to_json = NoteV1.__pydantic_serializer__.to_python


class Conflict(Exception):
    """The batch_id was used before with a different body."""


class Overloaded(Exception):
    """The queue is over its high-water mark."""


@dataclass
class Outcome:
    response: dict[str, Any]
    replay: bool


def _ints_fit(value: Any) -> bool:
    """Whether every integer in `value` fits 64 bits (bools aside)."""
    kind = type(value)
    if kind is dict:
        return all(_ints_fit(item) for item in value.values())
    if kind is list:
        return all(_ints_fit(item) for item in value)
    if kind is int:
        return INT64_MIN <= value <= INT64_MAX
    if kind is str or value is None or kind is bool or kind is float:
        return True
    return _ints_fit_any(value)


def _ints_fit_any(value: Any) -> bool:
    """`_ints_fit` for subclasses of the JSON types (none come from the parsers)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX
    if isinstance(value, dict):
        return all(_ints_fit(v) for v in value.values())
    if isinstance(value, list):
        return all(_ints_fit(v) for v in value)
    return True


def _usable_id(raw: Any) -> int | None:
    value = raw.get("legacy_crm_note_id") if isinstance(raw, dict) else None
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= INT64_MAX
    return value if ok else None


def split_notes(
    cid: int, notes: list[Any], check_text: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict]]:
    """(accepted notes as contract JSON, rejections, parked records of the rejected).
    `check_text=False`: the notes come from orjson, so hold no lone surrogate."""
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    parks: list[dict[str, Any]] = []
    seen: set[int] = set()
    for raw in notes:
        note, detail = validate_note(raw, check_text) if isinstance(raw, dict) else (None, "note: not an object")
        if note is not None and not _ints_fit(raw):
            note, detail = None, "an integer is out of the 64-bit range"
        lid = _usable_id(raw)
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
        accepted.append(_to_json(note, mode="json"))
    return accepted, rejected, parks


class BatchIntake:
    """Receives batches: idempotent on batch_id, durable in MongoDB, enqueued in Redis.

    A batch sent again after it was done is no new work, except for SPEC §3's "Contact
    gone": its notes whose migration document points at a contact that no longer carries
    the note's person go to the worker again, as a batch of their own (`recheck_batch_id`),
    so that each pass of `run` applies the rule. Without `contacts_of` that check is off."""

    def __init__(
        self,
        ledger: BatchLedger,
        store: NoteStore,
        queue: BatchQueue,
        high_water_notes: int,
        contacts_of: ContactsOf | None = None,
    ) -> None:
        self.ledger, self.store, self.queue = ledger, store, queue
        self.high_water_notes = high_water_notes
        self.contacts_of = contacts_of

    def receive(self, payload: dict[str, Any], envelope: BatchEnvelope, check_text: bool = True) -> Outcome:
        """Answer one batch. Raises Conflict, Overloaded. `check_text=False`: the body was
        parsed by orjson, so holds no lone surrogate (see `split_notes`)."""
        body_sha = canonical_sha256(payload)
        known = self.ledger.get(envelope.batch_id)
        if known is not None:
            return self._replay(known, body_sha, envelope)
        if self.queue.queued_notes() >= self.high_water_notes:
            raise Overloaded()
        cid = envelope.cid
        accepted, rejected, parks = split_notes(cid, envelope.notes, check_text)
        response = {"batch_id": envelope.batch_id, "accepted": len(accepted), "rejected": rejected}
        now = datetime.now(UTC)
        self.store.park(parks, now)
        record = {
            "_id": envelope.batch_id,
            "cid": cid,
            "body_sha256": body_sha,
            "response": response,
            "accepted": len(accepted),
            "status": QUEUED if accepted else DONE,
            "created_at": now,
        }
        if not accepted:
            record["done_at"] = now
        other = self.ledger.claim(record)
        if other is not None:
            return self._replay(other, body_sha, envelope)
        if accepted:
            self.queue.enqueue_batch(cid, envelope.batch_id, accepted, new=True)
        return Outcome(response, replay=False)

    def _replay(self, known: dict[str, Any], body_sha: str, envelope: BatchEnvelope) -> Outcome:
        if known.get("body_sha256") != body_sha:
            raise Conflict()
        if known.get("status") == DISCARDED and self.ledger.revive(envelope.batch_id):
            # its job was discarded (failed-jobs --discard): sent again, it is queued again
            accepted, _, _ = split_notes(envelope.cid, envelope.notes)
            self.queue.enqueue_batch(envelope.cid, envelope.batch_id, accepted, new=True)
            return Outcome(known["response"], replay=False)
        if known.get("status") == QUEUED:
            # Still queued: put it back unless it is on the queue (it may have been lost
            # with Redis); the worker is idempotent, so a second delivery is harmless.
            accepted, _, _ = split_notes(envelope.cid, envelope.notes)
            self.queue.enqueue_batch(envelope.cid, envelope.batch_id, accepted)
        elif self.contacts_of is not None and known.get("accepted"):
            self._recheck(envelope)
        return Outcome(known["response"], replay=True)

    def _recheck(self, envelope: BatchEnvelope) -> None:
        """Send the done batch's notes whose contact is gone to the worker again (once per
        stored state: the recheck's id says which)."""
        accepted, _, _ = split_notes(envelope.cid, envelope.notes)
        assert self.contacts_of is not None  # _recheck runs only with it
        gone = notes_with_contact_gone(self.store, self.contacts_of, envelope.cid, accepted)
        if not gone:
            return
        notes = [dict(note) for note, _ in gone]
        batch_id = recheck_batch_id(envelope.batch_id, gone)
        now = datetime.now(UTC)
        record = {
            "_id": batch_id,
            "cid": envelope.cid,
            "body_sha256": canonical_sha256(notes),
            "rechecks": envelope.batch_id,
            "response": {"batch_id": batch_id, "accepted": len(notes), "rejected": []},
            "accepted": len(notes),
            "status": QUEUED,
            "created_at": now,
        }
        other = self.ledger.claim(record)
        if other is None or other.get("status") == QUEUED:
            self.queue.enqueue_batch(envelope.cid, batch_id, notes, new=other is None)
