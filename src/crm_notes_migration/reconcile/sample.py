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

#: Hard-case categories (the report lists them as badges; the sample holds one of each present).
MENTIONS = "mentions"
SANITISED_XSS = "sanitised_xss"
UNICODE = "unicode"
ATTACHMENTS = "attachments"
TIMESTAMP_ANOMALY = "timestamp_anomaly"
UNRESOLVED_MENTION = "unresolved_mention"
DROPPED_ATTACHMENT = "dropped_attachment"
PARKED = "parked"
EDITED_IN_CDP = "edited_in_cdp"
PROBLEM = "problem"
EMPTY = "empty"
HARD_CASES = (
    MENTIONS, SANITISED_XSS, UNICODE, ATTACHMENTS, TIMESTAMP_ANOMALY, UNRESOLVED_MENTION,
    DROPPED_ATTACHMENT, PARKED, EDITED_IN_CDP, PROBLEM, EMPTY,
)

_MENTION = re.compile(r"""class\s*=\s*["'][^"']*\bmention\b|data-mention|mention://""", re.I)
_HOSTILE = re.compile(
    r"<\s*/?\s*(script|style|iframe|object|embed|form|meta|link|base|svg)\b|\son\w+\s*=|javascript:|vbscript:|data:",
    re.I,
)
_TIME_CODES = re.compile(r"dst|time|updated|created", re.I)


@dataclass(slots=True)
class Sample:
    """One note as the reviewer sees it: the legacy row and what the CDP holds for it."""

    cid: int
    legacy_crm_note_id: int
    outcome: str                      # migrated | edited_in_cdp | parked:<reason> | missing | mismatch
    legacy_html: str | None
    legacy_created_at: datetime | str | None  # naive wall clock in CRM_TIMEZONE (text: see SPEC §6a)
    legacy_updated_at: datetime | str | None
    legacy_attachments: list[dict[str, Any]] = field(default_factory=list)
    migrated_html: str | None = None
    migrated_created_at: datetime | None = None   # aware (or naive UTC from pymongo)
    migrated_updated_at: datetime | None = None
    migrated_attachments: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[str] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    categories: tuple[str, ...] = ()


def categorise(sample: Sample) -> tuple[str, ...]:
    """The hard-case categories a sample belongs to (empty for a plain note)."""
    html = sample.legacy_html or ""
    found = []
    if _MENTION.search(html):
        found.append(MENTIONS)
    if _HOSTILE.search(html):
        found.append(SANITISED_XSS)
    if not html.isascii():
        found.append(UNICODE)
    if sample.legacy_attachments:
        found.append(ATTACHMENTS)
    created, updated = sample.legacy_created_at, sample.legacy_updated_at
    times = isinstance(created, datetime) and isinstance(updated, datetime)  # not text PostgreSQL wrote
    if (times and updated < created) or any(_TIME_CODES.search(a) for a in sample.anomalies):
        found.append(TIMESTAMP_ANOMALY)
    if any("mention" in a for a in sample.anomalies):
        found.append(UNRESOLVED_MENTION)
    if any("attachment" in a for a in sample.anomalies):
        found.append(DROPPED_ATTACHMENT)
    if sample.outcome.startswith("parked"):
        found.append(PARKED)
    if sample.outcome == "edited_in_cdp":
        found.append(EDITED_IN_CDP)
    if sample.problems or sample.outcome in ("missing", "mismatch"):
        found.append(PROBLEM)
    if not html.strip():
        found.append(EMPTY)
    return tuple(found)


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
