"""The QA report's content, without a browser: one set of category names, a stable report
id, an honest banner, the anomaly breakdown in plain sight, and the problem pointers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape

from crm_notes_migration.report.report import (
    banner,
    compare_mentions,
    html_diff,
    inert_links,
    mark_legacy,
    render_report,
    report_id,
)
from crm_notes_migration.transform import sanitize_html
from crm_notes_migration.transform.attachments import ATTACHMENT_DROPPED
from crm_notes_migration.transform.legacy import AUTHOR_UNKNOWN, MENTIONED_USER_UNKNOWN
from crm_notes_migration.transform.note import AUTHOR_UNRESOLVED, UNRESOLVED_MENTION
from crm_notes_migration.transform.times import DST_AMBIGUOUS, DST_NONEXISTENT, UPDATED_BEFORE_CREATED
from crm_notes_migration.usecases.reconcile.diff import CappedIds
from crm_notes_migration.usecases.reconcile.ledger import CidLedger, totals
from crm_notes_migration.usecases.reconcile.sample import (
    ANOMALY_CATEGORY,
    CATEGORIES,
    HARD_CASES,
    Sample,
    categorise,
)


def _sample(**kw) -> Sample:
    base = dict(
        cid=1,
        legacy_crm_note_id=1,
        outcome="migrated",
        legacy_html="<p>x</p>",
        legacy_created_at=datetime(2021, 1, 1),
        legacy_updated_at=None,
        migrated_html="<p>x</p>",
    )
    base.update(kw)
    s = Sample(**base)
    s.categories = categorise(s)
    return s


def _render(ledgers, samples, generated_at=datetime(2024, 1, 1, tzinfo=UTC)) -> str:
    return render_report(ledgers, samples, timezone_name="UTC", generated_at=generated_at, seed=3)


def test_one_set_of_category_names_covers_every_anomaly_code():
    assert set(HARD_CASES) == set(CATEGORIES)
    assert set(ANOMALY_CATEGORY.values()) <= set(CATEGORIES)
    for code in (
        ATTACHMENT_DROPPED,
        UNRESOLVED_MENTION,
        MENTIONED_USER_UNKNOWN,
        AUTHOR_UNKNOWN,
        AUTHOR_UNRESOLVED,
        DST_AMBIGUOUS,
        DST_NONEXISTENT,
        UPDATED_BEFORE_CREATED,
        "legacy_encoding",
    ):
        assert code in ANOMALY_CATEGORY, code
    s = _sample(anomalies=[f"{ATTACHMENT_DROPPED}:7", AUTHOR_UNRESOLVED, "legacy_encoding"])
    assert {"attachment_dropped", "author_anomaly", "legacy_encoding"} <= set(s.categories)
    assert "timestamp_anomaly" in _sample(legacy_created_at=datetime(2021, 1, 1, 0, 0, 0, 1500)).categories
    html = _render([CidLedger(cid=1)], [s])
    assert "dropped_attachment" not in html and "attachment_dropped" in html
    for name, category in CATEGORIES.items():  # guidance for every category, in the page itself
        assert f'data-category="{name}"' in html and escape(category.check) in html


def test_report_id_is_stable_for_the_same_content_and_changes_with_it():
    ledger, s = CidLedger(cid=1, in_scope=1, migrated=1), _sample()
    first = report_id([ledger], [s], timezone_name="UTC", seed=3)
    assert first == report_id([ledger], [_sample()], timezone_name="UTC", seed=3)
    assert first != report_id([ledger], [_sample(migrated_html="<p>y</p>")], timezone_name="UTC", seed=3)
    assert first != report_id([CidLedger(cid=1, in_scope=2)], [s], timezone_name="UTC", seed=3)
    later = _render([ledger], [s], generated_at=datetime(2025, 6, 1, tzinfo=UTC))
    assert f'data-report-id="{first}"' in later and f'<code id="report-id">{first}</code>' in later


def test_banner_says_accounted_for_and_parked_without_green_washing():
    warn = CidLedger(cid=1, in_scope=100, migrated=93)
    warn.parked["contact_not_found"] = 7
    state, text = banner(totals([warn, CidLedger(cid=2, in_scope=10, migrated=10)]))
    assert state == "warn"
    assert "every in-scope note is accounted for" in text.lower()
    assert "7 notes (6.4 %) are parked" in text and "1 of 2 cids are at warn" in text
    state, text = banner(totals([CidLedger(cid=2, in_scope=10, migrated=10)]))
    assert state == "ok" and "no note is parked" in text
    bad = CidLedger(cid=3, in_scope=10, migrated=9)
    bad.missing = CappedIds(50, 1, [4])
    assert banner(totals([bad]))[0] == "fail"


def test_anomaly_total_is_explained_with_its_breakdown_in_plain_sight():
    ledger = CidLedger(cid=1, in_scope=10, migrated=10)
    ledger.anomalies["author_unknown"] = CappedIds(50, 5, [1, 2, 3, 4, 5])
    ledger.anomalies["dst_ambiguous"] = CappedIds(50, 2, [1, 2])
    ledger.anomalous_notes = 5
    html = _render([ledger], [_sample()])
    section = html.split('<div id="anomalies">', 1)[1].split("</div>", 1)[0]
    text = re.sub(r"<[^>]+>", " ", section)
    assert "7 anomalies" in text and "counts anomalies, not notes" in text and "5 of 10" in text
    assert re.search(r"author_anomaly\s+5\s+author_unknown\s+5", text)
    assert re.search(r"timestamp_anomaly\s+2\s+dst_ambiguous\s+2", text)
    row = html.split('<tr class="row-ok" data-cid="1"', 1)[1].split("</tr>", 1)[0]
    assert "author_anomaly 5 · timestamp_anomaly 2" in row  # in the cell, not only its title


def test_sanitiser_diff_shows_what_was_removed():
    source = '<p onclick="x()">hi <b>there</b></p><script>steal()</script>'
    diff, removed = html_diff(source, sanitize_html(source))
    assert removed >= 2
    deleted = " ".join(re.findall(r'<del class="del">(.*?)</del>', diff, re.S))
    assert "onclick" in deleted and "steal()" in deleted and "there" not in deleted


def test_links_and_embedded_documents_are_made_inert():
    html = (
        '<a href="https://x.example/" ping="https://p.example/">x</a><iframe src="https://f.example/"></iframe>'
        '<link rel="preconnect" href="https://c.example/"><form action="https://s.example/"><button '
        'formaction="https://b.example/">b</button></form><meta http-equiv="refresh" content="0;url=https://r.example/">'
    )
    out = inert_links(html)
    assert not re.search(r"""\s(href|ping|src|action|formaction|http-equiv)=""", out), out
    assert 'data-qa-href="https://x.example/"' in out and ">x</a>" in out
    assert inert_links("<p>plain</p>") == "<p>plain</p>"


def test_mentions_are_listed_with_what_they_became():
    legacy = (
        '<p><span class="mention" data-id="11">@Budi</span> <span class="mention" data-id="12">@Ann</span> '
        '<span class="mention" data-id="13">@Citra</span> <span class="mention" data-id="12">@Ann</span></p>'
    )
    shown, mentions = mark_legacy(legacy, sanitize_html)
    assert re.findall(r'class="qa-mention"[^>]*>(@\w+)<', shown) == ["@Budi", "@Ann", "@Citra", "@Ann"]
    user = "ab" * 12
    migrated = f'<p><a class="mention" data-mention="" data-user-id="{user}">@Budi</a> @Ann  @Ann</p>'
    marked, extra = compare_mentions(migrated, mentions)
    assert [m.became for m in mentions] == ["user", "text", "missing", "text"]
    assert mentions[0].became_user == user and extra == []
    assert marked.count('class="qa-mention unresolved"') == 2  # each plain @Ann marked once
    _, extra = compare_mentions(f'<p><a class="mention" data-user-id="{user}">@Zed</a></p>', [])
    assert extra == [("@Zed", user)]


def test_a_stored_time_that_is_not_the_converted_legacy_one_is_flagged():
    t = datetime(2021, 3, 4, 5, 6, 7, 890123)
    right = t.replace(microsecond=890000, tzinfo=UTC)
    good = _sample(legacy_created_at=t, migrated_created_at=right, migrated_updated_at=right)
    bad = _sample(
        legacy_crm_note_id=2, legacy_created_at=t, migrated_created_at=right.replace(hour=6), migrated_updated_at=right
    )
    html = _render([CidLedger(cid=1)], [good, bad])
    card = {i: html.split(f'id="sample-1-{i}"', 1)[1].split("</section>", 1)[0] for i in (1, 2)}
    assert "microseconds cut to milliseconds: .890123 stored as .890" in card[1]
    assert "differs" not in card[1] and "+00:00" not in card[1]
    assert "CDP created_at differs from the legacy time converted (2021-03-04 05:06:07.890 UTC expected)" in card[2]
    assert "NULL: the CDP&#x27;s updated_at is created_at" in card[1]


def test_mentions_of_a_note_edited_in_the_cdp_are_listed_but_not_flagged():
    legacy = '<p><span class="mention" data-id="11">@Budi</span></p>'
    kept = _sample(legacy_html=legacy, migrated_html="<p>rewritten by a person</p>", outcome="edited_in_cdp")
    lost = _sample(legacy_crm_note_id=2, legacy_html=legacy, migrated_html="<p>x</p>", outcome="mismatch")
    html = _render([CidLedger(cid=1)], [kept, lost])
    card = {i: html.split(f'id="sample-1-{i}"', 1)[1].split("</section>", 1)[0] for i in (1, 2)}
    assert "(edited in the CDP)" in card[1] and "<ul class=flags>" not in card[1]
    assert "@Budi is missing from the migrated note" in card[2] and "<ul class=flags>" in card[2]
