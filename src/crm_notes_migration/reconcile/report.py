"""The QA report: one self-contained, offline HTML file for the human sign-off.

Safety: legacy HTML is hostile. Every note is shown inside `<iframe sandbox srcdoc=…>`
(no `allow-scripts`, no `allow-same-origin`), the legacy side additionally goes through
the sanitiser, and the page carries a Content-Security-Policy that only lets the report's
own inline script run (by its sha256) and allows no network at all (`default-src 'none'`,
images only from `data:`). The srcdoc frames inherit that policy and repeat it.
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
from typing import Any
from zoneinfo import ZoneInfo

from .ledger import CidLedger, totals
from .sample import Sample

_ASSETS = resources.files(__package__) / "assets"
FRAME_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"
MAX_DIFF_CHARS = 60_000


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


def frame(body_html: str, frame_css: str) -> str:
    """An inert `<iframe>` showing `body_html`; the srcdoc attribute is fully escaped."""
    doc = (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_e(FRAME_CSP)}\">"
        f"<style>{frame_css}</style></head><body>{body_html}</body></html>"
    )
    return (
        f'<iframe class="note" sandbox="" referrerpolicy="no-referrer" loading="lazy" '
        f'srcdoc="{_e(doc)}"></iframe>'
    )


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def legacy_times(value: datetime | None, tz: ZoneInfo) -> tuple[str, str]:
    """A naive legacy wall-clock time as (CRM_TIMEZONE text, UTC text); fold=0 like the core."""
    if value is None:
        return "—", "—"
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
        return '<pre class="diff">(visible text identical)</pre>'
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
        return "<p><i>no attachments</i></p>"
    rows = "".join(
        f"<li>{_e(a.get('name') or a.get('file_name'))} <code>{_e(a.get('url') or a.get('file_url'))}</code></li>"
        for a in items
    )
    return f"<ul>{rows}</ul>"


def _summary(ledgers: Sequence[CidLedger]) -> str:
    head = (
        "<tr><th class=l>cid</th><th>status</th><th>in scope</th><th>migrated</th><th class=l>parked</th>"
        "<th>edited in CDP</th><th>missing</th><th>extra</th><th>duplicates</th><th>mismatched</th>"
        "<th>anomalies</th><th class=l>counts endpoint</th><th class=l>offending ids</th></tr>"
    )
    rows = []
    for x in ledgers:
        parked = ", ".join(f"{_e(k)}: {v}" for k, v in sorted(x.parked.items())) or "0"
        api = "not checked" if x.api_counts is None else ("agrees" if not x.api_differences else "; ".join(x.api_differences))
        ids = []
        for label, found in (("missing", x.missing), ("extra", x.extra), ("duplicates", x.duplicates)):
            if found.count:
                ids.append(f"{label}: {', '.join(map(str, found.ids))}{' …' if found.count > len(found.ids) else ''}")
        for kind, found in sorted(x.mismatches.items()):
            ids.append(f"mismatch {kind}: {', '.join(map(str, found.ids))}{' …' if found.count > len(found.ids) else ''}")
        ids.extend(x.errors)
        rows.append(
            f"<tr data-cid=\"{x.cid}\" data-status=\"{x.status}\"><td class=l>{x.cid}</td>"
            f"<td><span class=\"status status-{x.status}\">{x.status}</span></td><td>{x.in_scope}</td>"
            f"<td>{x.migrated}</td><td class=l>{parked}</td><td>{x.edited_in_cdp.count}</td>"
            f"<td>{x.missing.count}</td><td>{x.extra.count}</td><td>{x.duplicates.count}</td><td>{x.mismatched}</td>"
            f"<td>{sum(a.count for a in x.anomalies.values())}</td><td class=l>{_e(api)}</td>"
            f"<td class=ids>{_e(' | '.join(ids))}</td></tr>"
        )
    t = totals(list(ledgers))
    parked_total = ", ".join(f"{_e(k)}: {v}" for k, v in t["parked"].items()) or "0"
    rows.append(
        f"<tr class=totals><td class=l>all ({t['cids']})</td><td>{'ok' if t['ok'] else 'fail'}</td><td>{t['in_scope']}</td>"
        f"<td>{t['migrated']}</td><td class=l>{parked_total}</td><td>{t['edited_in_cdp']}</td><td>{t['missing']}</td>"
        f"<td>{t['extra']}</td><td>{t['duplicates']}</td><td>{t['mismatched']}</td><td>{t['anomalies']}</td>"
        "<td></td><td></td></tr>"
    )
    return f"<table id=\"summary\">{head}{''.join(rows)}</table>"


def _sample_card(s: Sample, tz: ZoneInfo, sanitize: Callable[[str], str], text_of: Callable[[str], str],
                 frame_css: str) -> str:
    key = f"{s.cid}:{s.legacy_crm_note_id}"
    badges = "".join(f'<span class="badge{" problem" if c == "problem" else ""}">{_e(c)}</span>' for c in s.categories)
    legacy_display = sanitize(s.legacy_html or "")
    if s.migrated_html is not None:
        right = frame(s.migrated_html, frame_css)
        after_text = text_of(s.migrated_html)
    else:
        right = f"<p><b>not in contact_notes</b>: {_e(s.outcome)}</p>"
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
        extras += f"<p><b>problems</b>: {_e(', '.join(s.problems))}</p>"
    name = f"verdict-{s.cid}-{s.legacy_crm_note_id}"
    return (
        f'<section class="sample" id="sample-{s.cid}-{s.legacy_crm_note_id}" data-sample-key="{_e(key)}" '
        f'data-cid="{s.cid}" data-note-id="{s.legacy_crm_note_id}" data-outcome="{_e(s.outcome)}" '
        f'data-categories="{_e(" ".join(s.categories))}" data-verdict="">'
        f"<h3>cid {s.cid} · note {s.legacy_crm_note_id} · {_e(s.outcome)}</h3><div>{badges}</div>{times}{extras}"
        f'<div class="sides"><div><h4>legacy (sanitised for display)</h4>{frame(legacy_display, frame_css)}'
        f"{_attachments(s.legacy_attachments)}</div><div><h4>migrated (stored in CDP)</h4>{right}"
        f"{_attachments(s.migrated_attachments)}</div></div>"
        f"<h4>text diff (visible text)</h4>{text_diff(text_of(s.legacy_html or ''), after_text)}"
        f"<details><summary>legacy HTML source</summary><pre>{_e(s.legacy_html)}</pre></details>"
        f'<fieldset class="verdict"><legend>verdict</legend>'
        f'<label><input type="radio" name="{name}" value="pass"> pass</label> '
        f'<label><input type="radio" name="{name}" value="fail"> fail</label> '
        f'<textarea placeholder="comment" aria-label="comment"></textarea></fieldset></section>'
    )


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
    verdict = "every in-scope note is accounted for and nothing mismatches" if t["ok"] else (
        f"{t['cids_failing']} of {t['cids']} cids fail: {t['missing']} missing, {t['extra']} extra, "
        f"{t['duplicates']} duplicates, {t['mismatched']} mismatched"
    )
    cards = "".join(_sample_card(s, tz, sanitize, text_of, frame_css) for s in samples)
    return (
        f'<!doctype html><html lang="en" data-report-id="{report_id}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(page_csp(script))}">'
        '<meta name="referrer" content="no-referrer"><meta name="viewport" content="width=device-width">'
        f"<title>CRM notes migration QA report</title><style>{css}</style></head><body>"
        f"<h1>CRM notes → CDP migration: QA report</h1>"
        f'<p>generated {_e(generated_at.isoformat(sep=" "))} · CRM_TIMEZONE {_e(timezone_name)} · sample seed {seed}</p>'
        f'<p class="banner status-{"ok" if t["ok"] else "fail"}" id="verdict-banner">{_e(verdict)}</p>'
        f"<h2>Summary per cid</h2>{_summary(ledgers)}"
        f'<h2>Samples ({len(samples)})</h2><div class="toolbar"><button type="button" id="export-verdicts">'
        f'Export verdicts (CSV)</button> <span id="verdict-progress"></span></div>{cards}'
        f"<script>{script}</script></body></html>"
    )
