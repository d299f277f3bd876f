"""One crm_notes row (with its attachments) at a time, hard cases at known rates."""

from __future__ import annotations

import base64
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from crm_notes_devtools.seed.content import ContentWriter, mention_span
from crm_notes_devtools.seed.payloads import (
    ATTACHMENT_SCHEMES,
    ATTACHMENT_WEIGHTS,
    CONTROL_SNIPPETS,
    FILE_NAMES,
    XSS_KINDS,
    XSS_PAYLOADS,
)
from crm_notes_devtools.seed.people import (
    ALSO_OTHER_CID,
    CDP_CASE,
    CDP_WHITESPACE,
    NO_CDP,
    NO_CDP_OTHER_CID,
    NO_CONTACT,
    ONE_CONTACT,
    OTHER_CID_ONLY,
    PERSON_CLASS_WEIGHTS,
    TWO_CONTACTS,
    USER_CLASS_WEIGHTS,
    CrmUser,
    Directory,
)

DELETED_RATE = 0.04
NO_PERSON_RATE = 0.03
CONTENT_NULL_RATE = 0.01
CONTENT_EMPTY_RATE = 0.015  # "", the editor's empty "<p><br></p>", whitespace only
TOO_LARGE_RATE = 1 / 4000  # ~1.3 MiB of plain paragraphs: over 1 MiB after sanitising
LARGE_RAW_RATE = 1 / 10000  # ~1.09 MiB raw, half of it <script>: under 1 MiB after sanitising
XSS_RATE = 0.03
CONTROL_RATE = 0.02
MENTION_RATE = 0.30
CJK_RATE = RTL_RATE = 0.03
EMOJI_RATE = 0.10
INLINE_IMAGE_RATE = 0.003
ATTACHMENT_RATE = 0.20
CREATED_BY_NULL_RATE = 0.04
CREATED_BY_DANGLING_RATE = 0.03
UPDATED_NULL_RATE = 0.30
UPDATED_BEFORE_CREATED_RATE = 0.02
DST_EDGE_RATE = 0.002
ENGLISH_RATE = 0.4
#: Sizes: 93% lognormal (median ~0.6 KB) in 150 B..4 KB, 6% 4..12 KB, 1% a Pareto tail to 200 KB.
TOO_LARGE_BYTES = 1_363_149  # 1.3 MiB
LARGE_RAW_VISIBLE_BYTES = 620_000
LARGE_RAW_SCRIPT_BYTES = 520_000
DANGLING_USER_ID_BASE = 900_000_000
NOTE_ID_BASE = 10_000
EPOCH = datetime(2016, 1, 1)
SPAN_SECONDS = 8 * 365 * 86400
#: Naive wall-clock times that do not exist or exist twice in common DST zones.
DST_EDGES = (
    datetime(2021, 3, 14, 2, 30),
    datetime(2021, 11, 7, 1, 30, 15),
    datetime(2022, 3, 27, 2, 15),
    datetime(2022, 10, 30, 2, 45, 0, 123456),
)
#: The first notes of the first cid carry these, one each, so every seed holds them all.
FORCED: tuple[str, ...] = (
    "too_large",
    "large_raw_small_sanitised",
    "deleted",
    "no_person",
    NO_CONTACT,
    TWO_CONTACTS,
    OTHER_CID_ONLY,
    ALSO_OTHER_CID,
    "content_null",
    "content_empty",
    "control_chars",
    "dst_edge",
    "updated_before_created",
    "updated_at_null",
    "created_by_dangling",
    "created_by_null",
    "author_" + NO_CDP,
    "author_" + CDP_CASE,
    "author_" + CDP_WHITESPACE,
    "mention_" + NO_CDP,
    "mention_" + CDP_CASE,
    "mention_" + CDP_WHITESPACE,
    "mention_" + NO_CDP_OTHER_CID,
    "inline_data_image",
    "long_tail",
    "cjk",
    "rtl",
    "emoji",
    "attachments_all_schemes",
    *XSS_KINDS,
)
_PERSON_CLASSES = list(PERSON_CLASS_WEIGHTS)
_PERSON_WEIGHTS = list(PERSON_CLASS_WEIGHTS.values())
_USER_KINDS = list(USER_CLASS_WEIGHTS)
_USER_WEIGHTS = list(USER_CLASS_WEIGHTS.values())


@dataclass(slots=True)
class GeneratedNote:
    row: tuple  # crm_notes columns in SPEC §2 order
    attachments: list[tuple]
    person_class: str | None
    too_large: bool


class NoteFactory:
    """Makes the notes of one cid; `note(j)` must be called for j = 0, 1, 2, … in order."""

    def __init__(
        self,
        rng: random.Random,
        writer: ContentWriter,
        directory: Directory,
        cid_index: int,
        n_cids: int,
        n_notes: int,
        force_all: bool,
    ) -> None:
        self.rng, self.writer, self.dir = rng, writer, directory
        self.cid_index, self.n_cids, self.n_notes = cid_index, n_cids, n_notes
        self.force_all = force_all

    def note(self, j: int, hc: Counter) -> GeneratedNote:
        rng = self.rng
        force = FORCED[j] if self.force_all and j < len(FORCED) else None
        nid = NOTE_ID_BASE + j * self.n_cids + self.cid_index
        deleted = force == "deleted" or (force is None and rng.random() < DELETED_RATE)
        no_person = force == "no_person" or (force is None and rng.random() < NO_PERSON_RATE)
        if force in PERSON_CLASS_WEIGHTS:
            cls = force
        elif force is None:
            cls = rng.choices(_PERSON_CLASSES, weights=_PERSON_WEIGHTS)[0]
        else:
            cls = ONE_CONTACT
        persons = self.dir.persons[cls]
        person = None if no_person else persons[int(len(persons) * rng.random() ** 2)]
        if deleted:
            hc["deleted"] += 1
        if no_person:
            hc["no_person"] += 1
        elif cls != ONE_CONTACT:
            hc["person_" + cls] += 1
        created_by = self._author(force, hc)
        content, too_large = self._content(force, hc)
        created_at, updated_at, deleted_at = self._times(force, deleted, j, hc)
        attachments = self._attachments(force, nid, created_at, hc)
        row = (nid, self.dir.cid, person, content, created_by, created_at, updated_at, deleted_at)
        return GeneratedNote(row, attachments, None if no_person else cls, too_large)

    def _user(self, force: str | None, prefix: str) -> CrmUser:
        """A user of the cid; its class drawn at USER_CLASS_WEIGHTS unless forced."""
        if force and force.startswith(prefix):
            kind = force[len(prefix) :]
        else:
            kind = self.rng.choices(_USER_KINDS, weights=_USER_WEIGHTS)[0]
        return self.rng.choice(self.dir.users_by_kind[kind])

    def _author(self, force: str | None, hc: Counter) -> int | None:
        r = self.rng.random()
        if force == "created_by_null" or (force is None and r < CREATED_BY_NULL_RATE):
            hc["created_by_null"] += 1
            return None
        if force == "created_by_dangling" or (force is None and r < CREATED_BY_NULL_RATE + CREATED_BY_DANGLING_RATE):
            hc["created_by_dangling"] += 1
            return DANGLING_USER_ID_BASE + self.rng.randrange(1_000_000)
        user = self._user(force, "author_")
        hc["author_" + user.kind] += 1
        return user.id

    def _content(self, force: str | None, hc: Counter) -> tuple[str | None, bool]:
        rng, w = self.rng, self.writer
        lang = "en" if rng.random() < ENGLISH_RATE else "id"
        r = rng.random()
        if force == "content_null" or (force is None and r < CONTENT_NULL_RATE):
            hc["content_null"] += 1
            return None, False
        r -= CONTENT_NULL_RATE
        if force == "content_empty" or (force is None and r < CONTENT_EMPTY_RATE):
            content = rng.choice(("", "<p><br></p>", "  \n "))
            hc[{"": "content_empty", "<p><br></p>": "content_editor_empty"}.get(content, "content_whitespace")] += 1
            return content, False
        r -= CONTENT_EMPTY_RATE
        if force == "too_large" or (force is None and r < TOO_LARGE_RATE):
            hc["too_large"] += 1
            return w.plain_paragraphs(rng, lang, TOO_LARGE_BYTES), True
        r -= TOO_LARGE_RATE
        if force == "large_raw_small_sanitised" or (force is None and r < LARGE_RAW_RATE):
            hc["large_raw_small_sanitised"] += 1
            script = base64.b64encode(rng.randbytes(LARGE_RAW_SCRIPT_BYTES * 3 // 4)).decode("ascii")
            visible = w.plain_paragraphs(rng, lang, LARGE_RAW_VISIBLE_BYTES)
            return f"{visible}<script>var blob = '{script}';</script>", False
        hc["lang_" + lang] += 1
        return w.body(rng, lang, self._target_size(force, hc), self._extras(force, lang, hc)), False

    def _target_size(self, force: str | None, hc: Counter) -> int:
        rng = self.rng
        r = rng.random()
        if force == "long_tail" or (force is None and r >= 0.99):
            hc["long_tail"] += 1
            return int(min(200_000, 12_000 * rng.paretovariate(1.2)))
        if r >= 0.93:
            return rng.randint(4096, 12_000)
        return int(min(3900, max(150, rng.lognormvariate(6.4, 0.7))))

    def _extras(self, force: str | None, lang: str, hc: Counter) -> list[str]:
        rng, w = self.rng, self.writer
        extras: list[str] = []
        if (force or "").startswith("mention_") or (force is None and rng.random() < MENTION_RATE):
            extras.append(self._mentions(force, lang, hc))
        if force in XSS_KINDS or (force is None and rng.random() < XSS_RATE):
            kind, payload = rng.choice([p for p in XSS_PAYLOADS if p[0] == force] if force else XSS_PAYLOADS)
            hc[kind] += 1
            extras.append(payload)
        if force == "control_chars" or (force is None and rng.random() < CONTROL_RATE):
            hc["control_chars"] += 1
            extras.append(f"<p>{rng.choice(CONTROL_SNIPPETS)} {w.text(rng, lang, 1)}</p>")
        for kind, rate in (("cjk", CJK_RATE), ("rtl", RTL_RATE), ("emoji", EMOJI_RATE)):
            if force == kind or (force is None and rng.random() < rate):
                hc[kind] += 1
                extras.append(w.mixed_script_block(rng, kind))
        if force == "inline_data_image" or (force is None and rng.random() < INLINE_IMAGE_RATE):
            hc["inline_data_image"] += 1
            extras.append(w.inline_image(rng, rng.randint(2_000, 60_000)))
        return extras

    def _mentions(self, force: str | None, lang: str, hc: Counter) -> str:
        rng = self.rng
        users = [self._user(force, "mention_")] + [self._user(None, "") for _ in range(rng.randint(0, 2))]
        if rng.random() < 0.1:
            users.append(users[0])
            hc["mention_duplicate"] += 1
        parts = []
        for index, user in enumerate(users):
            hc["mention_" + user.kind] += 1
            parts.append(f"{self.writer.text(rng, lang, 1)} {mention_span(index, user.id, user.full_name)}")
        return f"<p>{' '.join(parts)} {self.writer.text(rng, lang, 1)}</p>"

    def _time(self, base: datetime, hc: Counter) -> datetime:
        r = self.rng.random()
        if r < 0.4:
            hc["ts_microseconds"] += 1
            return base.replace(microsecond=self.rng.randrange(1, 1_000_000) | 1)
        if r < 0.7:
            return base.replace(microsecond=self.rng.randrange(1000) * 1000)
        return base.replace(microsecond=0)

    def _times(self, force: str | None, deleted: bool, j: int, hc: Counter) -> tuple:
        rng = self.rng
        if force == "dst_edge" or (force is None and rng.random() < DST_EDGE_RATE):
            hc["dst_edge"] += 1
            created = rng.choice(DST_EDGES)
        else:
            offset = SPAN_SECONDS * (j + rng.random()) / max(1, self.n_notes)
            created = self._time(EPOCH + timedelta(seconds=int(offset)), hc)
        r = rng.random()
        if force == "updated_at_null" or (force is None and r < UPDATED_NULL_RATE):
            hc["updated_at_null"] += 1
            updated = None
        elif force == "updated_before_created" or (
            force is None and r < UPDATED_NULL_RATE + UPDATED_BEFORE_CREATED_RATE
        ):
            hc["updated_before_created"] += 1
            updated = self._time(created - timedelta(seconds=rng.randint(1, 30 * 86400)), hc)
        else:
            updated = self._time(created + timedelta(seconds=rng.randint(60, 400 * 86400)), hc)
        deleted_at = self._time(created + timedelta(seconds=rng.randint(60, 200 * 86400)), hc) if deleted else None
        return created, updated, deleted_at

    def _attachments(self, force: str | None, nid: int, created: datetime, hc: Counter) -> list[tuple]:
        rng = self.rng
        if force == "attachments_all_schemes":
            schemes = list(ATTACHMENT_SCHEMES)
        elif force is None and rng.random() < ATTACHMENT_RATE:
            schemes = rng.choices(ATTACHMENT_SCHEMES, weights=ATTACHMENT_WEIGHTS, k=rng.choice((1, 1, 1, 2, 3)))
        else:
            return []
        rows = []
        for a, (kind, prefix) in enumerate(schemes):
            hc[kind] += 1
            name, ctype = rng.choice(FILE_NAMES)
            r = rng.random()
            size = None if r < 0.05 else 0 if r < 0.07 else rng.randint(1_000, 25_000_000)
            url = f"{prefix}{nid}/{a}/{quote(name)}"
            rows.append((nid * 8 + a, nid, name, url, ctype, size, created + timedelta(seconds=rng.randint(0, 600))))
        return rows
