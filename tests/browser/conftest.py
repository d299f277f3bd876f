"""Headless Debian Chromium for the QA-report browser tests (scripts/browser.sh installs it)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crm_notes_migration.report.report import render_report

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which("chromium"):
        pytest.fail("chromium is missing: run scripts/browser.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def write_report(path: Path, ledgers, samples, **kwargs: Any) -> Path:
    html = render_report(
        ledgers, samples, timezone_name="Asia/Jakarta", generated_at=datetime(2024, 1, 1, tzinfo=UTC), seed=1, **kwargs
    )
    path.write_text(html, encoding="utf-8")
    return path
