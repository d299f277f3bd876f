"""What the migration must reach for a seed: per cid, migrated / parked by reason / out of scope."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from crm_notes_migration.transform.types import REASONS
from crm_notes_devtools.seed.generator import DELETED, MIGRATED, NO_PERSON, SeedChunk


def _empty() -> dict:
    return {"in_scope": 0, "migrated": 0, "parked": {r: 0 for r in REASONS},
            "out_of_scope": {DELETED: 0, NO_PERSON: 0}}


@dataclass(slots=True)
class SeedExpectations:
    """Counts by construction, accumulated chunk by chunk (see generator's docstring)."""

    seed: int
    notes: int
    cids: int
    per_cid: dict[int, dict] = field(default_factory=dict)
    hard_cases: Counter = field(default_factory=Counter)
    #: Rows written, for the summary: crm_users, crm_notes, crm_note_attachments, contacts, users.
    rows: Counter = field(default_factory=Counter)

    def add(self, chunk: SeedChunk) -> None:
        """Count one chunk of the generator."""
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
        self.rows.update({"crm_users": len(chunk.crm_users), "crm_notes": len(chunk.notes),
                          "crm_note_attachments": len(chunk.attachments), "contacts": len(chunk.contacts),
                          "users": len(chunk.users)})

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
        }


def expectations_of(chunks: Iterable[SeedChunk], seed: int, notes: int, cids: int) -> SeedExpectations:
    """Expectations of a generated stream, without loading it anywhere."""
    exp = SeedExpectations(seed, notes, cids)
    for chunk in chunks:
        exp.add(chunk)
    return exp
