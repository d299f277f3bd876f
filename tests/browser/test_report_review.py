"""The QA report points the reviewer at problems and carries them through the job, in
headless Chromium: mentions compared, a dropped attachment named, time oddities flagged,
frames sized to their notes, filters, "next unreviewed", clearable verdicts, and cid
headers clear of the sticky toolbar."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from crm_notes_migration.report.report import FRAME_MAX_HEIGHT_PX

from .conftest import write_report
from .report_fixtures import USER_A, review_report


@pytest.fixture
def page(browser, tmp_path):
    ledgers, samples = review_report()
    path = write_report(tmp_path / "review.html", ledgers, samples)
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-qa-ready='1']")
    page.click("#open-all")
    yield page
    context.close()


def _frames(page, card: str):
    page.locator(card).scroll_into_view_if_needed()
    page.locator(f"{card} iframe.note[data-ready]").last.wait_for()
    return [h.content_frame() for h in page.locator(f"{card} iframe.note").element_handles()]


def test_mentions_are_marked_alike_on_both_sides_and_a_lost_one_is_flagged(page):
    legacy, migrated = _frames(page, "#sample-1000-1")
    # legacy: all three marked, although the display sanitiser strips the span's class
    assert legacy.locator(".qa-mention").all_inner_texts() == ["@Budi", "@Ann Lee", "@Citra"]
    # migrated: two CDP users and one plain-text (unresolved) mention, each marked
    assert migrated.locator("a.mention[data-qa-mention]").all_inner_texts() == ["@Budi", "@Citra"]
    assert migrated.locator(".qa-mention.unresolved").all_inner_texts() == ["@Ann Lee"]
    chip = "(e) => getComputedStyle(e).backgroundColor"
    assert legacy.locator(".qa-mention").first.evaluate(chip) == migrated.locator("a.mention").first.evaluate(chip)
    rows = page.locator("#sample-1000-1 table.mentions tr").all_inner_texts()[1:]
    assert f"CDP user {USER_A}" in rows[0] and "plain text: unresolved" in rows[1]
    assert page.locator("#sample-1000-1 ul.flags").count() == 0  # all as expected: nothing flagged

    legacy, migrated = _frames(page, "#sample-1000-2")  # the migrated side lost @Citra
    assert legacy.locator(".qa-mention").count() == 3
    assert migrated.locator("[data-qa-mention]").count() == 2
    flagged = page.locator("#sample-1000-2 table.mentions tr.flagged")
    assert flagged.count() == 1 and "@Citra is missing from the migrated note" in flagged.inner_text()
    assert "@Citra is missing" in page.inner_text("#sample-1000-2 ul.flags")


def test_dropped_attachment_times_and_author_are_pointed_out(page):
    card = page.locator("#sample-1001-5")
    card.scroll_into_view_if_needed()
    dropped = card.locator("li.dropped")
    # text_content: the DOM's text whether or not the card is painted yet (content-visibility)
    assert dropped.count() == 1 and "quarterly-report.xlsx" in (dropped.text_content() or "")
    assert "dropped attachment: quarterly-report.xlsx" in (card.locator("ul.flags").text_content() or "")
    times = card.locator("table.times")
    # inner_text is empty until the card is painted (content-visibility): wait for it.
    expect(times.locator("tr").first).to_contain_text("wall clock in CRM_TIMEZONE (Asia/Jakarta)", use_inner_text=True)
    assert "UTC" in times.locator("tr").first.inner_text()
    assert "+00:00" not in times.inner_text() and " UTC UTC" not in times.inner_text()
    assert "updated_before_created" in times.locator("tr[data-time='lc']").inner_text()
    assert "flagged" in times.locator("tr[data-time='lu']").get_attribute("class")
    assert (
        "microseconds cut to milliseconds: .123456 stored as .123" in times.locator("tr[data-time='mc']").inner_text()
    )
    assert "differs" not in times.inner_text()  # the stored times are the converted legacy ones
    assert "author_unknown" in card.locator("p.author.flagged").inner_text()


def test_frames_are_sized_to_their_notes_up_to_a_cap(page):
    short = _frames(page, "#sample-1000-3")
    tall = _frames(page, "#sample-1000-4")
    short_h = page.locator("#sample-1000-3 iframe.note").first.evaluate("(e) => e.offsetHeight")
    tall_h = page.locator("#sample-1000-4 iframe.note").first.evaluate("(e) => e.offsetHeight")
    content = short[0].evaluate("() => document.documentElement.getBoundingClientRect().height")
    assert abs(short_h - content) <= 24 and short_h < 200
    assert tall_h == FRAME_MAX_HEIGHT_PX and tall[0].evaluate("() => document.body.scrollHeight") > 2000
    assert page.locator("#sample-1000-4 .slot.capped").count() == 2


def test_filters_next_unreviewed_and_a_cleared_verdict(page):
    total = page.locator(".sample").count()
    page.select_option("#filter-category", "mentions")
    assert page.locator(".sample:not([hidden])").count() == 2
    page.select_option("#filter-category", "")
    page.select_option("#filter-status", "fail")
    visible = page.locator("details.cid:not([hidden])")
    assert visible.count() == 1 and visible.get_attribute("data-cid") == "1002"
    page.select_option("#filter-status", "")

    page.fill("#reviewer", "Rina")
    page.check("#sample-1000-1 input[value=pass]")
    page.check("#sample-1000-2 input[value=fail]")
    page.select_option("#filter-verdict", "none")
    assert page.locator(".sample:not([hidden])").count() == total - 2
    page.select_option("#filter-verdict", "fail")
    assert page.locator(".sample:not([hidden])").count() == 1
    page.select_option("#filter-verdict", "")

    page.click("#close-all")
    walked = [page.evaluate("qaNextUnreviewed()") for _ in range(3)]
    assert walked == ["1000:3", "1000:4", "1001:5"]  # skips the reviewed ones, opens their cid
    assert page.locator("#cid-1000[open]").count() == 1
    top = page.locator("#sample-1001-5").evaluate("(e) => e.getBoundingClientRect().top")
    bar = page.locator("#toolbar").evaluate("(e) => e.getBoundingClientRect().bottom")
    assert top >= bar - 1  # not under the sticky toolbar

    page.click("#sample-1000-2 .clear-verdict")
    assert not page.is_checked("#sample-1000-2 input[value=fail]")
    rows = {r["sample_id"]: r for r in csv.DictReader(io.StringIO(page.evaluate("qaVerdictsCsv()").lstrip("\ufeff")))}
    assert rows["2"]["verdict"] == "" and rows["2"]["reviewed_at"] == "" and rows["2"]["reviewer"] == ""
    assert rows["1"]["verdict"] == "pass" and rows["1"]["reviewer"] == "Rina"
    page.reload()
    page.wait_for_selector("html[data-qa-ready='1']")
    assert not page.is_checked("#sample-1000-2 input[value=fail]") and page.is_checked(
        "#sample-1000-1 input[value=pass]"
    )


def test_a_cid_link_lands_below_the_sticky_toolbar(page):
    page.click("#close-all")
    page.locator("#samples-title").scroll_into_view_if_needed()  # the toolbar is stuck from here on
    page.evaluate("location.hash = '#cid-1001'")
    page.wait_for_timeout(300)
    assert page.locator("#cid-1001[open]").count() == 1
    header = page.locator("#cid-1001 > summary").evaluate("(e) => e.getBoundingClientRect().top")
    bar = page.locator("#toolbar").evaluate("(e) => e.getBoundingClientRect().bottom")
    assert bar > 0 and header >= bar - 1
