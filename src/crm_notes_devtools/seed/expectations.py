"""What the migration must reach for a seed: per cid, migrated / parked by reason / out of scope,
and the CDP-authored notes it must leave byte-identical."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from bson import ObjectId

from crm_notes_devtools.seed.cdp_notes import note_sha256, notes_digest
from crm_notes_devtools.seed.generator import DELETED, MIGRATED, NO_PERSON, SeedChunk
from crm_notes_migration.transform.types import REASONS


def _empty() -> dict:
    return {"in_scope": 0, "migrated": 0, "parked": {r: 0 for r in REASONS}, "out_of_scope": {DELETED: 0, NO_PERSON: 0}}


@dataclass(slots=True)
class SeedExpectations:
    """Counts by construction, accumulated chunk by chunk (see generator's docstring)."""

    seed: int
    notes: int
    cids: int
    per_cid: dict[int, dict] = field(default_factory=dict)
    hard_cases: Counter = field(default_factory=Counter)
    #: Rows written, for the summary: crm_users, crm_notes, crm_note_attachments, contacts, users,
    #: contact_notes (the CDP-authored notes).
    rows: Counter = field(default_factory=Counter)
    #: CDP-authored notes: `_id` → SHA-256 of the note's BSON (cdp_notes.note_sha256).
    cdp_authored: dict[ObjectId, bytes] = field(default_factory=dict)
    #: Their number per cid, and how many have mentions / sit on contacts that receive
    #: migrated notes / belong to cids without CRM notes.
    cdp_authored_per_cid: Counter = field(default_factory=Counter)
    cdp_authored_kinds: Counter = field(default_factory=Counter)

    def add(self, chunk: SeedChunk) -> None:
        """Count one chunk of the generator."""
        self._add_cdp_authored(chunk)
        self.rows.update({"contacts": len(chunk.contacts), "users": len(chunk.users)})
        if not chunk.in_crm:
            return
        entry = self.per_cid.setdefault(chunk.cid, _empty())
        for _note_id, outcome in chunk.outcomes:
            if outcome in (DELETED, NO_PERSON):
                entry["out_of_scope"][outcome] += 1
                continue
            entry["in_scope"] += 1
            if outcome == MIGRATED:
                entry["migrated"] += 1
            else:
                entry["parked"][outcome] += 1
        self.hard_cases.update(chunk.hard_cases)
        self.rows.update(
            {
                "crm_users": len(chunk.crm_users),
                "crm_notes": len(chunk.notes),
                "crm_note_attachments": len(chunk.attachments),
            }
        )

    def _add_cdp_authored(self, chunk: SeedChunk) -> None:
        if not chunk.cdp_notes:
            return
        for doc in chunk.cdp_notes:
            self.cdp_authored[doc["_id"]] = note_sha256(doc)
        n = len(chunk.cdp_notes)
        self.rows["contact_notes"] += n
        self.cdp_authored_per_cid[chunk.cid] += n
        self.cdp_authored_kinds["with_mentions"] += sum(bool(doc["mentions"]) for doc in chunk.cdp_notes)
        self.cdp_authored_kinds["on_migrated_contacts"] += chunk.cdp_on_migrated
        if not chunk.in_crm:
            self.cdp_authored_kinds["in_cids_without_crm_notes"] += n

    def cdp_authored_json(self) -> dict:
        """The CDP-authored notes: counts, and `sha256`, the digest that `verify` recomputes
        from the CDP (cdp_notes.notes_digest) to show they stayed byte-identical."""
        kinds = self.cdp_authored_kinds
        return {
            "notes": len(self.cdp_authored),
            "with_mentions": kinds["with_mentions"],
            "on_migrated_contacts": kinds["on_migrated_contacts"],
            "in_cids_without_crm_notes": kinds["in_cids_without_crm_notes"],
            "per_cid": {str(cid): self.cdp_authored_per_cid[cid] for cid in sorted(self.cdp_authored_per_cid)},
            "sha256": notes_digest(self.cdp_authored.items()),
        }

    def totals(self) -> dict:
        """The per-cid counts summed, plus the number of notes."""
        total = _empty()
        for entry in self.per_cid.values():
            total["in_scope"] += entry["in_scope"]
            total["migrated"] += entry["migrated"]
            for key in ("parked", "out_of_scope"):
                for name, n in entry[key].items():
                    total[key][name] += n
        total["notes"] = self.rows["crm_notes"]
        return total

    def to_json(self) -> dict:
        """The expectations JSON of docs/INTERFACES.md (cids as string keys, ascending)."""
        return {
            "seed": self.seed,
            "notes": self.notes,
            "cids": self.cids,
            "totals": self.totals(),
            "per_cid": {str(cid): self.per_cid[cid] for cid in sorted(self.per_cid)},
            "cdp_authored": self.cdp_authored_json(),
        }


def expectations_of(chunks: Iterable[SeedChunk], seed: int, notes: int, cids: int) -> SeedExpectations:
    """Expectations of a generated stream, without loading it anywhere."""
    exp = SeedExpectations(seed, notes, cids)
    for chunk in chunks:
        exp.add(chunk)
    return exp
