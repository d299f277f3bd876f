"""SPEC §5 mentions: the three input forms, resolution, unresolved text, idempotence."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from crm_notes_migration.transform import CdpUser, legacy_mention_user_ids, sanitize_html, visible_text
from crm_notes_migration.transform.mentions import _SELECTOR, _is_mention, may_hold_mention, normalise_mentions

from .mention_support import BUDI, RESOLUTION, SARI, run


def legacy_span(crm_id: int, name: str) -> str:
    return (
        f'<span class="mention" data-index="0" data-denotation-char="@" data-id="{crm_id}" '
        f'data-value="{name}"><span contenteditable="false"><span class="ql-mention-denotation-char">'
        f"@</span>{name}</span></span>"
    )


def canonical(user: CdpUser, shown: str) -> str:
    return f'<a class="mention" data-mention="" data-user-id="{user.id}" href="mention://user/{user.id}">@{shown}</a>'


def test_legacy_span_resolves_by_trimmed_case_insensitive_email():
    content, mentions, unresolved = run(f"<p>Hi {legacy_span(42, 'Budi Santoso')}!</p>")
    assert content == f"<p>Hi {canonical(BUDI, 'Budi Santoso')}!</p>"
    assert mentions == [{"user_id": BUDI.id, "name": "Budi Santoso (CDP)"}]
    assert unresolved == 0


def test_web_form_becomes_canonical():
    html = f'<p><span data-mention="" data-user-id="{SARI.id}">@Sari W</span></p>'
    content, mentions, _ = run(html)
    assert content == f"<p>{canonical(SARI, 'Sari W')}</p>"
    assert mentions == [{"user_id": SARI.id, "name": "Sari"}]


def test_bare_mobile_form_becomes_canonical():
    content, mentions, _ = run(f'<p><a href="mention://user/{BUDI.id}">@Budi</a></p>')
    assert content == f"<p>{canonical(BUDI, 'Budi')}</p>"
    assert [m["user_id"] for m in mentions] == [BUDI.id]


def test_canonical_form_is_kept_exactly():
    html = f"<p>{canonical(BUDI, 'Budi')}</p>"
    assert run(html)[0] == html


def test_unresolved_mentions_become_plain_text():
    html = (
        f"<p>{legacy_span(44, 'Nobody')} {legacy_span(999, 'Ghost')} "
        f'<a href="mention://user/{"f" * 24}">@Gone</a> '
        f'<span data-mention data-user-id="not-an-id">@Bad</span></p>'
    )
    content, mentions, unresolved = run(html)
    assert content == "<p>@Nobody @Ghost @Gone @Bad</p>"
    assert mentions == []
    assert unresolved == 4


def test_mentions_in_document_order_without_duplicates():
    html = f"<p>{legacy_span(43, 'Sari')} {legacy_span(42, 'Budi')} {legacy_span(43, 'Sari')}</p>"
    _, mentions, _ = run(html)
    assert [m["user_id"] for m in mentions] == [SARI.id, BUDI.id]


def test_hostile_mention_markup_is_neutralised():
    html = f'<a href="mention://user/{BUDI.id}" onclick="alert(1)">@<img src=x onerror=alert(1)>Budi</a>'
    content, _, _ = run(html)
    assert content == canonical(BUDI, "Budi")


def test_name_text_is_escaped():
    content, _, _ = run(legacy_span(42, "A &lt;b&gt; &amp; C"))
    assert content == canonical(BUDI, "A &lt;b&gt; &amp; C")


def test_no_mention_no_parse_same_output():
    html = "<p>nothing to see</p>"
    assert normalise_mentions(html, {}, RESOLUTION) == (html, [], 0)


def test_legacy_mention_user_ids_in_order_unique():
    html = (
        f"<p>{legacy_span(7, 'A')} {legacy_span(3, 'B')} {legacy_span(7, 'A')}</p>"
        "<span class='mention' data-id='x'>@c</span>"
    )
    assert legacy_mention_user_ids(html) == [7, 3]
    assert legacy_mention_user_ids(None) == []
    assert legacy_mention_user_ids("<p>no</p>") == []


# --- properties -----------------------------------------------------------------------

NAMES = st.sampled_from(["Budi Santoso", "Sari", "Ana María", "李雷", "O'Neil & Co"])
WORDS = st.text(alphabet=st.sampled_from(list("abc xyz,.!é")), max_size=10)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


MENTION = st.one_of(
    st.tuples(st.sampled_from([42, 43, 44, 999]), NAMES).map(lambda t: legacy_span(t[0], _esc(t[1]))),
    st.tuples(st.sampled_from([BUDI, SARI]), NAMES).map(
        lambda t: f'<span data-mention="" data-user-id="{t[0].id}">@{_esc(t[1])}</span>'
    ),
    st.tuples(st.sampled_from([str(BUDI.id), str(SARI.id), "a" * 24]), NAMES).map(
        lambda t: f'<a href="mention://user/{t[0]}">@{_esc(t[1])}</a>'
    ),
)
CONTENT = st.lists(st.one_of(WORDS.map(_esc), MENTION, st.just("<br>")), max_size=8).map(
    lambda parts: "<p>" + "".join(parts) + "</p>"
)


@settings(max_examples=300, deadline=None)
@given(CONTENT)
def test_normalising_twice_equals_once(html):
    once, mentions, _ = run(html)
    twice, mentions_again, unresolved_again = run(once)
    assert twice == once
    assert mentions_again == mentions
    assert unresolved_again == 0


@settings(max_examples=300, deadline=None)
@given(CONTENT)
def test_mentions_keep_the_visible_text(html):
    content, _, _ = run(html)
    assert visible_text(content) == visible_text(html)


# --- SPEC §5: mentions as a browser reads them, and no fake mention chip ----------------

GHOST = "650000000000000000000099"


def test_a_mention_href_is_read_as_a_browser_reads_it():
    for prefix in [" ", "&#32;", "\t", "\n", " \t\n "]:
        content, mentions, unresolved = run(f'<p><a href="{prefix}mention://user/{GHOST}">@CEO</a></p>')
        assert (content, mentions, unresolved) == ("<p>@CEO</p>", [], 1), prefix
        content, mentions, _ = run(f'<p><a href="{prefix}mention://user/{BUDI.id}">@Budi</a></p>')
        assert content == f"<p>{canonical(BUDI, 'Budi')}</p>", prefix
        assert [m["user_id"] for m in mentions] == [BUDI.id]


def test_no_fake_mention_chip_survives():
    for html in [
        f'<a class="mention" data-user-id="{BUDI.id}" href="https://evil.example/">@CEO</a>',
        '<a class="mention" data-mention="" href="https://evil.example/">@CEO</a>',
        '<a class="mention" href="https://evil.example/">@CEO</a>',
        f'<a data-user-id="{BUDI.id}" href="https://evil.example/">@CEO</a>',
    ]:
        content, _, _ = run(html)
        assert "mention" not in content and "data-user-id" not in content, content
    content, _, _ = run(f'<span class="mention" data-user-id="{BUDI.id}">@CEO</span>')
    assert content == "@CEO" or "mention" not in content


def test_a_mention_href_on_an_anchor_with_other_attributes_is_not_kept_by_the_sanitiser():
    out = sanitize_html(f'<a title="t" href="mention://user/{BUDI.id}">@B</a>')
    assert "mention:" not in out
    assert sanitize_html(out) == out


# --- the cheap test that spares most notes a parse never misses a mention ----------------

_WORD = st.sampled_from(
    ["mention", "MENTION", "Mention", "&#109;ention", "&#x6D;ention", "m&#101;ntion", "men\ttion", "men&Tab;tion",
     "me&NewLine;ntion", "men\r\ntion", "ment&#105;on", "mentio&#x6e;", "mentiom", "menti on"]
)  # fmt: skip
_SPACING = st.sampled_from(["", " ", "\t", "&#32;", "\n"])
_MENTION_SHAPED = st.one_of(
    st.tuples(_SPACING, _WORD).map(lambda t: f'<a href="{t[0]}{t[1]}://user/{GHOST}">@A</a>'),
    _WORD.map(lambda w: f'<span class="{w}" data-id="42">@B</span>'),
    st.sampled_from(["data-mention", "DATA-MENTION", "Data-Mention", "data-mentions", "data-ment"]).map(
        lambda name: f'<b {name} data-user-id="{BUDI.id}">@C</b>'
    ),
    st.sampled_from(["<p>x</p>", "&amp;", "text", '<a href="https://e.com/">l</a>']),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_MENTION_SHAPED, min_size=1, max_size=4).map("".join))
@example(f'<a href="men\ttion://user/{GHOST}">@A</a>')
@example(f'<a href="men&Tab;tion://user/{GHOST}">@A</a>')
@example(f'<a href=" &#109;ention://user/{GHOST}">@A</a>')
def test_the_parse_is_spared_only_where_the_dom_finds_no_mention(html):
    tree = LexborHTMLParser(html, is_fragment=True)
    found = [node for node in tree.css(_SELECTOR) if _is_mention(node)]
    assert may_hold_mention(html) or not found
