"""Synthetic QA-report inputs for the browser tests: ledgers and Samples built directly
(no pipeline run), from a handful of hand-made notes up to the demo's size."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from crm_notes_migration.usecases.reconcile.diff import CappedIds
from crm_notes_migration.usecases.reconcile.ledger import CidLedger
from crm_notes_migration.usecases.reconcile.sample import Sample, categorise

TZ = ZoneInfo("Asia/Jakarta")

USER_A = "a1" * 12
USER_B = "b2" * 12
WORDS = (
    "call",
    "follow",
    "up",
    "quote",
    "invoice",
    "meeting",
    "Jakarta",
    "pricing",
    "renewal",
    "contract",
    "déjà",
    "vu",
    "日本語",
    "résumé",
    "✓",
    "next",
    "week",
    "budget",
    "approved",
    "pending",
)


def span(crm_id: int, name: str) -> str:
    return f'<span class="mention" data-id="{crm_id}" data-value="{name}">@{name}</span>'


def anchor(user: str, name: str) -> str:
    return f'<a class="mention" data-mention="" data-user-id="{user}" href="mention://user/{user}">@{name}</a>'


def mention_sample(cid: int, note_id: int, *, lose_one: bool = False) -> Sample:
    """Three legacy mentions: Budi resolves, Ann Lee is unresolved (plain text), Citra
    resolves, unless `lose_one`, where the migrated side silently lost Citra."""
    legacy = f"<p>Met {span(11, 'Budi')} and {span(12, 'Ann Lee')} with {span(13, 'Citra')} today.</p>"
    citra = "" if lose_one else anchor(USER_B, "Citra")
    migrated = f"<p>Met {anchor(USER_A, 'Budi')} and @Ann Lee with {citra} today.</p>"
    t = datetime(2022, 5, 6, 7, 8, 9)
    return Sample(
        cid=cid,
        legacy_crm_note_id=note_id,
        outcome="mismatch" if lose_one else "migrated",
        legacy_html=legacy,
        legacy_created_at=t,
        legacy_updated_at=t,
        migrated_html=migrated,
        migrated_created_at=stored(t),
        migrated_updated_at=stored(t),
        mentions=["Budi"] + ([] if lose_one else ["Citra"]),
        legacy_mentioned=[
            {"crm_user_id": 11, "email": "budi@example.com", "name": "Budi"},
            {"crm_user_id": 12, "email": "ann@example.com", "name": "Ann Lee"},
            {"crm_user_id": 13, "email": "citra@example.com", "name": "Citra"},
        ],
        legacy_author={"crm_user_id": 11, "email": "budi@example.com", "name": "Budi"},
        migrated_author=USER_A,
        anomalies=["unresolved_mention"],
        problems=["content"] if lose_one else [],
    )


def dropped_attachment_sample(cid: int, note_id: int) -> Sample:
    t = datetime(2021, 1, 2, 3, 4, 5, 123456)
    return Sample(
        cid=cid,
        legacy_crm_note_id=note_id,
        outcome="migrated",
        legacy_html="<p>see the files</p>",
        legacy_created_at=t,
        legacy_updated_at=t - timedelta(days=1),
        legacy_attachments=[
            {"id": 501, "name": "contract-signed.pdf", "url": "https://files.example.com/c.pdf"},
            {"id": 502, "name": "quarterly-report.xlsx", "url": "javascript:alert(1)"},
        ],
        migrated_html="<p>see the files</p>",
        migrated_created_at=stored(t),
        migrated_updated_at=stored(t - timedelta(days=1)),
        migrated_attachments=[
            {"legacy_attachment_id": 501, "name": "contract-signed.pdf", "url": "https://files.example.com/c.pdf"}
        ],
        legacy_author={"crm_user_id": 99, "email": None, "name": None},
        anomalies=["attachment_dropped:502", "updated_before_created", "author_unknown"],
    )


def _note(rng: random.Random, paragraphs: int) -> str:
    return "".join(
        f"<p>{' '.join(rng.choice(WORDS) for _ in range(rng.randint(8, 30)))}</p>" for _ in range(paragraphs)
    )


def demo_sized(cids: int = 130, per_cid: int = 5, seed: int = 1) -> tuple[list[CidLedger], list[Sample]]:
    """About the demo's report: `cids` cids of `per_cid` samples (650 at the defaults), a
    mix of short and 3,000 px notes, mentions, hostile code, attachments and time oddities."""
    rng = random.Random(seed)
    ledgers: list[CidLedger] = []
    samples: list[Sample] = []
    for c in range(cids):
        cid = 1000 + c
        ledger = CidLedger(cid=cid, in_scope=160, migrated=150, store_documents=150)
        ledger.parked["contact_not_found"] = 10
        for code, n in (
            ("author_unknown", 30),
            ("dst_ambiguous", 2),
            ("unresolved_mention", 4),
            ("attachment_dropped", 1),
            ("updated_before_created", 2),
        ):
            ledger.anomalies[code] = CappedIds(50, n, list(range(n)))
        ledger.anomalous_notes = 33
        ledgers.append(ledger)
        for k in range(per_cid):
            note_id = cid * 100 + k
            kind = (c * per_cid + k) % 10
            t = datetime(2020, 1, 1) + timedelta(
                minutes=rng.randint(0, 2_000_000), microseconds=rng.randint(0, 999_999)
            )
            if kind == 0:
                samples.append(mention_sample(cid, note_id))
                continue
            if kind == 1:
                samples.append(dropped_attachment_sample(cid, note_id))
                continue
            html = _note(rng, 150 if kind == 2 else rng.randint(1, 6))
            if kind == 3:
                html += (
                    '<img src=x onerror="top.pwned=1"><script>top.pwned=2</script><a href="https://evil.example/">x</a>'
                )
            parked = kind == 4
            samples.append(
                Sample(
                    cid=cid,
                    legacy_crm_note_id=note_id,
                    outcome="parked:contact_not_found" if parked else "migrated",
                    legacy_html=html,
                    legacy_created_at=t,
                    legacy_updated_at=t,
                    migrated_html=None if parked else html,
                    migrated_created_at=None if parked else stored(t),
                    migrated_updated_at=None if parked else stored(t),
                    legacy_author={"crm_user_id": 7, "email": "sales@example.com", "name": "Sales Rep"},
                    migrated_author=None if parked else USER_A,
                )
            )
    for s in samples:
        s.categories = categorise(s)
    return ledgers, samples


def stored(legacy: datetime) -> datetime:
    """What the core stores for a legacy wall-clock time in TZ: UTC, cut to milliseconds."""
    utc = legacy.replace(tzinfo=TZ).astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


def plain_sample(cid: int, note_id: int, paragraphs: int = 2) -> Sample:
    rng = random.Random(note_id)
    t = datetime(2023, 3, 4, 5, 6, 7)
    html = _note(rng, paragraphs)
    return Sample(
        cid=cid,
        legacy_crm_note_id=note_id,
        outcome="migrated",
        legacy_html=html,
        legacy_created_at=t,
        legacy_updated_at=None,
        migrated_html=html,
        migrated_created_at=stored(t),
        migrated_updated_at=stored(t),
        legacy_author={"crm_user_id": 7, "email": "sales@example.com", "name": "Sales Rep"},
        migrated_author=USER_A,
    )


def review_report() -> tuple[list[CidLedger], list[Sample]]:
    """Three cids (warn, ok, fail) with the cases a reviewer must be pointed to."""
    warn = CidLedger(cid=1000, in_scope=20, migrated=19, store_documents=19)
    warn.parked["contact_not_found"] = 1
    ok = CidLedger(cid=1001, in_scope=10, migrated=10, store_documents=10)
    fail = CidLedger(cid=1002, in_scope=10, migrated=9, store_documents=9)
    fail.missing = CappedIds(50, 1, [9])
    samples = [
        mention_sample(1000, 1),
        mention_sample(1000, 2, lose_one=True),
        plain_sample(1000, 3, 1),
        plain_sample(1000, 4, 150),
        dropped_attachment_sample(1001, 5),
    ]
    samples += [plain_sample(cid, n) for cid in (1001, 1002) for n in range(6, 10)]
    for s in samples:
        s.categories = categorise(s)
    return [warn, ok, fail], samples
