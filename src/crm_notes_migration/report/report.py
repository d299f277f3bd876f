"""The QA report: one self-contained, offline HTML file for the human sign-off.

Layout: the verdict banner and totals first (the anomaly count broken down by category and
code), what to check per category, one row per cid (red/amber/green), then the samples,
one collapsed section per cid, with a toolbar to filter them, jump to the next unreviewed
one and export the verdicts. The page stays light: each note's HTML is capped
(`MAX_NOTE_BYTES`, checksums are still compared in full by reconcile) and sits escaped in a
`data-*` attribute; the report's script builds a note's frame only while it is near the
viewport (IntersectionObserver) and releases it when it is far away, so "open all" costs
the same at 5 cids as at 500.

Pointed out on each sample: mentions (marked alike on both sides, each legacy one listed
with what it became, a mismatch flagged), dropped attachments by file name, what the
sanitiser removed (a diff of the HTML), time oddities (DST, `updated_before_created`,
microseconds cut to milliseconds), the author, and what to check for its categories.

Safety: legacy HTML is hostile. Every note is shown inside an `<iframe sandbox=
"allow-same-origin">` (no `allow-scripts`: nothing in a note runs; same origin only lets
the report's script measure the note's height and cancel clicks and submits) whose
`srcdoc` the script sets from the attribute's text (never parsed into the report itself).
Before that, every navigating attribute (`href`, `action`, `formaction`, `ping`,
`http-equiv`) is renamed to `data-qa-*`, so no link can navigate or be preconnected. The
legacy side additionally goes through the sanitiser, and the page carries a
Content-Security-Policy that only lets the report's own inline script run (by its sha256)
and allows no network at all (`default-src 'none'`, images only from `data:`). The srcdoc
frames inherit that policy and repeat it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape, unescape
from importlib import resources
from itertools import groupby
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rapidfuzz.distance import Indel
from selectolax.lexbor import LexborHTMLParser, LexborNode

from crm_notes_migration.transform.mentions import inside_any
from crm_notes_migration.usecases.reconcile.diff import CappedIds
from crm_notes_migration.usecases.reconcile.ledger import FAIL, OK, WARN, CidLedger, totals
from crm_notes_migration.usecases.reconcile.sample import (
    ANOMALY_CATEGORY,
    ATTACHMENT_DROPPED,
    AUTHOR_ANOMALY,
    CATEGORIES,
    EDITED_IN_CDP,
    PROBLEM,
    SANITISED_XSS,
    UNRESOLVED_MENTION,
    Sample,
    anomaly_category,
    sub_millisecond,
)

_ASSETS = resources.files(__package__) / "assets"
FRAME_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"
#: The most of one note's HTML (UTF-8 bytes) the page carries, per copy shown.
MAX_NOTE_BYTES = 32 * 1024
#: The most of the legacy HTML source (bytes) the HTML diff covers.
MAX_SOURCE_BYTES = 8 * 1024
MAX_DIFF_CHARS = 16_000
#: The tallest a note frame grows (px) before its content scrolls inside it.
FRAME_MAX_HEIGHT_PX = 900
#: Columns of the exported verdicts CSV (the `signoff` command imports them).
CSV_COLUMNS = ("report_id", "cid", "sample_id", "category", "verdict", "comment", "reviewer", "reviewed_at")


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
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(FRAME_CSP)}">'
        '<meta http-equiv="x-dns-prefetch-control" content="off">'
        f"<style>{frame_css}</style></head><body>"
    )


def cap(text: str, limit: int = MAX_NOTE_BYTES) -> tuple[str, int | None]:
    """`text` cut to `limit` UTF-8 bytes, and its full size in bytes when it was cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, None
    return data[:limit].decode("utf-8", errors="ignore"), len(data)


# --- the run's identity -------------------------------------------------------------------


def report_id(ledgers: Sequence[CidLedger], samples: Sequence[Sample], *, timezone_name: str, seed: int) -> str:
    """A stable id of the run's content (ledgers, samples, timezone, seed; not the time the
    page was written): the same reconcile over the same data gives the same id, any change
    to a ledger or a sampled note a new one. Every exported verdict row carries it."""
    h = hashlib.sha256(f"crm-notes-qa|{timezone_name}|{seed}\n".encode())
    for ledger in ledgers:
        h.update(json.dumps(ledger.as_dict(), sort_keys=True, default=str).encode("utf-8"))
    for s in sorted(samples, key=lambda s: (s.cid, s.legacy_crm_note_id)):
        fields = [
            s.cid,
            s.legacy_crm_note_id,
            s.outcome,
            s.legacy_html,
            s.migrated_html,
            s.legacy_created_at,
            s.legacy_updated_at,
            s.migrated_created_at,
            s.migrated_updated_at,
            s.legacy_attachments,
            s.migrated_attachments,
            s.anomalies,
            s.problems,
            s.migrated_author,
        ]
        h.update(json.dumps(fields, sort_keys=True, default=str).encode("utf-8"))
    return "qa-" + h.hexdigest()[:24]


# --- times --------------------------------------------------------------------------------


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _clock(value: datetime) -> str:
    """`YYYY-MM-DD HH:MM:SS` with .mmm, or .uuuuuu when there are sub-millisecond digits;
    no offset (the column says which clock)."""
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond % 1000:
        return f"{text}.{value.microsecond:06d}"
    return f"{text}.{value.microsecond // 1000:03d}" if value.microsecond else text


def legacy_times(value: datetime | str | None, tz: ZoneInfo) -> tuple[str, str]:
    """A naive legacy wall-clock time as (CRM_TIMEZONE wall clock, UTC) texts; fold=0 like the core."""
    if value is None:
        return "—", "—"
    if isinstance(value, str):  # a time Python cannot hold, as PostgreSQL writes it (SPEC §6a)
        return value, "—"
    local = value.replace(tzinfo=tz, fold=0)
    return _clock(value), _clock(local.astimezone(UTC))


def stored_times(value: datetime | None, tz: ZoneInfo) -> tuple[str, str]:
    """A stored UTC time as (CRM_TIMEZONE wall clock, UTC) texts."""
    utc = _as_utc(value)
    if utc is None:
        return "—", "—"
    return _clock(utc.astimezone(tz)), _clock(utc)


def _dst(value: datetime, tz: ZoneInfo) -> str | None:
    """`dst_ambiguous` / `dst_nonexistent` when the wall clock is not one instant in `tz`."""
    first, second = value.replace(tzinfo=tz, fold=0), value.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return "dst_ambiguous" if back == value else "dst_nonexistent"


def _times(s: Sample, tz: ZoneInfo) -> tuple[str, list[str]]:
    """The four times in two labelled clocks, each oddity flagged on its row, and the
    stored times that differ from the converted legacy ones (problems for the card)."""
    created, updated = s.legacy_created_at, s.legacy_updated_at
    flags: dict[str, list[str]] = {"lc": [], "lu": [], "mc": [], "mu": []}
    notes: dict[str, str] = {}
    problems: list[str] = []
    for key, value in (("lc", created), ("lu", updated)):
        if isinstance(value, str):
            flags[key].append("invalid_note: a time Python cannot hold, as PostgreSQL writes it")
        elif value is not None and (kind := _dst(value, tz)):
            flags[key].append(
                f"{kind}: this wall clock is {'two' if kind == 'dst_ambiguous' else 'no'} instants "
                f"in {tz.key}; the earlier offset (fold=0) is used"
            )
    if isinstance(created, datetime) and isinstance(updated, datetime) and updated < created:
        for key in ("lc", "lu"):
            flags[key].append("updated_before_created: updated_at is before created_at (kept as is)")
    if updated is None and created is not None:
        notes["lu"] = "NULL: the CDP's updated_at is created_at"
    for key, legacy, stored in (
        ("mc", created, s.migrated_created_at),
        ("mu", updated if updated is not None else created, s.migrated_updated_at),
    ):
        if not isinstance(legacy, datetime) or stored is None:
            continue
        if sub_millisecond(legacy):
            flags[key].append(
                f"microseconds cut to milliseconds: .{legacy.microsecond:06d} stored as "
                f".{legacy.microsecond // 1000:03d}"
            )
        expected = legacy.replace(tzinfo=tz, fold=0).astimezone(UTC)
        expected = expected.replace(microsecond=expected.microsecond - expected.microsecond % 1000)
        if _as_utc(stored) != expected and not (key == "mu" and s.outcome == "edited_in_cdp"):
            problem = f"differs from the legacy time converted ({_clock(expected)} UTC expected)"
            flags[key].append(problem)
            problems.append(f"CDP {'created_at' if key == 'mc' else 'updated_at'} {problem}")
    rows = (
        ("lc", "legacy created_at", legacy_times(created, tz), "converted"),
        ("lu", "legacy updated_at", legacy_times(updated, tz), "converted"),
        ("mc", "CDP created_at", stored_times(s.migrated_created_at, tz), "stored"),
        ("mu", "CDP updated_at", stored_times(s.migrated_updated_at, tz), "stored"),
    )
    body = "".join(
        f'<tr class="{"flagged" if flags[key] else ""}" data-time="{key}"><td class=l>{label}</td>'
        f"<td class=l>{_e(wall)}</td><td class=l>{_e(utc)}{f' <small>({how})</small>' if utc != '—' else ''}</td>"
        f'<td class=l><span class="flag-text">{_e("; ".join(flags[key]))}</span>'
        f'<span class="muted">{_e(notes.get(key, ""))}</span></td></tr>'
        for key, label, (wall, utc), how in rows
    )
    return (
        f"<table class=times><tr><th class=l></th><th class=l>wall clock in CRM_TIMEZONE ({_e(tz.key)})</th>"
        f"<th class=l>UTC</th><th class=l>check</th></tr>{body}</table>"
    ), problems


# --- diffs --------------------------------------------------------------------------------


def text_diff(before: str, after: str) -> str:
    """A word-level diff of two visible texts as escaped HTML (`del`/`ins` marks)."""
    a, b = re.findall(r"\S+|\s+", before), re.findall(r"\S+|\s+", after)
    if a == b:
        return '<pre class="diff same">(visible text identical)</pre>'
    return f'<pre class="diff">{_diff_marks(a, b)[0]}</pre>'


def _diff_marks(a: list[str], b: list[str]) -> tuple[str, int]:
    """Escaped HTML of a token diff (`del`/`ins`), capped, and how many tokens were removed.

    The diff is a longest common subsequence of the tokens (rapidfuzz's `Indel`, bit-parallel
    in C++): the fewest tokens removed and added, cheap enough for the thousands of samples
    of a large run (difflib's matcher is quadratic in the tokens of a note)."""
    out: list[str] = []
    removed = 0
    for op in Indel.opcodes(a, b):
        i1, i2, j1, j2 = op.src_start, op.src_end, op.dest_start, op.dest_end
        if op.tag == "equal":
            out.append(_e("".join(a[i1:i2])))
            continue
        if i2 > i1:
            removed += sum(1 for t in a[i1:i2] if t.strip())
            out.append(f'<del class="del">{_e("".join(a[i1:i2]))}</del>')
        if j2 > j1:
            out.append(f'<ins class="add">{_e("".join(b[j1:j2]))}</ins>')
    text = "".join(out)
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS].rsplit("<", 1)[0] + "…"
    return text, removed


_HTML_TOKEN = re.compile(
    r"""<!--.*?-->|</?[A-Za-z][^\s/>]*|/?>|\s+|[^\s<>=]+=(?:"[^"]*"|'[^']*'|[^\s>]*)|[^\s<>]+|[<>]""", re.S
)


def html_diff(source: str, sanitised: str) -> tuple[str, int]:
    """What the sanitiser removed from `source`: a diff of the HTML (tags, attributes and
    words as tokens) as escaped HTML, and how many tokens it removed."""
    return _diff_marks(_HTML_TOKEN.findall(source), _HTML_TOKEN.findall(sanitised))


# --- links --------------------------------------------------------------------------------

_NAVIGATING = ("href", "action", "formaction", "ping", "http-equiv", "xlink:href")
#: Elements that load a document of their own: their source is renamed too (the CSP blocks
#: them, but Chromium would still open the connection).
_EMBEDDING = {"iframe": "src", "frame": "src", "embed": "src", "object": "data", "portal": "src", "fencedframe": "src"}
_MAY_NAVIGATE = re.compile(r"href|action|ping|http-equiv|<\s*(?:i?frame|embed|object|portal|fencedframe)", re.I)


def inert_links(html: str) -> str:
    """`html` with every navigating attribute (and the source of every embedded document)
    renamed to `data-qa-<name>`: a link keeps its text and shows where it pointed (the
    frame's CSS), but can neither navigate nor be preconnected, whatever the sandbox lets
    through."""
    if not html or not _MAY_NAVIGATE.search(html):
        return html
    tree = LexborHTMLParser(html, is_fragment=True)
    changed = False
    for node in tree.css("*"):
        attrs = node.attributes
        embedded = _EMBEDDING.get(node.tag or "")
        for name in [n for n in attrs if n.lower() in _NAVIGATING or n.lower() == embedded]:
            value = attrs[name]
            del node.attrs[name]
            node.attrs[f"data-qa-{name.lower().replace(':', '-')}"] = value or ""
            changed = True
    return (tree.html or "") if changed else html


# --- mentions -----------------------------------------------------------------------------

_MENTION_SELECTOR = 'span.mention[data-id], [data-mention], a[href^="mention:" i]'
_MOBILE_HREF = re.compile(r"^\s*mention://user/([0-9a-fA-F]{24})\s*$", re.I)
_PLACEHOLDER = "QAMENTION7c1f{}X"
_PLACEHOLDERS = re.compile(r"QAMENTION7c1f(\d+)X")
_TAG = re.compile(r"""<!--.*?-->|<(?:[^>"']|"[^"]*"|'[^']*')*>""", re.S)
_USER_ID = re.compile(r"""data-user-id\s*=\s*["']?([0-9a-fA-F]{24})""")
_MENTION_ANCHOR = re.compile(r"""^<a\b(?=[^>]*(?:\bclass\s*=\s*["'][^"']*\bmention\b|data-mention))""", re.I)


@dataclass(slots=True)
class LegacyMention:
    """One mention of the legacy note, and what the migrated note made of it."""

    name: str
    form: str  # legacy span | web form | mobile form
    crm_user_id: int | None  # the legacy span's data-id
    cdp_user_id: str | None  # the web/mobile form's user id
    became: str = ""  # user | text | missing | not migrated
    became_user: str | None = None


def _shown_name(node: LexborNode) -> str:
    text = (node.text(deep=True) or "").strip()
    if text.startswith("@"):
        text = text[1:].strip()
    return text or (node.attributes.get("data-value") or "").strip()


def mark_legacy(html: str, sanitize: Callable[[str], str]) -> tuple[str, list[LegacyMention]]:
    """The legacy note sanitised for display with its mentions marked (`span.qa-mention`,
    which the sanitiser would strip, put back afterwards), and its mentions in order."""
    if not html or "mention" not in html.lower():
        return sanitize(html), []
    tree = LexborHTMLParser(html, is_fragment=True)
    mentions: list[LegacyMention] = []
    done: set[int] = set()
    for node in tree.css(_MENTION_SELECTOR):
        if inside_any(node, done):
            continue
        done.add(node.mem_id)
        attrs = node.attributes
        crm = (attrs.get("data-id") or "").strip()
        href = _MOBILE_HREF.match(attrs.get("href") or "")
        if node.tag == "span" and crm:
            form, cdp = "legacy span", None
        elif "data-mention" in attrs:
            form, cdp = "web form", attrs.get("data-user-id")
        else:
            form, cdp = "mobile form", href.group(1) if href else None
        mentions.append(
            LegacyMention(_shown_name(node), form, int(crm) if crm.isdigit() else None, (cdp or "").lower() or None)
        )
        node.replace_with(_PLACEHOLDER.format(len(mentions) - 1))
    if not mentions:
        return sanitize(html), []

    def chip(match: re.Match[str]) -> str:
        m = mentions[int(match.group(1))]
        return f'<span class="qa-mention" data-qa-mention="{match.group(1)}" title="{_e(m.form)}">@{_e(m.name)}</span>'

    return _PLACEHOLDERS.sub(chip, sanitize(tree.html or "")), mentions


def compare_mentions(migrated: str, mentions: list[LegacyMention]) -> tuple[str, list[tuple[str, str]]]:
    """Finds each legacy mention in the migrated HTML (a mention anchor with its name, else
    the plain text `@Name`), marks it like the legacy side (`qa-mention`, dashed when plain
    text) and books what it became on the mention. Returns the marked HTML and the
    migrated mentions no legacy one accounts for, as (name, user id)."""
    parts = _TAG.split(migrated)
    tags = _TAG.findall(migrated)
    tokens: list[str] = [parts[0]]
    for tag, text in zip(tags, parts[1:], strict=True):
        tokens += [tag, text]
    anchors: list[tuple[int, str, str]] = []  # (token index, user id, text)
    texts: list[int] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if i % 2 and _MENTION_ANCHOR.match(token):
            found = _USER_ID.search(token)
            j = i + 1
            inner = []
            while j < len(tokens) and not (j % 2 and tokens[j].lower().startswith("</a")):
                if j % 2 == 0:
                    inner.append(unescape(tokens[j]))
                j += 1
            anchors.append((i, found.group(1).lower() if found else "", "".join(inner).strip()))
            i = j + 1
            continue
        if i % 2 == 0 and token:
            texts.append(i)
        i += 1
    used: set[int] = set()
    searched: dict[int, int] = {}  # text token → where the next search starts (after a marked one)
    for n, m in enumerate(mentions):
        for k, (index, user, text) in enumerate(anchors):
            if k not in used and text.lstrip("@").strip() == m.name:
                used.add(k)
                m.became, m.became_user = "user", user
                tokens[index] = f'{tokens[index][:2]} data-qa-mention="{n}"{tokens[index][2:]}'
                break
        else:
            needle = escape(f"@{m.name}", quote=False)
            for index in texts:
                at = tokens[index].find(needle, searched.get(index, 0))
                if at >= 0:
                    m.became = "text"
                    mark = f'<span class="qa-mention unresolved" data-qa-mention="{n}">{needle}</span>'
                    tokens[index] = f"{tokens[index][:at]}{mark}{tokens[index][at + len(needle) :]}"
                    searched[index] = at + len(mark)
                    break
            else:
                m.became = "missing"
    extra = [(text, user) for k, (_, user, text) in enumerate(anchors) if k not in used]
    return "".join(tokens), extra


def _mention_table(s: Sample, mentions: list[LegacyMention], extra: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """The legacy mentions with what each became, and the mismatches to flag."""
    if not mentions and not extra:
        return "", []
    by_crm = {m.get("crm_user_id"): m for m in s.legacy_mentioned}
    reported = {anomaly_category(a) for a in s.anomalies}
    flags: list[str] = []
    rows = []
    for n, m in enumerate(mentions):
        if m.crm_user_id is not None:
            ref = by_crm.get(m.crm_user_id)
            who = (
                f"CRM user {m.crm_user_id}: {ref.get('name') or '?'} &lt;{_e(ref.get('email'))}&gt;"
                if ref
                else f"CRM user {m.crm_user_id}: not in the CRM for this cid (mentioned_user_unknown)"
            )
        else:
            who = f"CDP user {_e(m.cdp_user_id or '?')} ({_e(m.form)})"
        flag = ""
        if s.migrated_html is None:
            became = f"not migrated ({_e(s.outcome)})"
        elif m.became == "user":
            became = f'<span class="qa-mention">@{_e(m.name)}</span> CDP user <code>{_e(m.became_user)}</code>'
            if m.cdp_user_id and m.became_user != m.cdp_user_id:
                flag = f"@{m.name} points at another CDP user than the legacy note"
        elif m.became == "text":
            became = f'<span class="qa-mention unresolved">@{_e(m.name)}</span> plain text: unresolved'
            if UNRESOLVED_MENTION not in reported:
                flag = f"@{m.name} became plain text, but no unresolved-mention anomaly was reported"
        else:
            became = "nothing: not in the migrated note"
            flag = f"@{m.name} is missing from the migrated note"
        if flag and s.outcome == EDITED_IN_CDP:  # the CDP's copy is a person's edit: not flagged
            became, flag = f"{became} (edited in the CDP)", ""
        if flag:
            flags.append(flag)
        rows.append(
            f'<tr class="{"flagged" if flag else ""}"><td>{n + 1}</td><td class=l>'
            f'<span class="qa-mention">@{_e(m.name)}</span> <small>{_e(m.form)}</small></td>'
            f'<td class=l>{who}</td><td class=l>{became}</td><td class="l flag-text">{_e(flag)}</td></tr>'
        )
    for name, user in extra:
        flag = "" if s.outcome == EDITED_IN_CDP else f"{name} is a mention in the migrated note only"
        if flag:
            flags.append(flag)
        rows.append(
            f'<tr class="{"flagged" if flag else ""}"><td>+</td><td class=l>—</td><td class=l></td><td class=l>'
            f'<span class="qa-mention">{_e(name)}</span> CDP user <code>{_e(user)}</code></td>'
            f'<td class="l flag-text">{_e(flag)}</td></tr>'
        )
    return (
        f'<table class="mentions"><tr><th>#</th><th class=l>legacy mention</th><th class=l>who</th>'
        f"<th class=l>became</th><th class=l>check</th></tr>{''.join(rows)}</table>"
    ), flags


# --- the parts of a sample ----------------------------------------------------------------


def _dropped_ids(s: Sample) -> set[str]:
    return {a.split(":", 1)[1] for a in s.anomalies if a.startswith(f"{ATTACHMENT_DROPPED}:")}


def _is_dropped(item: dict[str, Any], dropped: set[str]) -> bool:
    if item.get("id") is not None:
        return str(item["id"]) in dropped
    url = str(item.get("url") or item.get("file_url") or "")
    return bool(dropped) and not re.match(r"^\s*https?://", url, re.I)


def _attachments(items: Sequence[dict[str, Any]], dropped: set[str] | None = None) -> str:
    if not items:
        return '<p class="muted">no attachments</p>'
    rows = []
    for a in items:
        gone = dropped is not None and _is_dropped(a, dropped)
        name = _e(a.get("name") or a.get("file_name"))
        url = _e(a.get("url") or a.get("file_url"))
        rows.append(
            f'<li class="dropped"><b>dropped: {name}</b> <code>{url}</code></li>'
            if gone
            else f"<li>{name} <code>{url}</code></li>"
        )
    return f'<ul class="attachments">{"".join(rows)}</ul>'


_AUTHOR_FLAGS = {
    "author_unknown": "the legacy created_by is no CRM user of this cid",
    "author_unresolved": "the author has no CDP user; created_by stays null",
}


def _author(s: Sample) -> tuple[str, list[str]]:
    a = s.legacy_author
    if a is None:
        legacy = "none"
    elif a.get("name") is None and a.get("email") is None:
        legacy = f"CRM user {_e(a.get('crm_user_id'))}: unknown in the CRM for this cid"
    else:
        legacy = f"{_e(a.get('name'))} &lt;{_e(a.get('email'))}&gt; (CRM user {_e(a.get('crm_user_id'))})"
    stored = f"<code>{_e(s.migrated_author)}</code>" if s.migrated_author else "null"
    if s.migrated_html is None:
        stored = "—"
    codes = [a for a in s.anomalies if ANOMALY_CATEGORY.get(a) == AUTHOR_ANOMALY]
    flags = [f"{c}: {_AUTHOR_FLAGS.get(c, 'check the author')}" for c in codes]
    marks = "".join(f" <span class=flag-text>{_e(f)}</span>" for f in flags)
    return (
        f'<p class="author{" flagged" if codes else ""}"><b>author</b>: legacy {legacy} → CDP created_by '
        f"{stored}{marks}</p>"
    ), flags


def _note_slot(side: str, html: str | None, full_size: int | None) -> str:
    """An empty frame slot holding the (capped) note HTML as escaped attribute text; None:
    the same HTML as the legacy slot of the card (written once)."""
    cut = (
        (
            f'<p class="cut">showing the first {MAX_NOTE_BYTES // 1024} KB of {full_size // 1024} KB '
            "(checksums are compared in full)</p>"
        )
        if full_size
        else ""
    )
    data = 'data-html="" data-same="legacy"' if html is None else f'data-html="{_e(html)}"'
    return f'<div class="slot" data-side="{side}" {data}></div>{cut}'


def _sample_card(s: Sample, tz: ZoneInfo, sanitize: Callable[[str], str], text_of: Callable[[str], str]) -> str:
    key = f"{s.cid}:{s.legacy_crm_note_id}"
    badges = "".join(
        f'<span class="badge{" problem" if c == PROBLEM else ""}" '
        f'title="{_e(CATEGORIES[c].meaning if c in CATEGORIES else c)}">'
        f"{_e(c)}</span>"
        for c in s.categories
    )
    raw, raw_size = cap(s.legacy_html or "")
    sanitised = sanitize(raw)
    display_html, mentions = mark_legacy(raw, sanitize)
    display, display_size = cap(inert_links(display_html))
    legacy = _note_slot("legacy", display, raw_size or display_size)
    flags: list[str] = []
    extra: list[tuple[str, str]] = []
    if s.migrated_html is not None:
        stored, migrated_size = cap(s.migrated_html)
        marked, extra = compare_mentions(stored, mentions) if mentions or "mention" in stored else (stored, [])
        migrated = inert_links(marked)
        right = _note_slot("migrated", None if migrated == display else migrated, migrated_size)
        after_text = text_of(stored)
    else:
        right = f'<p class="absent"><b>not in contact_notes</b>: {_e(s.outcome)}</p>'
        after_text = ""
    mention_table, mention_flags = _mention_table(s, mentions, extra)
    flags += mention_flags
    dropped = _dropped_ids(s)
    for a in s.legacy_attachments:
        if _is_dropped(a, dropped):
            flags.append(
                f"dropped attachment: {a.get('name') or a.get('file_name')} "
                f"({a.get('url') or a.get('file_url')}: not http(s))"
            )
    author, author_flags = _author(s)
    flags += author_flags
    times, time_flags = _times(s, tz)
    flags += time_flags
    extras = ""
    if s.anomalies:
        extras += f"<p>anomalies: {_e(', '.join(s.anomalies))}</p>"
    if s.problems:
        extras += f'<p class="problems"><b>problems</b>: {_e(", ".join(s.problems))}</p>'
    checks = "".join(f"<li><b>{_e(c)}</b>: {_e(CATEGORIES[c].check)}</li>" for c in s.categories if c in CATEGORIES)
    flag_list = "".join(f"<li>{_e(f)}</li>" for f in flags)
    name = f"verdict-{s.cid}-{s.legacy_crm_note_id}"
    source, source_size = cap(raw, MAX_SOURCE_BYTES)
    source_cut = (
        f" (first {MAX_SOURCE_BYTES // 1024} KB of {(raw_size or source_size) // 1024} KB)" if source_size else ""
    )
    diff, removed = html_diff(source, sanitize(source)) if sanitised != raw else (_e(source), 0)
    summary = (
        f"legacy HTML: what the sanitiser removed ({removed} tokens, red){source_cut}"
        if removed
        else f"legacy HTML source (the sanitiser removed nothing){source_cut}"
    )
    is_open = " open" if SANITISED_XSS in s.categories and removed else ""
    return (
        f'<section class="sample" id="sample-{s.cid}-{s.legacy_crm_note_id}" data-sample-key="{_e(key)}" '
        f'data-cid="{s.cid}" data-note-id="{s.legacy_crm_note_id}" data-outcome="{_e(s.outcome)}" '
        f'data-categories="{_e(" ".join(s.categories))}" data-flags="{len(flags)}" data-verdict="">'
        f"<h3>note {s.legacy_crm_note_id} · {_e(s.outcome)} {badges}</h3>"
        f'<fieldset class="verdict"><legend>verdict</legend>'
        f'<label><input type="radio" name="{name}" value="pass"> pass</label> '
        f'<label><input type="radio" name="{name}" value="fail"> fail</label> '
        f'<button type="button" class="clear-verdict">clear</button> <span class="reviewed-at muted"></span>'
        f'<textarea placeholder="comment" aria-label="comment"></textarea></fieldset>'
        f"{f'<ul class=flags>{flag_list}</ul>' if flags else ''}"
        f"{f'<ul class=checks>{checks}</ul>' if checks else ''}{author}"
        f'<div class="sides"><div><h4>legacy (sanitised for display)</h4>{legacy}'
        f"{_attachments(s.legacy_attachments, dropped)}</div><div><h4>migrated (stored in CDP)</h4>{right}"
        f"{_attachments(s.migrated_attachments)}</div></div>{mention_table}{times}{extras}"
        f"<h4>text diff (visible text)</h4>{text_diff(text_of(raw), after_text)}"
        f'<details class="source"{is_open}><summary>{_e(summary)}</summary>'
        f'<pre class="diff html">{diff}</pre></details>'
        "</section>"
    )


# --- the page -----------------------------------------------------------------------------


def _anomaly_counts(ledgers: Sequence[CidLedger]) -> dict[str, dict[str, tuple[int, int]]]:
    """category → code → (anomalies, cids)."""
    count: Counter[str] = Counter()
    cids: Counter[str] = Counter()
    for x in ledgers:
        for code, found in x.anomalies.items():
            count[code] += found.count
            cids[code] += bool(found.count)
    out: dict[str, dict[str, tuple[int, int]]] = {}
    for code in sorted(count):
        out.setdefault(anomaly_category(code), {})[code] = (count[code], cids[code])
    return out


def _breakdown(by_category: dict[str, dict[str, int]]) -> str:
    return " · ".join(f"{c} {sum(codes.values())}" for c, codes in by_category.items())


def _tiles(t: dict[str, Any], ledgers: Sequence[CidLedger]) -> str:
    by_status = {s: sum(1 for x in ledgers if x.status == s) for s in (OK, WARN, FAIL)}

    def bad(n: int) -> str:
        return " bad" if n else ""

    tiles = [
        (
            "cids",
            f'{t["cids"]}<small><span class="dot status-ok"></span>{by_status[OK]} '
            f'<span class="dot status-warn"></span>{by_status[WARN]} '
            f'<span class="dot status-fail"></span>{by_status[FAIL]}</small>',
            "",
        ),
        ("in scope", t["in_scope"], ""),
        ("migrated", t["migrated"], ""),
        ("parked", sum(t["parked"].values()), " warn" if sum(t["parked"].values()) else ""),
        ("missing", t["missing"], bad(t["missing"])),
        ("extra", t["extra"], bad(t["extra"])),
        ("duplicates", t["duplicates"], bad(t["duplicates"])),
        ("mismatched", t["mismatched"], bad(t["mismatched"])),
        ("edited in CDP", t["edited_in_cdp"], " info"),
        ("anomalies", f"{t['anomalies']}<small>in {t.get('anomalous_notes', '?')} notes</small>", " info"),
    ]
    cells = "".join(
        f'<div class="tile{cls}"><b>{value}</b><span>{_e(label)}</span></div>' for label, value, cls in tiles
    )
    parked = ", ".join(f"{_e(k)} {v}" for k, v in t["parked"].items()) or "none"
    return (
        f'<div class="tiles" id="totals">{cells}</div><p class="legend"><b>fail</b>: missing, extra, duplicate '
        f"or mismatching notes, or the counts endpoint disagrees · <b>warn</b>: parked notes to act on "
        f"(parked by reason: {parked}) · anomalies and CDP edits are informational</p>"
    )


def _anomaly_section(t: dict[str, Any], ledgers: Sequence[CidLedger]) -> str:
    counts = _anomaly_counts(ledgers)
    if not counts:
        return '<p id="anomalies" class="muted">No anomalies.</p>'
    rows = []
    for category, codes in counts.items():
        total = sum(n for n, _ in codes.values())
        for i, (code, (n, cids)) in enumerate(codes.items()):
            head = (
                f'<td class=l rowspan="{len(codes)}"><b>{_e(category)}</b></td><td rowspan="{len(codes)}">{total}</td>'
                if i == 0
                else ""
            )
            rows.append(f"<tr>{head}<td class=l><code>{_e(code)}</code></td><td>{n}</td><td>{cids}</td></tr>")
    return (
        f'<div id="anomalies"><p><b>{t["anomalies"]} anomalies</b> counts anomalies, not notes: a note can carry '
        f"several (an unknown author and a DST time, say); {t.get('anomalous_notes', '?')} of {t['in_scope']} "
        "in-scope notes carry at least one. Anomalies are normal in legacy data and never a status: each sample "
        "category below says what to check.</p>"
        '<table class="breakdown"><thead><tr><th class=l>sample category</th><th>anomalies</th><th class=l>code</th>'
        f"<th>anomalies</th><th>cids</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _guidance(samples: Sequence[Sample]) -> str:
    present = Counter(c for s in samples for c in s.categories)
    rows = "".join(
        f'<tr data-category="{_e(name)}"><td class=l><span class="badge{" problem" if name == PROBLEM else ""}">'
        f"{_e(name)}</span></td><td>{present.get(name, 0)}</td><td class=l>{_e(c.meaning)}</td>"
        f"<td class=l>{_e(c.check)}</td></tr>"
        for name, c in CATEGORIES.items()
    )
    return (
        '<h2 id="guidance">What to check, per sample category</h2>'
        '<table class="guidance"><thead><tr><th class=l>category</th><th>samples</th><th class=l>means</th>'
        f"<th class=l>check</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _zero(n: int) -> str:
    return f"<td class=zero>{n}</td>" if not n else f"<td class=nz>{n}</td>"


def _summary(ledgers: Sequence[CidLedger]) -> str:
    head = (
        "<thead><tr><th class=l>cid</th><th>status</th><th>in scope</th><th>migrated</th><th class=l>parked</th>"
        "<th>edited in CDP</th><th>missing</th><th>extra</th><th>duplicates</th><th>mismatched</th>"
        "<th class=l>anomalies (by category)</th><th class=l>counts endpoint</th><th class=l>offending ids</th>"
        "</tr></thead>"
    )
    rows = []
    for x in ledgers:
        parked = ", ".join(f"{_e(k)} {v}" for k, v in sorted(x.parked.items())) or "0"
        api = "not checked" if x.api_counts is None else ("agrees" if not x.api_differences else "disagrees")
        kinds = ", ".join(f"{k} {v.count}" for k, v in sorted(x.anomalies.items()))
        by_category = {c: {k: n for k, (n, _) in codes.items()} for c, codes in _anomaly_counts([x]).items()}
        total = sum(a.count for a in x.anomalies.values())
        rows.append(
            f'<tr class="row-{x.status}" data-cid="{x.cid}" data-status="{x.status}">'
            f'<td class=l><a href="#cid-{x.cid}">{x.cid}</a></td>'
            f'<td><span class="status status-{x.status}">{x.status}</span></td><td>{x.in_scope}</td>'
            f"<td>{x.migrated}</td><td class=l>{parked}</td><td>{x.edited_in_cdp.count}</td>"
            f"{_zero(x.missing.count)}{_zero(x.extra.count)}{_zero(x.duplicates.count)}{_zero(x.mismatched)}"
            f'<td class=l title="{_e(kinds)}">{total}'
            f"{f' <small>{_e(_breakdown(by_category))}</small>' if total else ''}"
            f"</td><td class=l>{_e(api)}</td><td class=ids>{_e(_offending(x))}</td></tr>"
        )
    return f'<table id="summary">{head}<tbody>{"".join(rows)}</tbody></table>'


def _ids(found: CappedIds) -> str:
    return f"{', '.join(map(str, found.ids))}{' …' if found.count > len(found.ids) else ''}"


def _offending(x: CidLedger) -> str:
    ids = [
        f"{label}: {_ids(found)}"
        for label, found in (
            ("missing", x.missing),
            ("extra", x.extra),
            ("duplicates", x.duplicates),
            ("stale parked", x.parked_stale),
        )
        if found.count
    ]
    ids.extend(f"mismatch {kind}: {_ids(found)}" for kind, found in sorted(x.mismatches.items()))
    ids.extend(x.api_differences + x.errors)
    return " | ".join(ids)


def banner(t: dict[str, Any]) -> tuple[str, str]:
    """(status class, text): whether every in-scope note is accounted for, and in the same
    breath how many are parked and how many cids are at warn; green only when nothing is."""
    parked = sum(t["parked"].values())
    share = f"{100 * parked / t['in_scope']:.1f} %" if t["in_scope"] else "0 %"
    if not t["ok"]:
        return FAIL, (
            f"{t['cids_failing']} of {t['cids']} cids fail: {t['missing']} missing, {t['extra']} extra, "
            f"{t['duplicates']} duplicates, {t['mismatched']} mismatched; {parked} notes ({share}) are "
            f"parked and {t['cids_warning']} cids at warn"
        )
    text = (
        f"Every in-scope note is accounted for and nothing mismatches: {t['migrated']} migrated and {parked} "
        f"parked of {t['in_scope']} in scope"
    )
    if parked or t["cids_warning"]:
        return WARN, (
            f"{text}. But {parked} notes ({share}) are parked, not migrated, and {t['cids_warning']} of "
            f"{t['cids']} cids are at warn: act on them (sync contacts and retry-parked, or shorten the "
            "notes) before sign-off."
        )
    return OK, f"{text}; no note is parked."


def _cid_sections(
    ledgers: Sequence[CidLedger],
    samples: Sequence[Sample],
    tz: ZoneInfo,
    sanitize: Callable[[str], str],
    text_of: Callable[[str], str],
) -> Iterator[str]:
    """The samples' sections, one cid at a time (a piece of the page each)."""
    status = {x.cid: x.status for x in ledgers}
    for cid, group in groupby(sorted(samples, key=lambda s: (s.cid, s.legacy_crm_note_id)), key=lambda s: s.cid):
        items = list(group)
        state = status.get(cid, OK)
        kinds = sorted({c for s in items for c in s.categories})
        yield (
            f'<details class="cid" id="cid-{cid}" data-cid="{cid}" data-status="{state}">'
            f'<summary><span class="status status-{state}">{state}</span> cid {cid} · {len(items)} samples'
            f' <span class="muted">{_e(", ".join(kinds))}</span> <span class="done"></span></summary>'
            f"{''.join(_sample_card(s, tz, sanitize, text_of) for s in items)}</details>"
        )


def _toolbar(samples: Sequence[Sample]) -> str:
    present = {c for s in samples for c in s.categories}
    categories = "".join(f'<option value="{_e(c)}">{_e(c)}</option>' for c in CATEGORIES if c in present)
    return (
        '<div class="toolbar" id="toolbar">'
        '<label>reviewer <input id="reviewer" size="14" autocomplete="name" placeholder="your name"></label> '
        f'<label>category <select id="filter-category"><option value="">all</option>{categories}</select></label> '
        '<label>cid status <select id="filter-status"><option value="">all</option><option>ok</option>'
        "<option>warn</option><option>fail</option></select></label> "
        '<label>verdict <select id="filter-verdict"><option value="">all</option><option value="none">unreviewed'
        "</option><option>pass</option><option>fail</option></select></label> "
        '<button type="button" id="next-unreviewed">Next unreviewed</button> '
        '<button type="button" id="open-all">Open all</button> <button type="button" id="close-all">Close all</button> '
        '<button type="button" id="export-verdicts">Export verdicts (CSV)</button> '
        '<span id="verdict-progress"></span> <span id="filter-count" class="muted"></span></div>'
    )


def report_pieces(
    ledgers: Sequence[CidLedger],
    samples: Sequence[Sample],
    *,
    timezone_name: str,
    generated_at: datetime,
    seed: int,
    sanitize: Callable[[str], str] | None = None,
    text_of: Callable[[str], str] | None = None,
    recorded: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[str]:
    """The report's HTML in pieces (the head, then a cid's samples at a time): written as
    they come, the page is never held whole, whatever the number of cids.

    `sanitize`/`text_of` default to the core's `sanitize_html`/`visible_text` (passed in by
    tests to show the sandbox alone holds). `recorded`: verdicts `signoff` recorded for this
    report, by `"<cid>:<legacy id>"` (`{verdict, comment, at, by}`), shown where the
    reviewer's browser holds none."""
    if sanitize is None or text_of is None:
        from crm_notes_migration.transform import sanitize_html, visible_text

        sanitize = sanitize or sanitize_html
        text_of = text_of or visible_text
    tz = ZoneInfo(timezone_name)
    script, css, frame_css = _asset("report.js"), _asset("report.css"), _asset("frame.css")
    rid = report_id(ledgers, samples, timezone_name=timezone_name, seed=seed)
    t = totals(list(ledgers))
    state, verdict = banner(t)
    yield (
        f'<!doctype html><html lang="en" data-report-id="{rid}" data-frame-max="{FRAME_MAX_HEIGHT_PX}" '
        f'data-csv-columns="{_e(",".join(CSV_COLUMNS))}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_e(page_csp(script))}">'
        '<meta http-equiv="x-dns-prefetch-control" content="off">'
        '<meta name="referrer" content="no-referrer"><meta name="viewport" content="width=device-width">'
        f"<title>CRM notes migration QA report {rid}</title><style>{css}</style></head><body>"
        f"<h1>CRM notes → CDP migration: QA report</h1>"
        f'<p class="muted">report id <code id="report-id">{rid}</code> · generated '
        f"{_e(generated_at.isoformat(sep=' '))} · CRM_TIMEZONE {_e(timezone_name)} · sample seed {seed}</p>"
        f'<p class="banner status-{state}" id="verdict-banner">{_e(verdict)}</p>'
        f"{_tiles(t, ledgers)}{_anomaly_section(t, ledgers)}{_guidance(samples)}<h2>Per cid</h2>{_summary(ledgers)}"
        f'<h2 id="samples-title">Samples ({len(samples)})</h2><p class="muted">Each cid holds a seeded random sample '
        "plus one note of every hard case present. Open a cid to see its notes side by side (frames are sandboxed: "
        "no script from a note can run, links do not navigate, nothing loads from the network). Verdicts stay in "
        "this browser until exported; the CSV carries the report id for <code>signoff</code>.</p>"
        f"{_toolbar(samples)}"
        f'<div id="samples" data-frame-head="{_e(frame_head(frame_css))}" '
        f'data-recorded="{_e(json.dumps(dict(recorded or {}), sort_keys=True))}">'
    )
    yield from _cid_sections(ledgers, samples, tz, sanitize, text_of)
    yield f"</div><script>{script}</script></body></html>"


def render_report(ledgers: Sequence[CidLedger], samples: Sequence[Sample], **options: Any) -> str:
    """The whole report as one HTML string (`report_pieces` joined; for small reports and tests)."""
    return "".join(report_pieces(ledgers, samples, **options))


def write_report(path: Path, ledgers: Sequence[CidLedger], samples: Sequence[Sample], **options: Any) -> None:
    """Writes the report to `path` piece by piece, through a file beside it renamed at the
    end: memory stays one cid's samples, and an interrupted write never leaves half a page."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8") as out:
            for piece in report_pieces(ledgers, samples, **options):
                out.write(piece)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
