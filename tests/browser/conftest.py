"""Headless Debian Chromium for the QA-report browser tests (scripts/browser.sh installs it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crm_notes_migration.report.report import render_report
from tests.chromium import chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def write_report(path: Path, ledgers, samples, **kwargs: Any) -> Path:
    html = render_report(
        ledgers, samples, timezone_name="Asia/Jakarta", generated_at=datetime(2024, 1, 1, tzinfo=UTC), seed=1, **kwargs
    )
    path.write_text(html, encoding="utf-8")
    return path
