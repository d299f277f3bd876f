"""The synthetic CRM (SPEC §2) and its CDP contacts and users (SPEC §3), from a seed.

`generate(notes, cids, seed)` is pure and deterministic: every draw comes from a
`random.Random` seeded from (seed, cid), nothing reads the clock. It streams `SeedChunk`s:
per cid first its users and contacts, then its notes in pages, each note with the outcome
the migration must reach, known by construction:

- out of scope: `deleted` (deleted_at set; counted first) or `no_person` (crm_person_id NULL);
- else parked `contact_not_found` (no contact of the cid has source_id = person) or
  `ambiguous_contact` (two or more), then `content_too_large` (sanitised content > 1 MiB);
- else `migrated`. No note of the seed is `invalid_note`.

Every hard case appears at a known rate (the `*_RATE` constants), and the first notes of
the first cid carry each one once (`FORCED`), so even a small seed holds all of them.

After each cid's notes comes a chunk of CDP-authored notes (cdp_notes.py) when the cid
has any, and after the last cid the CDP-only companies (`in_crm` False): contacts, users
and CDP-authored notes of cids that hold no CRM notes.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from crm_notes_devtools.seed.cdp_notes import (
    CID_RATE,
    NOTES_DIVISOR,
    cdp_authored_notes,
    cdp_only_cids,
    cdp_only_people,
)
from crm_notes_devtools.seed.content import ContentWriter, SentencePools
from crm_notes_devtools.seed.notes import NoteFactory
from crm_notes_devtools.seed.people import NO_CONTACT, OTHER_CID_ONLY, TWO_CONTACTS, Directory, build_directory
from crm_notes_migration.transform.types import AMBIGUOUS_CONTACT, CONTACT_NOT_FOUND, CONTENT_TOO_LARGE

MIGRATED = "migrated"
DELETED = "deleted"
NO_PERSON = "no_person"
OUTCOMES = (MIGRATED, CONTACT_NOT_FOUND, AMBIGUOUS_CONTACT, CONTENT_TOO_LARGE, DELETED, NO_PERSON)
#: Notes per chunk: bounds memory whatever the size of one cid.
DEFAULT_PAGE_SIZE = 1000
#: How unequal companies are: cid i gets a share ~ 1 / (i + 1) ** CID_SKEW (shuffled).
CID_SKEW = 0.5


@dataclass(slots=True)
class SeedChunk:
    """A slice of the fixture. Row tuples are in SPEC §2's column order."""

    cid: int
    crm_users: list[tuple] = field(default_factory=list)
    notes: list[tuple] = field(default_factory=list)
    attachments: list[tuple] = field(default_factory=list)
    contacts: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    #: (crm_notes.id, outcome) for each note of `notes`; outcome is one of OUTCOMES.
    outcomes: list[tuple[int, str]] = field(default_factory=list)
    hard_cases: Counter = field(default_factory=Counter)
    #: CDP-authored notes for `contact_notes` (cdp_notes.py).
    cdp_notes: list[dict] = field(default_factory=list)
    #: How many of `cdp_notes` are on a contact that receives migrated notes.
    cdp_on_migrated: int = 0
    #: False for a CDP-only company: it has contacts and users but no CRM rows.
    in_crm: bool = True


def cid_values(seed: int, cids: int) -> list[int]:
    """The company ids of a seed, ascending."""
    rng = random.Random(f"crm-seed:{seed}:cids")
    return sorted(rng.sample(range(101, 101 + 40 * cids + 1000), cids))


def allocate(seed: int, notes: int, cids: int) -> list[int]:
    """How many notes each cid gets: skewed, summing to `notes`, at least one each when possible."""
    rng = random.Random(f"crm-seed:{seed}:sizes")
    weights = [1 / (i + 1) ** CID_SKEW for i in range(cids)]
    rng.shuffle(weights)
    base = 1 if notes >= cids else 0
    rest = notes - base * cids
    total = sum(weights)
    exact = [rest * w / total for w in weights]
    counts = [base + math.floor(x) for x in exact]
    remainder = notes - sum(counts)
    by_fraction = sorted(range(cids), key=lambda i: (exact[i] - math.floor(exact[i]), -i), reverse=True)
    for i in by_fraction[:remainder]:
        counts[i] += 1
    return counts


def generate(notes: int, cids: int, seed: int, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[SeedChunk]:
    """Stream the whole fixture for (notes, cids, seed), cid by cid."""
    if notes < 0 or cids < 1:
        raise ValueError("need notes >= 0 and cids >= 1")
    values = cid_values(seed, cids)
    sizes = allocate(seed, notes, cids)
    writer = ContentWriter(SentencePools(random.Random(f"crm-seed:{seed}:text")))
    for index, (cid, n) in enumerate(zip(values, sizes, strict=True)):
        other = values[(index + 1) % cids] if cids > 1 else cid + 1
        yield from _cid_chunks(seed, index, cids, cid, n, other, writer, page_size)
    for cid in cdp_only_cids(seed, values):
        contacts, users = cdp_only_people(seed, cid)
        written = cdp_authored_notes(seed, cid, 1 + len(contacts) // 2, contacts, users, [], writer)
        yield SeedChunk(cid, contacts=contacts, users=users, cdp_notes=written, in_crm=False)


def _cid_chunks(
    seed: int, index: int, n_cids: int, cid: int, n: int, other_cid: int, writer: ContentWriter, page_size: int
) -> Iterator[SeedChunk]:
    rng = random.Random(f"crm-seed:{seed}:cid:{cid}")
    directory = build_directory(rng, seed, cid, index, n_cids, n, other_cid)
    yield SeedChunk(
        cid,
        crm_users=[(u.id, cid, u.email, u.full_name) for u in directory.users],
        contacts=directory.contacts,
        users=directory.cdp_users,
    )
    factory = NoteFactory(rng, writer, directory, index, n_cids, n, force_all=index == 0)
    migrated_persons: set[int] = set()
    for start in range(0, n, page_size):
        chunk = SeedChunk(cid)
        for j in range(start, min(n, start + page_size)):
            note = factory.note(j, chunk.hard_cases)
            chunk.notes.append(note.row)
            chunk.attachments.extend(note.attachments)
            outcome = expected_outcome(note.person_class, note.row, note.too_large)
            chunk.outcomes.append((note.row[0], outcome))
            if outcome == MIGRATED:
                migrated_persons.add(note.row[2])
        yield chunk
    cdp_chunk = _cdp_authored_chunk(seed, index, directory, migrated_persons, n, writer)
    if cdp_chunk.cdp_notes:
        yield cdp_chunk


def _cdp_authored_chunk(
    seed: int, index: int, directory: Directory, migrated_persons: set[int], n: int, writer: ContentWriter
) -> SeedChunk:
    """The CDP-authored notes of a CRM cid: on most cids (always the first one)."""
    cid = directory.cid
    chunk = SeedChunk(cid)
    if index != 0 and random.Random(f"crm-seed:{seed}:cdp-cid:{cid}").random() >= CID_RATE:
        return chunk
    migrated = sorted(
        {
            c["_id"]
            for c in directory.contacts
            if int(c["cid"]) == cid and c.get("source_id") and int(c["source_id"]) in migrated_persons
        }
    )
    count = max(3 if index == 0 else 1, 1 + n // NOTES_DIVISOR)
    chunk.cdp_notes = cdp_authored_notes(seed, cid, count, directory.contacts, directory.cdp_users, migrated, writer)
    on_migrated = set(migrated)
    chunk.cdp_on_migrated = sum(doc["contact_id"] in on_migrated for doc in chunk.cdp_notes)
    return chunk


def expected_outcome(person_class: str | None, row: tuple, too_large: bool) -> str:
    """The outcome of one note, by the rules of the module docstring."""
    _id, _cid, person, _content, _by, _created, _updated, deleted_at = row
    if deleted_at is not None:
        return DELETED
    if person is None:
        return NO_PERSON
    if person_class in (NO_CONTACT, OTHER_CID_ONLY):
        return CONTACT_NOT_FOUND
    if person_class == TWO_CONTACTS:
        return AMBIGUOUS_CONTACT
    if too_large:
        return CONTENT_TOO_LARGE
    return MIGRATED
