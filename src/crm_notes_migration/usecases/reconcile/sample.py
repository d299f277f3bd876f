"""The QA sample: per cid, a seeded random sample that always holds every hard case present.

Stratified by reservoir sampling over the cid's stream: one reservoir of `n` notes plus one
single-slot reservoir per hard-case category (among the notes covering the most categories),
so memory is O(n + categories) per cid and the same seed over the same data picks the same
notes. A category already shown by another picked note adds no note of its own.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_notes_migration.transform.attachments import ATTACHMENT_DROPPED as _ATTACHMENT_DROPPED
from crm_notes_migration.transform.legacy import AUTHOR_UNKNOWN, MENTIONED_USER_UNKNOWN
from crm_notes_migration.transform.note import AUTHOR_UNRESOLVED
from crm_notes_migration.transform.note import UNRESOLVED_MENTION as _UNRESOLVED_MENTION
from crm_notes_migration.transform.times import DST_AMBIGUOUS, DST_NONEXISTENT, UPDATED_BEFORE_CREATED

#: Hard-case categories: the one set of names the sampler, the report's badges, filters and
#: guidance, and the exported verdicts use. Where a category stands for transform anomalies,
#: it is named like them (`ANOMALY_CATEGORY` maps every anomaly code to its category).
MENTIONS = "mentions"
SANITISED_XSS = "sanitised_xss"
UNICODE = "unicode"
LEGACY_ENCODING = "legacy_encoding"  # SPEC §6a: the anomaly of a note decoded as Windows-1252
ATTACHMENTS = "attachments"
TIMESTAMP_ANOMALY = "timestamp_anomaly"
UNRESOLVED_MENTION = _UNRESOLVED_MENTION
ATTACHMENT_DROPPED = _ATTACHMENT_DROPPED
AUTHOR_ANOMALY = "author_anomaly"
OTHER_ANOMALY = "other_anomaly"
PARKED = "parked"
EDITED_IN_CDP = "edited_in_cdp"
PROBLEM = "problem"
EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Category:
    """What a hard-case category means and what the reviewer checks for it."""

    meaning: str
    check: str


CATEGORIES: dict[str, Category] = {
    PROBLEM: Category(
        "reconcile found the stored note missing or different from what the core makes of the source today",
        "Compare both sides and the text diff: the listed problem (content, times, attachments, …) must be "
        "explained, or the note fails.",
    ),
    MENTIONS: Category(
        "the legacy note mentions users",
        "Every legacy mention (marked on both sides) became a CDP user chip, or plain @Name text when "
        "unresolved; the mentions table names each one's outcome and flags a mismatch.",
    ),
    UNRESOLVED_MENTION: Category(
        "a mention whose user could not be resolved in the CDP (anomalies unresolved_mention, "
        "mentioned_user_unknown) became the plain text @Name",
        "The @Name text is still there on the migrated side (marked with a dashed outline), and the "
        "person really is unknown to the CDP, not a lost link.",
    ),
    SANITISED_XSS: Category(
        "the legacy HTML holds code (script, handlers, frames, javascript: or data: URLs, …) that the "
        "sanitiser removes",
        "The HTML diff shows only code removed (red), never readable text; the visible text diff stays identical.",
    ),
    UNICODE: Category(
        "non-ASCII text (accents, CJK, emoji, right-to-left)",
        "The text reads the same on both sides: no mojibake, no ? or boxes, no cut characters.",
    ),
    LEGACY_ENCODING: Category(
        "the note's bytes were not valid UTF-8 and were decoded as Windows-1252 (anomaly legacy_encoding)",
        "The migrated text reads naturally (quotes, dashes, accents); U+FFFD marks bytes that code page "
        "leaves undefined.",
    ),
    ATTACHMENTS: Category(
        "the note has attachments",
        "One migrated entry per legacy attachment, same names; URLs moved by ATTACHMENT_URL_REWRITE only.",
    ),
    ATTACHMENT_DROPPED: Category(
        "an attachment whose URL is not http(s) was dropped (anomaly attachment_dropped)",
        "The dropped file (highlighted by name) really had an unusable URL; nothing that should have "
        "been kept is gone.",
    ),
    TIMESTAMP_ANOMALY: Category(
        "a DST-ambiguous or missing local time (dst_ambiguous, dst_nonexistent; fold=0 chosen), "
        "updated_before_created (kept as is), or microseconds cut to milliseconds",
        "The UTC values are the wall clock converted from CRM_TIMEZONE; flagged rows explain the "
        "oddity; only sub-millisecond digits may differ.",
    ),
    AUTHOR_ANOMALY: Category(
        "the author is unknown in the CRM (author_unknown) or has no CDP user (author_unresolved, "
        "created_by stays null)",
        "The author line: the legacy author is really unknown or absent from the CDP, and created_by "
        "is empty rather than someone else.",
    ),
    OTHER_ANOMALY: Category("a transform anomaly of no other category", "Read the anomaly code and check the note."),
    PARKED: Category(
        "the note is parked, not migrated (its reason: contact_not_found, ambiguous_contact, "
        "content_too_large, invalid_note)",
        "The reason is right for this note; someone must act (sync contacts and retry-parked, or shorten "
        "the note) before the cut-over.",
    ),
    EDITED_IN_CDP: Category(
        "the CDP's copy was edited after the migration; the migration keeps the edit",
        "The migrated side is the user's edit, not a migration fault.",
    ),
    EMPTY: Category("the legacy note is empty", "The migrated note is empty too (nothing invented)."),
}
HARD_CASES = tuple(CATEGORIES)

#: Every transform anomaly code → its sample category (a code not listed: OTHER_ANOMALY).
ANOMALY_CATEGORY: dict[str, str] = {
    _UNRESOLVED_MENTION: UNRESOLVED_MENTION,
    MENTIONED_USER_UNKNOWN: UNRESOLVED_MENTION,
    _ATTACHMENT_DROPPED: ATTACHMENT_DROPPED,
    LEGACY_ENCODING: LEGACY_ENCODING,
    DST_AMBIGUOUS: TIMESTAMP_ANOMALY,
    DST_NONEXISTENT: TIMESTAMP_ANOMALY,
    UPDATED_BEFORE_CREATED: TIMESTAMP_ANOMALY,
    AUTHOR_UNKNOWN: AUTHOR_ANOMALY,
    AUTHOR_UNRESOLVED: AUTHOR_ANOMALY,
}


def anomaly_category(code: str) -> str:
    """The sample category of an anomaly code (`attachment_dropped:12` → `attachment_dropped`)."""
    return ANOMALY_CATEGORY.get(code.split(":", 1)[0], OTHER_ANOMALY)


def sub_millisecond(value: datetime | str | None) -> bool:
    """True when storing `value` cuts digits (MongoDB keeps milliseconds)."""
    return isinstance(value, datetime) and value.microsecond % 1000 != 0


#: Hints searched in the lowered HTML (a case-sensitive search there is several times
#: faster than an IGNORECASE one over the original, and every note is searched).
_MENTION = re.compile(r"""class\s*=\s*["'][^"']*\bmention\b|data-mention|mention://""")
_HOSTILE = re.compile(
    r"<\s*/?\s*(script|style|iframe|object|embed|form|meta|link|base|svg)\b|\son\w+\s*=|javascript:|vbscript:|data:"
)


@dataclass(slots=True)
class Sample:
    """One note as the reviewer sees it: the legacy row and what the CDP holds for it."""

    cid: int
    legacy_crm_note_id: int
    outcome: str  # migrated | edited_in_cdp | parked:<reason> | missing | mismatch
    legacy_html: str | None
    legacy_created_at: datetime | str | None  # naive wall clock in CRM_TIMEZONE (text: see SPEC §6a)
    legacy_updated_at: datetime | str | None
    legacy_attachments: list[dict[str, Any]] = field(default_factory=list)
    migrated_html: str | None = None
    migrated_created_at: datetime | None = None  # aware (or naive UTC from pymongo)
    migrated_updated_at: datetime | None = None
    migrated_attachments: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)  # the CDP users' names of the stored mentions
    legacy_author: dict[str, Any] | None = None  # {crm_user_id, email, name} (name None: unknown)
    migrated_author: str | None = None  # the stored created_by (CDP user id), if any
    legacy_mentioned: list[dict[str, Any]] = field(default_factory=list)  # {crm_user_id, email, name}
    anomalies: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    categories: tuple[str, ...] = ()


def categorise(sample: Sample) -> tuple[str, ...]:
    """The hard-case categories a sample belongs to (empty for a plain note), in
    `CATEGORIES` order; anomaly codes count through `ANOMALY_CATEGORY`."""
    html = sample.legacy_html or ""
    lowered = html.lower()
    found = {anomaly_category(code) for code in sample.anomalies}
    if "mention" in lowered and _MENTION.search(lowered):
        found.add(MENTIONS)
    if _HOSTILE.search(lowered):
        found.add(SANITISED_XSS)
    if not html.isascii():
        found.add(UNICODE)
    if sample.legacy_attachments:
        found.add(ATTACHMENTS)
    created, updated = sample.legacy_created_at, sample.legacy_updated_at
    # not text PostgreSQL wrote for a time Python cannot hold
    backwards = isinstance(created, datetime) and isinstance(updated, datetime) and updated < created
    if backwards or sub_millisecond(created) or sub_millisecond(updated):
        found.add(TIMESTAMP_ANOMALY)
    if sample.outcome.startswith("parked"):
        found.add(PARKED)
    if sample.outcome == "edited_in_cdp":
        found.add(EDITED_IN_CDP)
    if sample.problems or sample.outcome in ("missing", "mismatch"):
        found.add(PROBLEM)
    if not html.strip():
        found.add(EMPTY)
    return tuple(c for c in CATEGORIES if c in found)


class StratifiedSampler:
    """Seeded reservoir sampler for one cid: `n` random notes plus one of each hard case."""

    def __init__(self, n: int, seed: int, cid: int) -> None:
        self.n = max(0, n)
        self._rng = random.Random(f"{seed}:{cid}")
        self._seen = 0
        self._reservoir: list[Sample] = []
        self._by_category: dict[str, tuple[int, int, Sample]] = {}  # (width, ties, pick)

    def offer(self, sample: Sample) -> None:
        """Considers one note; keeps it only if it wins a reservoir slot."""
        if not sample.categories:
            sample.categories = categorise(sample)
        self._seen += 1
        if self.n:
            if len(self._reservoir) < self.n:
                self._reservoir.append(sample)
            else:
                slot = self._rng.randrange(self._seen)
                if slot < self.n:
                    self._reservoir[slot] = sample
        width = len(sample.categories)
        for category in sample.categories:
            # Per category, a seeded pick among the notes covering the most categories: fewer,
            # harder notes show every case (keeps the report light).
            best, ties, kept = self._by_category.get(category, (0, 0, sample))
            if width > best:
                self._by_category[category] = (width, 1, sample)
            elif width == best:
                ties += 1
                self._by_category[category] = (best, ties, sample if self._rng.randrange(ties) == 0 else kept)

    def result(self) -> list[Sample]:
        """One note per hard case present, filled up to `n` from the random reservoir."""
        if not self.n:
            return []
        chosen: dict[int, Sample] = {}
        covered: set[str] = set()
        for category in HARD_CASES:
            if category in self._by_category and category not in covered:
                picked = self._by_category[category][2]
                chosen[picked.legacy_crm_note_id] = picked
                covered.update(picked.categories)
        for sample in self._reservoir:
            if len(chosen) >= self.n:
                break
            chosen.setdefault(sample.legacy_crm_note_id, sample)
        return [chosen[k] for k in sorted(chosen)]
