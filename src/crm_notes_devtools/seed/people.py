"""Who exists in one company (cid): CRM users, CRM persons, CDP users and CDP contacts.

Pure and deterministic. Person and user classes are decided here; the notes that refer to
them (generator.py) read the expected outcome off the class.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from bson import Int64, ObjectId

from crm_notes_devtools.seed.payloads import FIRST_NAMES, LAST_NAMES, ODD_NAMES

#: Person classes: how many CDP contacts of the note's cid carry the person's source_id.
ONE_CONTACT = "one_contact"
NO_CONTACT = "no_contact"
TWO_CONTACTS = "two_contacts"
OTHER_CID_ONLY = "other_cid_only"  # no contact here; one in another cid with that source_id
ALSO_OTHER_CID = "also_other_cid"  # one contact here and one in another cid
PERSON_CLASS_WEIGHTS: dict[str, float] = {
    ONE_CONTACT: 0.92,
    NO_CONTACT: 0.03,
    TWO_CONTACTS: 0.025,
    OTHER_CID_ONLY: 0.0125,
    ALSO_OTHER_CID: 0.0125,
}

#: CRM user classes: how (and whether) the user's email finds a CDP user of the same cid.
CDP_EXACT = "cdp_exact"
CDP_CASE = "cdp_case"  # same email, different letter case
CDP_WHITESPACE = "cdp_whitespace"  # same email, surrounding whitespace (and case)
NO_CDP = "no_cdp_user"
NO_CDP_OTHER_CID = "no_cdp_user_other_cid"  # a CDP user with that email exists, in another cid
NULL_EMAIL = "null_email"
USER_CLASS_WEIGHTS: dict[str, float] = {
    CDP_EXACT: 0.60,
    CDP_CASE: 0.12,
    CDP_WHITESPACE: 0.10,
    NO_CDP: 0.10,
    NO_CDP_OTHER_CID: 0.05,
    NULL_EMAIL: 0.03,
}
#: Person and user ids start here, interleaved over cids, so they are unique across cids.
PERSON_ID_BASE = 500_000
USER_ID_BASE = 1_000


def object_id(seed: int, *parts: object) -> ObjectId:
    """A deterministic ObjectId from the seed and a path of parts."""
    key = ":".join(str(p) for p in (seed, *parts)).encode("utf-8")
    return ObjectId(hashlib.blake2b(key, digest_size=12).digest())


@dataclass(frozen=True, slots=True)
class CrmUser:
    id: int
    email: str | None
    full_name: str
    kind: str


@dataclass(slots=True)
class Directory:
    """The people of one cid, and the CDP documents that describe them."""

    cid: int
    users: list[CrmUser]
    users_by_kind: dict[str, list[CrmUser]]
    persons: dict[str, list[int]]
    contacts: list[dict] = field(default_factory=list)
    cdp_users: list[dict] = field(default_factory=list)


def _name(rng: random.Random) -> str:
    if rng.random() < 0.08:
        return rng.choice(ODD_NAMES)
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _emails(kind: str, base: str, u: int) -> tuple[str | None, str | None]:
    """(CRM email, CDP email) for a user of this kind; None where there is none."""
    local, domain = base.split("@")
    if kind == CDP_EXACT:
        return base, base
    if kind == CDP_CASE:
        return f"{local.title()}@{domain.upper()}", base
    if kind == CDP_WHITESPACE:
        return (f"  {base}\t", base.upper()) if u % 2 else (base, f" {local.title()}@{domain} ")
    if kind == NULL_EMAIL:
        return None, None
    return base, None


def build_directory(
    rng: random.Random, seed: int, cid: int, cid_index: int, n_cids: int, n_notes: int, other_cid: int
) -> Directory:
    """Users, persons, contacts and CDP users of one cid, sized for `n_notes` notes."""
    n_users = max(len(USER_CLASS_WEIGHTS), min(40, 4 + n_notes // 200) + rng.randint(0, 2))
    kinds = list(USER_CLASS_WEIGHTS)
    users: list[CrmUser] = []
    cdp_users: list[dict] = []
    for u in range(n_users):
        kind = kinds[u] if u < len(kinds) else rng.choices(kinds, weights=list(USER_CLASS_WEIGHTS.values()))[0]
        uid = USER_ID_BASE + u * n_cids + cid_index
        name = _name(rng)
        base = f"user{uid}.{rng.choice(LAST_NAMES).lower().replace(chr(39), '')}@company{cid}.co.id"
        crm_email, cdp_email = _emails(kind, base, u)
        users.append(CrmUser(uid, crm_email, name, kind))
        if cdp_email is not None:
            cdp_users.append(
                {"_id": object_id(seed, "user", cid, uid), "cid": Int64(cid), "email": cdp_email, "name": name}
            )
        elif kind == NO_CDP_OTHER_CID:
            cdp_users.append(
                {"_id": object_id(seed, "user", other_cid, uid), "cid": Int64(other_cid), "email": base, "name": name}
            )
        elif kind == NULL_EMAIL:  # a CDP user with the same name: names must not be matched
            cdp_users.append(
                {
                    "_id": object_id(seed, "user", cid, uid, "samename"),
                    "cid": Int64(cid),
                    "email": f"other{uid}@company{cid}.co.id",
                    "name": name,
                }
            )
    for extra in range(2):  # CDP-only users
        cdp_users.append(
            {
                "_id": object_id(seed, "cdp-only-user", cid, extra),
                "cid": Int64(cid),
                "email": f"cdp.only{extra}@company{cid}.co.id",
                "name": _name(rng),
            }
        )
    by_kind: dict[str, list[CrmUser]] = {k: [x for x in users if x.kind == k] for k in kinds}

    persons: dict[str, list[int]] = {}
    contacts: list[dict] = []
    p = 0
    for cls, weight in PERSON_CLASS_WEIGHTS.items():
        count = max(1, n_notes // 3) if cls == ONE_CONTACT else max(1, int(n_notes * weight / 2 + 0.5))
        ids = []
        for _ in range(count):
            pid = PERSON_ID_BASE + p * n_cids + cid_index
            p += 1
            ids.append(pid)
            contacts.extend(_contacts_for(rng, seed, cls, cid, other_cid, pid))
        persons[cls] = ids
    for native in range(max(1, n_notes // 60)):  # CDP-native contacts, no CRM link
        doc = {"_id": object_id(seed, "native-contact", cid, native), "cid": Int64(cid), "name": _name(rng)}
        if native % 3 == 1:
            doc["source_id"] = None
        elif native % 3 == 2:
            doc["source_id"] = ""
        contacts.append(doc)
    return Directory(cid, users, by_kind, persons, contacts, cdp_users)


def _contacts_for(rng: random.Random, seed: int, cls: str, cid: int, other_cid: int, pid: int) -> list[dict]:
    source_id = str(pid)
    here = {
        ONE_CONTACT: 1,
        NO_CONTACT: 0,
        TWO_CONTACTS: 3 if rng.random() < 0.25 else 2,
        OTHER_CID_ONLY: 0,
        ALSO_OTHER_CID: 1,
    }[cls]
    name = _name(rng)
    docs = [
        {"_id": object_id(seed, "contact", cid, pid, k), "cid": Int64(cid), "source_id": source_id, "name": name}
        for k in range(here)
    ]
    if cls in (OTHER_CID_ONLY, ALSO_OTHER_CID):
        docs.append(
            {
                "_id": object_id(seed, "contact", other_cid, pid, 0),
                "cid": Int64(other_cid),
                "source_id": source_id,
                "name": name,
            }
        )
    return docs
