"""The QA report in Debian's headless Chromium (driven by python playwright): it renders,
no payload from any note runs, navigates or reaches the network (not even a preconnect),
and the verdict export works."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crm_notes_migration.report.report import render_report
from crm_notes_migration.transform import sanitize_html, visible_text
from crm_notes_migration.usecases.reconcile.diff import CappedIds
from crm_notes_migration.usecases.reconcile.ledger import CidLedger
from crm_notes_migration.usecases.reconcile.sample import Sample, categorise
from tests.chromium import chromium, png_colours


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []
    connections = 0  # TCP connections accepted: a preconnect opens one without a request

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = b"top.pwned='served';"
        self.send_response(200)
        self.send_header("Content-Type", "application/javascript")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


class _CountingServer(ThreadingHTTPServer):
    def verify_request(self, request, client_address) -> bool:
        _Recorder.connections += 1
        return True


@pytest.fixture
def trap_server():
    _Recorder.hits = []
    _Recorder.connections = 0
    server = _CountingServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    server.shutdown()
    server.server_close()


def payloads(base: str) -> list[str]:
    """Hostile note bodies: each would set a global or make a request if it ever ran/loaded."""
    return [
        f"<p>hi</p><script>window.pwned=1;top.pwned=1;fetch('{base}/fetch')</script>",
        f'<img src="{base}/img.png" onerror="top.pwned=2">',
        '<img src=x onerror="window.pwned=3;parent.pwned=3">',
        '<svg onload="top.pwned=4"><circle r=5></circle></svg>',
        f'<iframe src="{base}/iframe"></iframe><iframe srcdoc="<script>top.pwned=6</script>"></iframe>',
        f'<meta http-equiv="refresh" content="0;url={base}/refresh">',
        f'<link rel="stylesheet" href="{base}/link.css"><style>@import url({base}/import.css);'
        f" body {{ background: url({base}/bg.png) }}</style>",
        f'<object data="{base}/obj"></object><embed src="{base}/embed">',
        '"></iframe><script>top.pwned=11</script><iframe srcdoc="',
        "</script><script>top.pwned=12</script></textarea></pre>",
        '<body onload="top.pwned=13"><details open ontoggle="top.pwned=15">x</details></body>',
        f'<base href="{base}/"><img src="relative.png"><script src="{base}/s.js"></script>',
        f'<form action="{base}/form"><input autofocus onfocus="top.pwned=19"></form>',
        f'<p style="background:url({base}/styleattr)">styled</p><a href="javascript:top.pwned=16">x</a>',
        f'<video poster="{base}/poster"><source src="{base}/v" onerror="top.pwned=17"></video>',
        # links to click and hints to preconnect: none may navigate a frame or open a connection
        f'<p><a class="go" href="{base}/nav">same frame</a> <a class="go" href="{base}/top" target="_top">top</a> '
        f'<a class="go" href="{base}/blank" target="_blank" rel="opener">new tab</a> '
        f'<a class="go" href="{base}/ping" ping="{base}/pinged">ping</a></p>'
        f'<map name="m"><area shape="rect" coords="0,0,50,50" href="{base}/area"></map>'
        f'<img usemap="#m" alt="map" width="50" height="50"><form action="{base}/form2" method="post">'
        f'<button class="go" type="submit">send</button></form>'
        f'<link rel="preconnect" href="{base}/"><link rel="dns-prefetch" href="{base}/">'
        f'<link rel="prefetch" href="{base}/prefetch"><link rel="prerender" href="{base}/prerender">',
    ]


def _ledgers() -> list[CidLedger]:
    good = CidLedger(cid=101, in_scope=3, migrated=3, store_documents=3)
    bad = CidLedger(cid=202, in_scope=20, migrated=17, store_documents=18)
    bad.parked["contact_not_found"] = 1
    bad.missing = CappedIds(50, 2, [9001, 9002])
    bad.extra.add(7777)
    bad.add_mismatch(9003, ["content"])
    return [good, bad]


def _samples(base: str) -> list[Sample]:
    t0 = datetime(2021, 3, 4, 5, 6, 7)
    samples = [
        Sample(
            cid=101,
            legacy_crm_note_id=1,
            outcome="migrated",
            legacy_html='<p class="ql-align-center">Héllo <b>wörld</b> 日本語 ✓</p>',
            legacy_created_at=t0,
            legacy_updated_at=None,
            migrated_html='<p class="ql-align-center">Héllo <b>wörld</b> 日本語 ✓</p>',
            migrated_created_at=datetime(2021, 3, 3, 22, 6, 7, tzinfo=UTC),
        ),
    ]
    for i, body in enumerate(payloads(base), start=2):
        # The stored side gets the raw payload too: a tampered store must not run either.
        samples.append(
            Sample(
                cid=202,
                legacy_crm_note_id=i,
                outcome="mismatch" if i % 2 else "migrated",
                legacy_html=body,
                legacy_created_at=t0,
                legacy_updated_at=t0,
                legacy_attachments=[{"file_name": "<b>a</b>.pdf", "file_url": f"{base}/a.pdf"}],
                migrated_html=body,
                problems=["content"] if i % 2 else [],
            )
        )
    samples.append(
        Sample(
            cid=202,
            legacy_crm_note_id=99,
            outcome="parked:contact_not_found",
            legacy_html="<p>nobody</p>",
            legacy_created_at=t0,
            legacy_updated_at=None,
        )
    )
    for s in samples:
        s.categories = categorise(s)
    return samples


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


@pytest.mark.parametrize("display_sanitiser", ["core", "none"])
def test_report_renders_inertly_and_exports_verdicts(browser, trap_server, tmp_path, display_sanitiser):
    """With the core sanitiser, and without it (sandbox + CSP must hold on their own)."""
    base, hits = trap_server
    sanitize = sanitize_html if display_sanitiser == "core" else (lambda html: html)
    html = render_report(
        _ledgers(),
        _samples(base),
        timezone_name="Asia/Jakarta",
        generated_at=datetime(2024, 1, 1, tzinfo=UTC),
        seed=7,
        sanitize=sanitize,
        text_of=visible_text,
    )
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")

    context = browser.new_context(accept_downloads=True, viewport={"width": 1300, "height": 900})
    page = context.new_page()
    finished: list[str] = []  # requests Chromium issued (CSP-blocked ones fail before sending)
    failed: list[tuple[str, str]] = []
    page.on("requestfinished", lambda r: finished.append(r.url))
    page.on("requestfailed", lambda r: failed.append((r.url, r.failure or "")))
    page.goto(path.as_uri())
    page.wait_for_selector("html[data-qa-ready='1']", timeout=10_000)  # the report's own script ran
    assert page.locator("iframe.note").count() == 0  # closed cid sections: no frame built yet
    assert page.locator("details.cid").count() == 2 and page.locator("details.cid[open]").count() == 0
    page.click("#open-all")  # frames are built as their slots come near the viewport
    slots = page.locator(".slot[data-html]")
    assert slots.count() == 2 * len(_samples(base)) - 1  # parked: one side
    for i in range(slots.count()):
        slots.nth(i).scroll_into_view_if_needed()
        slots.nth(i).locator("iframe.note[data-ready]").wait_for(timeout=10_000)
    stats = page.evaluate("qaFrameStats()")
    assert stats["built"] >= slots.count()  # every note frame was built (and really loaded, below)
    assert page.locator("iframe.note:not([sandbox='allow-same-origin'])").count() == 0  # never allow-scripts

    # every link of every frame clicked (plain, middle and keyboard): nothing navigates
    card = page.locator(f"#sample-202-{1 + len(payloads(base))}")  # the links' payload
    card.scroll_into_view_if_needed()
    for handle in card.locator("iframe.note[data-ready]").element_handles():
        frame = handle.content_frame()
        links = frame.locator("a, button")  # the sanitiser keeps the links (not their classes)
        assert links.count() >= 4
        for link in links.all():
            link.click(timeout=2_000)
            link.click(button="middle", timeout=2_000)
            link.focus()
            frame.page.keyboard.press("Enter")
    page.wait_for_timeout(1500)  # time for any payload (timers, refresh, loads, navigations) to fire
    loaded = [f for f in page.frames if f.parent_frame == page.main_frame]
    assert len(loaded) == page.locator("iframe.note").count()  # every live note frame loaded its srcdoc
    assert {f.url for f in loaded} == {"about:srcdoc"}  # and is still there: no link navigated it
    assert len(context.pages) == 1  # no new tab
    nested = {f.url for f in page.frames if f not in loaded and f != page.main_frame}
    assert nested <= {"about:srcdoc", "about:blank", "chrome-error://chromewebdata/"}, nested
    assert page.url == path.as_uri()

    assert page.evaluate("window.pwned") is None
    for frame in page.frames:  # every frame, nested ones of the payloads included
        assert frame.evaluate("() => typeof window.pwned") == "undefined", frame.url
    assert hits == [], f"a note reached the network: {hits}"
    assert _Recorder.connections == 0, "a note opened a connection (preconnect or navigation)"
    assert [u for u in finished if u != path.as_uri() and not u.startswith(("data:", "about:", "blob:"))] == []
    # the payloads are really in the frames (present, not executed): the stored side is raw
    page.locator("#sample-202-2").scroll_into_view_if_needed()
    page.locator("#sample-202-2 iframe.note[data-ready]").nth(1).wait_for()
    stored = page.locator("#sample-202-2 iframe.note").nth(1).element_handle().content_frame()
    assert stored.evaluate("() => document.querySelectorAll('script').length") >= 1
    assert stored.evaluate("() => typeof window.pwned") == "undefined"

    # renders: both sides of the unicode sample show their text, the summary has colours
    page.locator("#sample-101-1").scroll_into_view_if_needed()
    page.locator("#sample-101-1 iframe.note[data-ready]").first.wait_for()
    first = page.frame_locator("#sample-101-1 iframe.note").first
    assert "日本語" in first.locator("body").inner_text()
    assert page.locator("#summary tr[data-cid='202'] .status-fail").count() == 1
    assert page.locator("#summary tr[data-cid='101'] .status-ok").count() == 1
    assert page.locator("details.cid[data-status='fail'] [data-sample-key]").count() == len(_samples(base)) - 1
    assert "9001, 9002" in page.locator("#summary tr[data-cid='202']").inner_text()
    shot = page.screenshot(full_page=False)
    assert png_colours(shot) > 20

    # verdicts: pass on one, fail + comment (with CSV-hostile characters) on another
    page.fill("#reviewer", "Rina QA")
    page.check("#sample-101-1 input[value=pass]")
    page.check("#sample-202-3 input[value=fail]")
    comment = '=HYPERLINK("x"), "quoted"\nline 2'
    page.fill("#sample-202-3 textarea", comment)
    assert "2 of" in page.inner_text("#verdict-progress")
    with page.expect_download() as info:
        page.click("#export-verdicts")
    raw = info.value.path().read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a UTF-8 BOM for spreadsheet programs
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == [
        "report_id",
        "cid",
        "sample_id",
        "category",
        "verdict",
        "comment",
        "reviewer",
        "reviewed_at",
    ]
    assert len(rows) == len(_samples(base))
    report_id = page.get_attribute("html", "data-report-id")
    assert report_id.startswith("qa-") and page.inner_text("#report-id") == report_id
    assert {r["report_id"] for r in rows} == {report_id}
    by_id = {(r["cid"], r["sample_id"]): r for r in rows}
    assert by_id[("101", "1")]["verdict"] == "pass" and by_id[("101", "1")]["reviewer"] == "Rina QA"
    assert by_id[("202", "3")]["verdict"] == "fail"
    assert by_id[("202", "3")]["comment"] == comment  # kept as typed, quoted, not rewritten
    assert '"=HYPERLINK(""x""), ""quoted""' in raw.decode("utf-8")
    stamp = datetime.fromisoformat(by_id[("202", "3")]["reviewed_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 120
    assert by_id[("202", "99")]["verdict"] == "" and by_id[("202", "99")]["reviewer"] == ""
    assert "parked" in by_id[("202", "99")]["category"].split()

    # kept in the page: a reload restores the verdicts from localStorage
    page.reload()
    page.wait_for_selector("html[data-qa-ready='1']")
    assert "1/1 reviewed" in page.inner_text("#cid-101 > summary")
    assert page.is_checked("#sample-202-3 input[value=fail]")
    assert page.input_value("#sample-202-3 textarea") == comment
    assert page.input_value("#reviewer") == "Rina QA"
    assert page.evaluate("window.qaVerdictsCsv()").count("\r\n") == len(_samples(base)) + 1
    assert hits == [] and _Recorder.connections == 0
    context.close()
