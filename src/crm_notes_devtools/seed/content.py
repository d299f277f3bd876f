"""Note bodies in the legacy editor's HTML (Quill 1.x plus its mention module).

Pure: every choice comes from the `random.Random` passed in. Text is drawn from sentence
pools built once per seed, so a note costs a few dozen random draws, not one per word.
"""

from __future__ import annotations

import base64
import html
import random

from crm_notes_devtools.seed.payloads import CJK_SENTENCES, EMOJI, RTL_SENTENCES

_ID_WORDS = [
    "kami",
    "sudah",
    "menghubungi",
    "pelanggan",
    "terkait",
    "penawaran",
    "harga",
    "untuk",
    "proyek",
    "baru",
    "minggu",
    "depan",
    "beliau",
    "meminta",
    "revisi",
    "kontrak",
    "dan",
    "jadwal",
    "pengiriman",
    "barang",
    "ke",
    "gudang",
    "cabang",
    "surabaya",
    "tim",
    "sales",
    "akan",
    "follow",
    "up",
    "lagi",
    "setelah",
    "rapat",
    "internal",
    "selesai",
    "mohon",
    "dicek",
    "kembali",
    "data",
    "alamat",
    "email",
    "dan",
    "nomor",
    "telepon",
    "yang",
    "terdaftar",
    "pelanggan",
    "puas",
    "dengan",
    "layanan",
    "kami",
    "tetapi",
    "masih",
    "menunggu",
    "persetujuan",
    "direksi",
    "pembayaran",
    "termin",
    "pertama",
    "sudah",
    "diterima",
    "bagian",
    "keuangan",
    "perlu",
    "konfirmasi",
    "ulang",
    "terkait",
    "diskon",
    "khusus",
    "akhir",
    "tahun",
    "produk",
    "yang",
    "diminta",
    "belum",
    "tersedia",
    "di",
    "stok",
    "estimasi",
    "kedatangan",
    "bulan",
    "depan",
    "catatan",
    "dari",
    "kunjungan",
    "ke",
    "kantor",
    "klien",
    "di",
    "jakarta",
    "selatan",
    "mereka",
    "tertarik",
    "dengan",
    "paket",
    "premium",
    "dan",
    "integrasi",
    "whatsapp",
]
_EN_WORDS = [
    "we",
    "called",
    "the",
    "customer",
    "about",
    "the",
    "renewal",
    "quote",
    "and",
    "they",
    "asked",
    "for",
    "a",
    "revised",
    "proposal",
    "next",
    "week",
    "the",
    "decision",
    "maker",
    "is",
    "out",
    "of",
    "office",
    "until",
    "monday",
    "please",
    "double",
    "check",
    "the",
    "billing",
    "address",
    "and",
    "the",
    "phone",
    "number",
    "on",
    "file",
    "the",
    "client",
    "is",
    "happy",
    "with",
    "onboarding",
    "but",
    "procurement",
    "still",
    "needs",
    "a",
    "signed",
    "purchase",
    "order",
    "follow",
    "up",
    "after",
    "the",
    "internal",
    "review",
    "meeting",
    "notes",
    "from",
    "the",
    "site",
    "visit",
    "they",
    "want",
    "a",
    "demo",
    "of",
    "the",
    "reporting",
    "dashboard",
    "and",
    "the",
    "mobile",
    "app",
    "discount",
    "approved",
    "by",
    "the",
    "regional",
    "manager",
    "shipment",
    "delayed",
    "by",
    "customs",
    "invoice",
    "sent",
    "contract",
    "draft",
    "attached",
    "escalated",
    "to",
    "support",
    "ticket",
    "closed",
    "pending",
    "reply",
]
_FIXED_PHRASES = (
    "Harga: Rp 1.500.000 &amp; ongkir Rp25.000.",
    "Budget &lt; 5 jt, minta cicilan 0%.",
    "Call back at +62 812-3456-7890 before 17:00 WIB.",
    "PO #PO-2023/11/0042 &mdash; approved.",
    "Email: procurement@pt-maju-jaya.co.id (cc: finance@pt-maju-jaya.co.id).",
    "Q3 target 120% &gt; Q2; churn risk &quot;medium&quot;.",
    "Jl. Jend. Sudirman Kav. 52&ndash;53, Jakarta 12190",
    "Meeting moved to 2023-09-14&nbsp;10:30.",
)
_IMAGE_HOSTS = ("https://cdn.crm-legacy.example/uploads", "https://s3.ap-southeast-1.amazonaws.com/crm-files")
_LINK_HOSTS = (
    "https://www.tokopedia.com/toko",
    "https://docs.google.com/document/d",
    "https://wa.me",
    "http://intranet.example.co.id/wiki",
)
_COLORS = ("rgb(230, 0, 0)", "rgb(0, 138, 0)", "rgb(0, 102, 204)", "rgb(255, 153, 0)")


def _sentence(rng: random.Random, words: tuple[str, ...] | list[str]) -> str:
    picked = rng.choices(words, k=rng.randint(6, 16))
    text = " ".join(picked)
    return text[0].upper() + text[1:] + rng.choice((".", ".", ".", "?", "!", "..."))


class SentencePools:
    """Indonesian and English sentences (already HTML-escaped) drawn once per seed."""

    def __init__(self, rng: random.Random, size: int = 2000) -> None:
        self.id = [_sentence(rng, _ID_WORDS) for _ in range(size)] + list(_FIXED_PHRASES)
        self.en = [_sentence(rng, _EN_WORDS) for _ in range(size)] + list(_FIXED_PHRASES)

    def pick(self, lang: str) -> list[str]:
        return self.en if lang == "en" else self.id


class ContentWriter:
    """Builds legacy-editor HTML of a rough target size from sentence pools."""

    def __init__(self, pools: SentencePools) -> None:
        self.pools = pools

    def text(self, rng: random.Random, lang: str, k: int) -> str:
        return " ".join(rng.choices(self.pools.pick(lang), k=k))

    def inline(self, rng: random.Random, lang: str) -> str:
        """A paragraph's inner HTML with some of Quill's inline formats."""
        parts = rng.choices(self.pools.pick(lang), k=rng.randint(1, 4))
        r = rng.random()
        i = rng.randrange(len(parts))
        if r < 0.15:
            parts[i] = f"<strong>{parts[i]}</strong>"
        elif r < 0.25:
            parts[i] = f"<em>{parts[i]}</em>"
        elif r < 0.30:
            parts[i] = f"<u>{parts[i]}</u> <s>{parts[(i + 1) % len(parts)]}</s>"
        elif r < 0.36:
            size = rng.choice(("small", "large", "huge"))
            parts[i] = f'<span class="ql-size-{size}">{parts[i]}</span>'
        elif r < 0.40:
            parts[i] = f'<span style="color: {rng.choice(_COLORS)};">{parts[i]}</span>'
        elif r < 0.46:
            href = f"{rng.choice(_LINK_HOSTS)}/{rng.getrandbits(32):x}"
            parts[i] = f'<a href="{href}" rel="noopener noreferrer" target="_blank">{parts[i]}</a>'
        elif r < 0.49:
            parts[i] = f"<code>{parts[i]}</code>"
        elif r < 0.51:
            parts[i] = f'<span class="ql-font-monospace">{parts[i]}</span> x<sup>2</sup> H<sub>2</sub>O'
        return " ".join(parts)

    def block(self, rng: random.Random, lang: str) -> str:
        """One top-level block of the legacy editor."""
        r = rng.random()
        if r < 0.50:
            return f"<p>{self.inline(rng, lang)}</p>"
        if r < 0.56:
            return "<p><br></p>"
        if r < 0.62:
            align = rng.choice(("center", "right", "justify"))
            return f'<p class="ql-align-{align}">{self.inline(rng, lang)}</p>'
        if r < 0.67:
            return f'<p class="ql-indent-{rng.randint(1, 3)}">{self.inline(rng, lang)}</p>'
        if r < 0.72:
            level = rng.randint(1, 3)
            return f"<h{level}>{self.text(rng, lang, 1)}</h{level}>"
        if r < 0.82:
            tag = rng.choice(("ol", "ul"))
            items = []
            for _ in range(rng.randint(2, 5)):
                cls = f' class="ql-indent-{rng.randint(1, 2)}"' if rng.random() < 0.2 else ""
                items.append(f"<li{cls}>{self.inline(rng, lang)}</li>")
            return f"<{tag}>{''.join(items)}</{tag}>"
        if r < 0.86:
            return f"<blockquote>{self.text(rng, lang, rng.randint(1, 3))}</blockquote>"
        if r < 0.89:
            code = "if (total &lt; 100 &amp;&amp; status === 'lead') {\n  sendFollowUp(id);\n}"
            return f'<pre class="ql-syntax" spellcheck="false">{code}\n</pre>'
        if r < 0.93:
            return self.table(rng, lang)
        if r < 0.96:
            src = f"{rng.choice(_IMAGE_HOSTS)}/{rng.getrandbits(40):x}.png"
            return f'<p><img src="{src}" alt="foto kunjungan" width="320"></p>'
        if r < 0.98:
            return f"<p>{self.text(rng, lang, 1)} {rng.choice(EMOJI)} {rng.choice(EMOJI)}</p>"
        return f'<p class="ql-direction-rtl ql-align-right">{rng.choice(RTL_SENTENCES)}</p>'

    def table(self, rng: random.Random, lang: str) -> str:
        rows = []
        for r in range(rng.randint(2, 4)):
            cells = "".join(
                f'<td data-row="row-{r}">{self.text(rng, lang, 1)[:40]}</td>' for _ in range(rng.randint(2, 4))
            )
            rows.append(f"<tr>{cells}</tr>")
        return f"<table><tbody>{''.join(rows)}</tbody></table>"

    def body(self, rng: random.Random, lang: str, target: int, extras: list[str]) -> str:
        """Blocks until about `target` characters, with `extras` (blocks) at random places."""
        blocks: list[str] = []
        size = 0
        while size < target:
            b = self.block(rng, lang)
            blocks.append(b)
            size += len(b)
        for extra in extras:
            blocks.insert(rng.randint(0, len(blocks)), extra)
        return "".join(blocks)

    def plain_paragraphs(self, rng: random.Random, lang: str, target_bytes: int) -> str:
        """Only `<p>` and plain text: sanitising leaves its size (almost) unchanged."""
        out: list[str] = []
        size = 0
        while size < target_bytes:
            p = f"<p>{self.text(rng, lang, 8)}</p>"
            out.append(p)
            size += len(p.encode("utf-8"))
        return "".join(out)

    def mixed_script_block(self, rng: random.Random, kind: str) -> str:
        if kind == "cjk":
            return f"<p>{rng.choice(CJK_SENTENCES)}</p>"
        if kind == "rtl":
            return f'<p class="ql-direction-rtl ql-align-right">{rng.choice(RTL_SENTENCES)}</p>'
        return f"<p>{' '.join(rng.choices(EMOJI, k=rng.randint(2, 6)))} {self.text(rng, 'id', 1)}</p>"

    def inline_image(self, rng: random.Random, approx_bytes: int) -> str:
        """A pasted image, as the legacy editor stored it: a base64 `data:image/png` URL."""
        raw = rng.randbytes(approx_bytes * 3 // 4)
        return f'<p><img src="data:image/png;base64,{base64.b64encode(raw).decode("ascii")}"></p>'


def mention_span(index: int, crm_user_id: int, name: str) -> str:
    """The legacy mention markup of SPEC §2, exactly."""
    value = html.escape(name, quote=True)
    return (
        f'<span class="mention" data-index="{index}" data-denotation-char="@" data-id="{crm_user_id}" '
        f'data-value="{value}"><span contenteditable="false"><span class="ql-mention-denotation-char">@</span>'
        f"{html.escape(name, quote=False)}</span></span>"
    )
