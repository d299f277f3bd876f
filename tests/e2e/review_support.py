"""A reviewer in headless Chromium: opens a QA report, gives verdicts, exports the CSV."""

from __future__ import annotations

from pathlib import Path

from tests.chromium import chromium


def review_in_browser(
    report_path: Path, verdicts: dict[int, str | None], reviewer: str, every: str | None = None
) -> str:
    """Give every sample of each cid in `verdicts` that cid's verdict (None: leave its first
    sample unreviewed, pass the others), or every sample of the report `every`; then export
    the CSV as the reviewer would, and return its text."""
    with chromium() as browser:
        page = browser.new_context(accept_downloads=True).new_page()
        page.goto(report_path.as_uri())
        page.wait_for_selector("html[data-qa-ready='1']", timeout=15_000)
        page.fill("#reviewer", reviewer)
        page.click("#open-all")
        if every is not None:
            cards = page.locator("section.sample")
            for i in range(cards.count()):
                cards.nth(i).locator(f"input[value={every}]").check()
        for cid, verdict in verdicts.items():
            cards = page.locator(f"section.sample[data-cid='{cid}']")
            for i in range(cards.count()):
                if verdict is None and i == 0:
                    continue
                cards.nth(i).locator(f"input[value={verdict or 'pass'}]").check()
        with page.expect_download() as info:
            page.click("#export-verdicts")
        return Path(info.value.path()).read_text(encoding="utf-8")


def shown_verdicts(report_path: Path) -> dict[str, str]:
    """The verdict each sample shows when the report is opened in a fresh browser, by
    sample key (`"<cid>:<legacy id>"`), for the samples that show one."""
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(report_path.as_uri())
        page.wait_for_selector("html[data-qa-ready='1']", timeout=15_000)
        shown: dict[str, str] = page.evaluate(
            """() => Object.fromEntries(Array.from(document.querySelectorAll("section.sample"))
                .map(c => [c.getAttribute("data-sample-key"),
                           (c.querySelector("input[type=radio]:checked") || {}).value || ""])
                .filter(e => e[1]))"""
        )
        return shown
