"""The QA report: one self-contained, offline HTML file for the human sign-off.

Layout: the verdict and totals first, then one row per cid (red/amber/green), then the
samples, one collapsed section per cid. The page stays light: each note's HTML is capped
(`MAX_NOTE_BYTES`, checksums are still compared in full by reconcile) and sits escaped in a
`data-*` attribute; the report's own script builds the note frames only when a cid's
section is opened.

Safety: legacy HTML is hostile. Every note is shown inside an `<iframe sandbox="">`
(no `allow-scripts`, no `allow-same-origin`) whose `srcdoc` the script sets from the
attribute's text (never parsed into the report itself); the legacy side additionally goes
through the sanitiser, and the page carries a Content-Security-Policy that only lets the
report's own inline script run (by its sha256) and allows no network at all
(`default-src 'none'`, images only from `data:`). The srcdoc frames inherit that policy
and repeat it.
"""
from __future__ import annotations

import base64
import difflib
import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from html import escape
from importlib import resources
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from .ledger import FAIL, OK, WARN, CidLedger, totals
from .sample import Sample

_ASSETS = resources.files(__package__) / "assets"
FRAME_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"
#: The most of one note's HTML (UTF-8 bytes) the page carries, per copy shown.
MAX_NOTE_BYTES = 32 * 1024
#: The most of the legacy HTML source (bytes) the page shows as text.
MAX_SOURCE_BYTES = 8 * 1024
MAX_DIFF_CHARS = 16_000


def _asset(name: str) -> str:
    return (_ASSETS / name).read_text(encoding="utf-8")


def page_csp(script: str) -> str:
    """The report's policy: only this exact inline script may run; nothing may load."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
        "img-src data:; form-action 'none'; base-uri 'none'; object-src 'none'"
    )


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def frame_head(frame_css: str) -> str:
    """What the script puts before a note's HTML in each frame's srcdoc."""
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_e(FRAME_CSP)}\">"
        f"<style>{frame_css}</style></head><body>"
    )


def cap(text: str, limit: int = MAX_NOTE_BYTES) -> tuple[str, int | None]:
    """`text` cut to `limit` UTF-8 bytes, and its full size in bytes when it was cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, None
    return data[:limit].decode("utf-8", errors="ignore"), len(data)


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def legacy_times(value: datetime | str | None, tz: ZoneInfo) -> tuple[str, str]:
    """A naive legacy wall-clock time as (CRM_TIMEZONE text, UTC text); fold=0 like the core."""
    if value is None:
        return "—", "—"
    if isinstance(value, str):  # a time Python cannot hold, as PostgreSQL writes it (SPEC §6a)
        return value, "—"
    local = value.replace(tzinfo=tz, fold=0)
    return f"{value.isoformat(sep=' ')} {tz.key}", local.astimezone(timezone.utc).isoformat(sep=" ")


def stored_times(value: datetime | None, tz: ZoneInfo) -> tuple[str, str]:
    """A stored UTC time as (CRM_TIMEZONE text, UTC text)."""
    utc = _as_utc(value)
    if utc is None:
        return "—", "—"
    return utc.astimezone(tz).isoformat(sep=" ") + f" {tz.key}", utc.isoformat(sep=" ")


def text_diff(before: str, after: str) -> str:
    """A word-level difflib diff of two visible texts as escaped HTML (`del`/`ins` marks)."""
    a, b = re.findall(r"\S+|\s+", before), re.findall(r"\S+|\s+", after)
    if a == b:
        return '<pre class="diff same">(visible text identical)</pre>'
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(_e("".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f'<del class="del">{_e("".join(a[i1:i2]))}</del>')
        if j2 > j1:
            out.append(f'<ins class="add">{_e("".join(b[j1:j2]))}</ins>')
    text = "".join(out)
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS].rsplit("<", 1)[0] + "…"
    return f'<pre class="diff">{text}</pre>'


def _attachments(items: Sequence[dict[str, Any]]) -> str:
    if not items:
        return '<p class="muted">no attachments</p>'
    rows = "".join(
        f"<li>{_e(a.get('name') or a.get('file_name'))} <code>{_e(a.get('url') or a.get('file_url'))}</code></li>"
        for a in items
    )
    return f"<ul>{rows}</ul>"


def _ids(found) -> str:
    return f"{', '.join(map(str, found.ids))}{' …' if found.count > len(found.ids) else ''}"


def _offending(x: CidLedger) -> str:
    ids = [f"{label}: {_ids(found)}" for label, found in
           (("missing", x.missing), ("extra", x.extra), ("duplicates", x.duplicates), ("stale parked", x.parked_stale))
           if found.count]
    ids.extend(f"mismatch {kind}: {_ids(found)}" for kind, found in sorted(x.mismatches.items()))
    ids.extend(x.api_differences + x.errors)
    return " | ".join(ids)


def _tiles(t: dict[str, Any], ledgers: Sequence[CidLedger]) -> str:
    by_status = {s: sum(1 for x in ledgers if x.status == s) for s in (OK, WARN, FAIL)}
    bad = lambda n: " bad" if n else ""  # noqa: E731
    tiles = [
        ("cids", f'{t["cids"]}<small><span class="dot status-ok"></span>{by_status[OK]} '
                 f'<span class="dot status-warn"></span>{by_status[WARN]} '
                 f'<span class="dot status-fail"></span>{by_status[FAIL]}</small>', ""),
        ("in scope", t["in_scope"], ""), ("migrated", t["migrated"], ""),
        ("parked", sum(t["parked"].values()), " warn" if sum(t["parked"].values()) else ""),
        ("missing", t["missing"], bad(t["missing"])), ("extra", t["extra"], bad(t["extra"])),
        ("duplicates", t["duplicates"], bad(t["duplicates"])), ("mismatched", t["mismatched"], bad(t["mismatched"])),
        ("edited in CDP", t["edited_in_cdp"], " info"), ("anomalies", t["anomalies"], " info"),
    ]
    cells = "".join(f'<div class="tile{cls}"><b>{value}</b><span>{_e(label)}</span></div>' for label, value, cls in tiles)
    parked = ", ".join(f"{_e(k)} {v}" for k, v in t["parked"].items()) or "none"
    return (f'<div class="tiles" id="totals">{cells}</div><p class="legend"><b>fail</b>: missing, extra, duplicate '
            f"or mismatching notes, or the counts endpoint disagrees · <b>warn</b>: parked notes to act on "
            f"(parked by reason: {parked}) · anomalies and CDP edits are informational</p>")


def _summary(ledgers: Sequence[CidLedger]) -> str:
    head = (
        "<thead><tr><th class=l>cid</th><th>status</th><th>in scope</th><th>migrated</th><th class=l>parked</th>"
        "<th>edited in CDP</th><th>missing</th><th>extra</th><th>duplicates</th><th>mismatched</th>"
        "<th>anomalies</th><th class=l>counts endpoint</th><th class=l>offending ids</th></tr></thead>"
    )
    rows = []
    for x in ledgers:
        parked = ", ".join(f"{_e(k)} {v}" for k, v in sorted(x.parked.items())) or "0"
        api = "not checked" if x.api_counts is None else ("agrees" if not x.api_differences else "disagrees")
        kinds = ", ".join(f"{k} {v.count}" for k, v in sorted(x.anomalies.items()))
        zero = lambda n: f"<td class=zero>{n}</td>" if not n else f"<td class=nz>{n}</td>"  # noqa: E731
        rows.append(
            f'<tr class="row-{x.status}" data-cid="{x.cid}" data-status="{x.status}">'
            f'<td class=l><a href="#cid-{x.cid}">{x.cid}</a></td>'
            f'<td><span class="status status-{x.status}">{x.status}</span></td><td>{x.in_scope}</td>'
            f"<td>{x.migrated}</td><td class=l>{parked}</td><td>{x.edited_in_cdp.count}</td>"
            f"{zero(x.missing.count)}{zero(x.extra.count)}{zero(x.duplicates.count)}{zero(x.mismatched)}"
            f'<td title="{_e(kinds)}">{sum(a.count for a in x.anomalies.values())}</td><td class=l>{_e(api)}</td>'
            f"<td class=ids>{_e(_offending(x))}</td></tr>"
        )
    return f'<table id="summary">{head}<tbody>{"".join(rows)}</tbody></table>'


def _note_slot(side: str, html: str | None, full_size: int | None) -> str:
    """An empty frame slot holding the (capped) note HTML as escaped attribute text; None:
    the same HTML as the legacy slot of the card (written once)."""
    cut = (f'<p class="cut">showing the first {MAX_NOTE_BYTES // 1024} KB of {full_size // 1024} KB '
           "(checksums are compared in full)</p>") if full_size else ""
    data = 'data-html="" data-same="legacy"' if html is None else f'data-html="{_e(html)}"'
    return f'<div class="slot" data-side="{side}" {data}></div>{cut}'


def _sample_card(s: Sample, tz: ZoneInfo, sanitize: Callable[[str], str], text_of: Callable[[str], str]) -> str:
    key = f"{s.cid}:{s.legacy_crm_note_id}"
    badges = "".join(f'<span class="badge{" problem" if c == "problem" else ""}">{_e(c)}</span>' for c in s.categories)
    raw, raw_size = cap(s.legacy_html or "")
    display, display_size = cap(sanitize(raw))
    legacy = _note_slot("legacy", display, raw_size or display_size)
    if s.migrated_html is not None:
        migrated, migrated_size = cap(s.migrated_html)
        right = _note_slot("migrated", None if migrated == display else migrated, migrated_size)
        after_text = text_of(migrated)
    else:
        right = f'<p class="absent"><b>not in contact_notes</b>: {_e(s.outcome)}</p>'
        after_text = ""
    lc, lu = legacy_times(s.legacy_created_at, tz), legacy_times(s.legacy_updated_at, tz)
    mc, mu = stored_times(s.migrated_created_at, tz), stored_times(s.migrated_updated_at, tz)
    times = (
        f"<table class=times><tr><th class=l></th><th class=l>{_e(tz.key)}</th><th class=l>UTC</th></tr>"
        f"<tr><td class=l>legacy created_at</td><td class=l>{_e(lc[0])}</td><td class=l>{_e(lc[1])}</td></tr>"
        f"<tr><td class=l>legacy updated_at</td><td class=l>{_e(lu[0])}</td><td class=l>{_e(lu[1])}</td></tr>"
        f"<tr><td class=l>CDP created_at</td><td class=l>{_e(mc[0])}</td><td class=l>{_e(mc[1])}</td></tr>"
        f"<tr><td class=l>CDP updated_at</td><td class=l>{_e(mu[0])}</td><td class=l>{_e(mu[1])}</td></tr></table>"
    )
    extras = ""
    if s.mentions:
        extras += f"<p>mentions: {_e(', '.join(s.mentions))}</p>"
    if s.anomalies:
        extras += f"<p>anomalies: {_e(', '.join(s.anomalies))}</p>"
    if s.problems:
        extras += f'<p class="problems"><b>problems</b>: {_e(", ".join(s.problems))}</p>'
    name = f"verdict-{s.cid}-{s.legacy_crm_note_id}"
    source, source_size = cap(raw, MAX_SOURCE_BYTES)
    source_cut = f" (first {MAX_SOURCE_BYTES // 1024} KB of {(raw_size or source_size) // 1024} KB)" if source_size else ""
    return (
        f'<section class="sample" id="sample-{s.cid}-{s.legacy_crm_note_id}" data-sample-key="{_e(key)}" '
        f'data-cid="{s.cid}" data-note-id="{s.legacy_crm_note_id}" data-outcome="{_e(s.outcome)}" '
        f'data-categories="{_e(" ".join(s.categories))}" data-verdict="">'
        f"<h3>note {s.legacy_crm_note_id} · {_e(s.outcome)} {badges}</h3>"
        f'<fieldset class="verdict"><legend>verdict</legend>'
        f'<label><input type="radio" name="{name}" value="pass"> pass</label> '
        f'<label><input type="radio" name="{name}" value="fail"> fail</label> '
        f'<textarea placeholder="comment" aria-label="comment"></textarea></fieldset>'
        f'<div class="sides"><div><h4>legacy (sanitised for display)</h4>{legacy}'
        f"{_attachments(s.legacy_attachments)}</div><div><h4>migrated (stored in CDP)</h4>{right}"
        f"{_attachments(s.migrated_attachments)}</div></div>{times}{extras}"
        f"<h4>text diff (visible text)</h4>{text_diff(text_of(raw), after_text)}"
        f"<details><summary>legacy HTML source{source_cut}</summary><pre>{_e(source)}</pre></details>"
        "</section>"
    )


def _cid_sections(ledgers: Sequence[CidLedger], samples: Sequence[Sample], tz: ZoneInfo,
                  sanitize: Callable[[str], str], text_of: Callable[[str], str]) -> str:
    status = {x.cid: x.status for x in ledgers}
    out = []
    for cid, group in groupby(sorted(samples, key=lambda s: (s.cid, s.legacy_crm_note_id)), key=lambda s: s.cid):
        items = list(group)
        state = status.get(cid, OK)
        kinds = sorted({c for s in items for c in s.categories})
        out.append(
            f'<details class="cid" id="cid-{cid}" data-cid="{cid}" data-status="{state}">'
            f'<summary><span class="status status-{state}">{state}</span> cid {cid} · {len(items)} samples'
            f' <span class="muted">{_e(", ".join(kinds))}</span> <span class="done"></span></summary>'
            f'{"".join(_sample_card(s, tz, sanitize, text_of) for s in items)}</details>'
        )
    return "".join(out)


def render_report(
    ledgers: Sequence[CidLedger],
    samples: Sequence[Sample],
    *,
    timezone_name: str,
    generated_at: datetime,
    seed: int,
    sanitize: Callable[[str], str] | None = None,
    text_of: Callable[[str], str] | None = None,
) -> str:
    """The whole report as one HTML string. `sanitize`/`text_of` default to the core's
    `sanitize_html`/`visible_text` (passed in by tests to show the sandbox alone holds)."""
    if sanitize is None or text_of is None:
        from ..transform import sanitize_html, visible_text

        sanitize = sanitize or sanitize_html
        text_of = text_of or visible_text
    tz = ZoneInfo(timezone_name)
    script, css, frame_css = _asset("report.js"), _asset("report.css"), _asset("frame.css")
    report_id = hashlib.sha256(
        f"{seed}|{','.join(str(x.cid) for x in ledgers)}|{','.join(f'{s.cid}:{s.legacy_crm_note_id}' for s in samples)}".encode()
    ).hexdigest()
    t = totals(list(ledgers))
    if t["ok"]:
        verdict = "every in-scope note is accounted for and nothing mismatches"
        if t["cids_warning"]:
            verdict += f"; {t['cids_warning']} cids have parked notes to act on"
    else:
        verdict = (f"{t['cids_failing']} of {t['cids']} cids fail: {t['missing']} missing, {t['extra']} extra, "
                   f"{t['duplicates']} duplicates, {t['mismatched']} mismatched")
    return (
        f'<!doctype html><html lang="en" data-report-id="{report_id}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(page_csp(script))}">'
        '<meta name="referrer" content="no-referrer"><meta name="viewport" content="width=device-width">'
        f"<title>CRM notes migration QA report</title><style>{css}</style></head><body>"
        f"<h1>CRM notes → CDP migration: QA report</h1>"
        f'<p class="muted">generated {_e(generated_at.isoformat(sep=" "))} · CRM_TIMEZONE {_e(timezone_name)} · '
        f"sample seed {seed}</p>"
        f'<p class="banner status-{"ok" if t["ok"] else "fail"}" id="verdict-banner">{_e(verdict)}</p>'
        f"{_tiles(t, ledgers)}<h2>Per cid</h2>{_summary(ledgers)}"
        f'<h2>Samples ({len(samples)})</h2><p class="muted">Each cid holds a seeded random sample plus one note of '
        "every hard case present. Open a cid to see its notes side by side (frames are sandboxed: no script "
        "from a note can run, nothing loads from the network).</p>"
        f'<div class="toolbar"><button type="button" id="export-verdicts">Export verdicts (CSV)</button> '
        f'<button type="button" id="open-all">Open all</button> <button type="button" id="close-all">Close all</button> '
        f'<span id="verdict-progress"></span></div>'
        f'<div id="samples" data-frame-head="{_e(frame_head(frame_css))}">'
        f"{_cid_sections(ledgers, samples, tz, sanitize, text_of)}</div>"
        f"<script>{script}</script></body></html>"
    )
