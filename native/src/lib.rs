//! Native core of `crm_notes_migration.transform`: the rules that cost the most per note,
//! each the byte-identical twin of a Python reference that defines it.
//!
//! - `Sanitizer::sanitize` is `html.reference_sanitize_html` (nh3 with a Python attribute
//!   callback, the fixed-point loop and its literal-parse proof) in one native call: the
//!   same ammonia and html5ever as nh3 0.3.8, the same attribute rules, loop and proof.
//! - `Sanitizer.legacy_mentions_as_text` (`mentions.rs`), `Sanitizer.may_hold_mention` and
//!   the module's `source_sha256` (`source.rs`) are their namesakes in `mention_text`,
//!   `mentions` and `identity`.
//!
//! `tests/unit/test_native_core.py` holds each to its reference on the seed, the XSS
//! corpus and generated input. Python's string semantics are kept where the rules use
//! them: `str.isspace` (which also counts U+001C..U+001F) for `strip`/`split`/`\s`, and
//! `re.IGNORECASE`'s matches for ASCII letters (`i` also matches U+0130 and U+0131, `s`
//! also U+017F).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use pyo3::prelude::*;
use regex::Regex;
use sha2::{Digest, Sha256};

mod literal;
mod mentions;
mod source;

/// Characters `str.isspace()` is true for.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_space)
}

/// The control characters `html._CONTROL_CHARS` removes: C0 but tab, LF, CR; DEL; C1.
fn is_dropped_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// `html.drop_control_chars`.
fn drop_control_chars(text: &str) -> Cow<'_, str> {
    // In UTF-8 a C0 control or DEL is its own byte, and a C1 control starts with 0xC2.
    let suspect = |b: &u8| (*b < 0x20 && !matches!(*b, b'\t' | b'\n' | b'\r')) || *b == 0x7f || *b == 0xc2;
    if text.as_bytes().iter().any(suspect) && text.chars().any(is_dropped_control) {
        Cow::Owned(text.chars().filter(|c| !is_dropped_control(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// `c` matches the lower-case ASCII letter `lower` under Python's `re.IGNORECASE`.
fn py_ci_letter(c: char, lower: u8) -> bool {
    let l = lower as char;
    c == l
        || c == l.to_ascii_uppercase()
        || (lower == b'i' && (c == '\u{130}' || c == '\u{131}'))
        || (lower == b's' && c == '\u{17f}')
        || (lower == b'k' && c == '\u{212a}')
}

/// Matches `pattern` (lower-case ASCII) at the start of `chars` as `re.IGNORECASE` would;
/// returns the rest.
fn py_ci_prefix<'a>(s: &'a str, pattern: &str) -> Option<&'a str> {
    let mut chars = s.char_indices();
    for p in pattern.bytes() {
        let (_, c) = chars.next()?;
        let ok = if p.is_ascii_alphabetic() { py_ci_letter(c, p) } else { c == p as char };
        if !ok {
            return None;
        }
    }
    Some(chars.next().map_or("", |(i, _)| &s[i..]))
}

/// `html._BAD_URL.match(value)`: `^\s*(?:javascript|vbscript|livescript)\s*:` (re.I).
fn bad_url(value: &str) -> bool {
    let rest = value.trim_start_matches(py_space);
    ["javascript", "vbscript", "livescript"].iter().any(|scheme| {
        py_ci_prefix(rest, scheme)
            .map(|after| after.trim_start_matches(py_space).starts_with(':'))
            .unwrap_or(false)
    })
}

/// `html._IMAGE_DATA_URL.match(value)`: `data:image/(?:png|gif|jpe?g|webp|bmp|avif)[;,]` (re.I).
fn image_data_url(value: &str) -> bool {
    let Some(rest) = py_ci_prefix(value, "data:image/") else { return false };
    ["png", "gif", "jpeg", "jpg", "webp", "bmp", "avif"].iter().any(|kind| {
        py_ci_prefix(rest, kind).map(|after| after.starts_with([';', ','])).unwrap_or(false)
    })
}

struct Rules {
    style_properties: HashSet<String>,
    safe_style_value: Regex,
}

const URL_ATTRIBUTES: [&str; 3] = ["href", "src", "cite"];
const PLAIN_URL_PREFIXES: [&str; 4] = ["https://", "http://", "mention://", "mailto:"];

impl Rules {
    /// `html._attribute_filter`.
    fn filter<'u>(&self, tag: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
        if attribute == "class" {
            return keep_classes(tag, value);
        }
        if URL_ATTRIBUTES.contains(&attribute) {
            if PLAIN_URL_PREFIXES.iter().any(|p| value.starts_with(p)) {
                return Some(Cow::Borrowed(value));
            }
            let stripped = py_strip(value);
            if bad_url(stripped) {
                return None;
            }
            // `stripped[:5].lower() == "data:"`: only A-Z lower to these letters.
            let head: String = stripped.chars().take(5).collect();
            if head.eq_ignore_ascii_case("data:") {
                let keep = tag == "img" && attribute == "src" && image_data_url(stripped);
                return if keep { Some(Cow::Borrowed(value)) } else { None };
            }
            return Some(Cow::Borrowed(value));
        }
        if attribute == "style" {
            return self.clean_style(value).map(Cow::Owned);
        }
        Some(Cow::Borrowed(value))
    }

    /// `html._clean_style`.
    fn clean_style(&self, value: &str) -> Option<String> {
        let mut kept: Vec<String> = Vec::new();
        for declaration in value.split(';') {
            let (name, style_value) = declaration.split_once(':').unwrap_or((declaration, ""));
            let name = py_strip(name).to_lowercase();
            let style_value = py_strip(style_value);
            if self.style_properties.contains(&name) && self.safe_style_value.is_match(style_value) {
                kept.push(format!("{name}: {style_value}"));
            }
        }
        if kept.is_empty() { None } else { Some(kept.join("; ")) }
    }
}

/// `html._keep_classes`.
fn keep_classes<'u>(tag: &str, value: &'u str) -> Option<Cow<'u, str>> {
    let kept: Vec<&str> = value
        .split(py_space)
        .filter(|c| !c.is_empty() && (c.starts_with("ql-") || (*c == "mention" && tag == "a")))
        .collect();
    if kept.is_empty() { None } else { Some(Cow::Owned(kept.join(" "))) }
}

const MENTION_HEAD: &str = "<a class=\"mention\" data-mention=\"\" data-user-id=\"";

/// `html._MENTION_REL.sub(r"\1>", cleaned)`: the link rel off canonical mention anchors.
fn strip_mention_rel(html: &str, rel_attribute: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut cursor = 0;
    while let Some(found) = html[cursor..].find(MENTION_HEAD) {
        let start = cursor + found;
        let id_at = start + MENTION_HEAD.len();
        let rest = &html[id_at..];
        let id = rest.get(..24).filter(|id| id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        if let Some(id) = id {
            let href = format!("\" href=\"mention://user/{id}\"");
            let after_id = &rest[24..];
            if after_id.starts_with(&href) && after_id[href.len()..].starts_with(rel_attribute) {
                let keep_to = id_at + 24 + href.len();
                out.push_str(&html[cursor..keep_to]);
                out.push('>');
                cursor = keep_to + rel_attribute.len();
                continue;
            }
        }
        out.push_str(&html[cursor..id_at]);
        cursor = id_at;
    }
    out.push_str(&html[cursor..]);
    out
}

/// Extra sanitising passes at most (`html._MAX_PASSES`).
const MAX_PASSES: usize = 4;

/// The SPEC §5 sanitiser (see the module docs).
#[pyclass(frozen, module = "crm_notes_native")]
struct Sanitizer {
    builder: ammonia::Builder<'static>,
    literal: literal::Walk,
    /// The walk for raw legacy markup (`literal_grammar.EVERY_ELEMENT`).
    every_element: literal::Walk,
    /// ` rel="<link_rel>">`, what `strip_mention_rel` removes (but the `>`).
    rel_attribute: String,
}

/// ammonia's builder borrows its names for its lifetime; the process builds one sanitiser
/// (`html.NATIVE`), so its allowlists live as long as the process anyway.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

impl Sanitizer {
    fn clean(&self, html: &str) -> String {
        self.builder.clean(html).to_string()
    }

    /// `html.sanitize_html`.
    fn run(&self, html: &str) -> String {
        if html.is_empty() {
            return String::new();
        }
        let first = drop_control_chars(html);
        let mut cleaned = self.clean(&first);
        if cleaned != *first && (first.contains("&#") || !self.literal.parses_literally(&cleaned)) {
            let mut source = first.into_owned();
            for _ in 0..MAX_PASSES {
                if cleaned == source {
                    break;
                }
                source = drop_control_chars(&cleaned).into_owned();
                cleaned = self.clean(&source);
            }
        }
        if cleaned.contains("class=\"mention\"") {
            cleaned = strip_mention_rel(&cleaned, &self.rel_attribute);
        }
        cleaned
    }
}

#[pymethods]
impl Sanitizer {
    /// The sanitiser for these allowlists (`html.CLEANER_OPTIONS` and the style rules).
    #[new]
    #[pyo3(signature = (*, tags, clean_content_tags, attributes, strip_comments, link_rel,
                        url_schemes, style_properties, safe_style_value, literal_elements))]
    fn new(
        tags: HashSet<String>,
        clean_content_tags: HashSet<String>,
        attributes: HashMap<String, HashSet<String>>,
        strip_comments: bool,
        link_rel: String,
        url_schemes: HashSet<String>,
        style_properties: HashSet<String>,
        safe_style_value: &str,
        literal_elements: HashSet<String>,
    ) -> PyResult<Self> {
        let safe_style_value = Regex::new(safe_style_value)
            .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let rules = Rules { style_properties, safe_style_value };
        let literal = literal::Walk::new(&tags);
        let every_element = literal::Walk::new(&literal_elements);
        let mut builder = ammonia::Builder::default();
        builder.tags(tags.into_iter().map(leak).collect());
        builder.clean_content_tags(clean_content_tags.into_iter().map(leak).collect());
        let mut generic = None;
        let mut per_tag = HashMap::new();
        for (tag, attrs) in attributes {
            let attrs: HashSet<&'static str> = attrs.into_iter().map(leak).collect();
            if tag == "*" {
                generic = Some(attrs);
            } else {
                per_tag.insert(leak(tag), attrs);
            }
        }
        builder.tag_attributes(per_tag);
        if let Some(generic) = generic {
            builder.generic_attributes(generic);
        }
        builder.attribute_filter(move |tag, attribute, value| rules.filter(tag, attribute, value));
        builder.strip_comments(strip_comments);
        let rel_attribute = format!(" rel=\"{link_rel}\">");
        builder.link_rel(Some(leak(link_rel)));
        builder.url_schemes(url_schemes.into_iter().map(leak).collect());
        Ok(Sanitizer { builder, literal, every_element, rel_attribute })
    }

    /// `html.sanitize_html(html)` for a non-None `html`.
    fn sanitize(&self, py: Python<'_>, html: &str) -> String {
        py.detach(|| self.run(html))
    }

    /// `(sanitize(html), hex sha256 of its UTF-8, its UTF-8 length)`.
    fn sanitize_digest(&self, py: Python<'_>, html: &str) -> (String, String, usize) {
        py.detach(|| {
            let content = self.run(html);
            let digest = source::hex(&Sha256::digest(content.as_bytes()));
            let size = content.len();
            (content, digest, size)
        })
    }

    /// `mention_text.legacy_mentions_as_text` (see `mentions.rs`): `(text, crm user ids of
    /// the resolved spans in order, unresolved count)` or None. `targets`: crm user id →
    /// CDP user id (hex) of the note's resolved mentioned users.
    fn legacy_mentions_as_text(
        &self,
        py: Python<'_>,
        html: &str,
        targets: HashMap<u64, String>,
    ) -> Option<(String, Vec<u64>, usize)> {
        py.detach(|| mentions::legacy_mentions_as_text(html, &targets, &self.every_element))
    }

    /// `literal_grammar.spells_literal_tree(html)`, by the walk.
    fn spells_literal_tree(&self, html: &str) -> bool {
        self.every_element.spells_literal_tree(html)
    }

    /// `mentions.may_hold_mention(html)`.
    #[staticmethod]
    fn may_hold_mention(html: &str) -> bool {
        mentions::may_hold_mention(html)
    }

    /// `reparse.parses_literally(html, tags)` (the walk alone; the grammar is its subset).
    fn parses_literally(&self, html: &str) -> bool {
        self.literal.parses_literally(html)
    }

    /// `html.drop_control_chars(text)`.
    #[staticmethod]
    fn drop_control_chars(text: &str) -> String {
        drop_control_chars(text).into_owned()
    }
}

#[pymodule]
fn crm_notes_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Sanitizer>()?;
    m.add_function(wrap_pyfunction!(source::source_sha256, m)?)?;
    Ok(())
}

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
