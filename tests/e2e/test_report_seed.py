"""`reconcile --report` on a migrated synthetic seed: the sample holds every hard case
present in each cid, and the page renders in headless Chromium without running any of the
seed's payloads (alert dialogs, network)."""

from __future__ import annotations

import re
import subprocess
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup

from crm_notes_devtools.seed.loader import load_seed
from crm_notes_devtools.stack import LocalStack, cli_command, settings_env
from crm_notes_migration.cdp.mongo import open_database
from crm_notes_migration.source.crm import CrmSource
from crm_notes_migration.transform import TransformOptions
from crm_notes_migration.usecases.reconcile.service import reconcile
from tests.chromium import chromium, png_colours
from tests.e2e.run_support import run_cli

SAMPLE = 4


def _all_categories(settings) -> dict[int, set[str]]:
    """Every note offered to a sampler big enough to keep all: the categories present per cid."""
    db = open_database(settings)
    try:
        with CrmSource(settings.crm_database_url) as source:
            everything = reconcile(
                db,
                source,
                source.cids(),
                tz=ZoneInfo(settings.crm_timezone),
                options=TransformOptions.from_settings(settings),
                sample_size=10**6,
            )
    finally:
        db.client.close()
    present: dict[int, set[str]] = {}
    for s in everything.samples:
        present.setdefault(s.cid, set()).update(s.categories)
    return present


def test_report_on_a_seed_samples_every_hard_case_and_stays_inert(isolated_settings, tmp_path):
    load_seed(isolated_settings, 300, 3, 9)
    report = tmp_path / "qa.html"
    with LocalStack(isolated_settings, tmp_path / "stack") as stack:
        code, out, err = run_cli(stack.settings, tmp_path, "--batch-size", "100")
        assert code == 0, err
        proc = subprocess.run(
            cli_command("reconcile", "--report", str(report), "--sample", str(SAMPLE), "--seed", "3"),
            cwd=tmp_path,
            env=settings_env(stack.settings),
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "QA report" in proc.stdout

    html = report.read_text(encoding="utf-8")
    assert not re.search(
        r"""(src|href)\s*=\s*["']?https?://""", html.split("<body", 1)[1].split('class="sample"', 1)[0]
    )
    soup = BeautifulSoup(html, "html.parser")
    sampled: dict[int, set[str]] = {}
    counts: dict[int, int] = {}
    for card in soup.select("[data-sample-key]"):
        cid = int(card["data-cid"])
        sampled.setdefault(cid, set()).update(card["data-categories"].split())
        counts[cid] = counts.get(cid, 0) + 1
    present = _all_categories(isolated_settings)
    assert set(present) == set(sampled)
    for cid, categories in present.items():
        assert categories <= sampled[cid], (cid, categories - sampled[cid])
        assert counts[cid] >= SAMPLE
    assert any("parked" in c for c in present.values()) and any("sanitised_xss" in c for c in present.values())

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        dialogs, finished = [], []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("requestfinished", lambda r: finished.append(r.url))
        page.goto(report.as_uri())
        page.wait_for_selector("html[data-qa-ready='1']", timeout=10_000)
        assert page.locator("iframe.note").count() == 0  # built only when a cid is opened
        page.click("#open-all")
        slots = page.locator(".slot")
        assert slots.count() == len(soup.select(".slot"))
        for i in range(slots.count()):  # each note's frame is built as it comes into view
            slots.nth(i).scroll_into_view_if_needed()
            slots.nth(i).locator("iframe.note[data-ready]").wait_for(timeout=10_000)
        assert page.evaluate("qaFrameStats().built") >= slots.count()
        page.wait_for_timeout(1000)
        page.evaluate("window.scrollTo(0, 0)")
        assert dialogs == []
        assert [u for u in finished if u != report.as_uri() and not u.startswith(("data:", "about:", "blob:"))] == []
        assert page.locator("#summary .status-ok, #summary .status-warn").count() == len(present)
        assert png_colours(page.screenshot()) > 20
