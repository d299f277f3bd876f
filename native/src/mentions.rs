//! `mention_text.legacy_mentions_as_text`, natively: exact legacy mention spans rewritten
//! as text, answered only when that provably gives what the DOM path gives (the module
//! docstring of `mention_text` has the argument). One difference: the plain-markup proof
//! is the tag-by-tag walk on strictly written tags (`literal::Walk::spells_literal_tree`)
//! where Python matches a depth-bounded grammar of the same rules; the walk accepts more
//! (deeper nesting), and both are proofs of the same property.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use crate::{py_strip, literal};

static LEGACY_SPAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"<span class="mention" data-index="[0-9]+" data-denotation-char="@" data-id="([0-9]{1,19})" "#,
        r#"data-value="[^"]*"><span contenteditable="false"><span class="ql-mention-denotation-char">"#,
        r#"@</span>([^<&\x00\r]*)</span></span>"#,
    ))
    .expect("the legacy span pattern compiles")
});

const KNOWN_REFERENCES: [&str; 5] = ["&amp;", "&lt;", "&gt;", "&quot;", "&nbsp;"];

/// `mentions.may_hold_mention`: "mention" in any ASCII case, or "&#".
pub fn may_hold_mention(html: &str) -> bool {
    memchr::memmem::find(html.as_bytes(), b"&#").is_some() || count_mention(html.as_bytes(), true) > 0
}

/// Non-overlapping occurrences of "mention" in any ASCII case (`bytes.lower().count`);
/// with `first`, stops at the first.
fn count_mention(bytes: &[u8], first: bool) -> usize {
    const WORD: &[u8] = b"mention";
    let mut count = 0;
    let mut from = 0;
    while let Some(found) = memchr::memchr2(b'm', b'M', &bytes[from..]) {
        let at = from + found;
        if bytes.len() - at >= WORD.len() && bytes[at..at + WORD.len()].eq_ignore_ascii_case(WORD) {
            count += 1;
            if first {
                return count;
            }
            from = at + WORD.len();
        } else {
            from = at + 1;
        }
    }
    count
}

/// `mention_text._references_are_plain`.
fn references_are_plain(text: &str) -> bool {
    text.match_indices('&').all(|(at, _)| KNOWN_REFERENCES.iter().any(|r| text[at..].starts_with(r)))
}

fn anchor(out: &mut String, hex_id: &str, name: &str) {
    out.push_str("<a class=\"mention\" data-mention=\"\" data-user-id=\"");
    out.push_str(hex_id);
    out.push_str("\" href=\"mention://user/");
    out.push_str(hex_id);
    out.push_str("\">@");
    out.push_str(&name.replace('>', "&gt;"));
    out.push_str("</a>");
}

/// The rewritten text, the crm user ids of the resolved spans in document order, and the
/// number of unresolved ones; None when not proven (the caller takes the DOM path).
/// `targets`: crm user id → CDP user id (hex) of the note's resolved mentioned users.
pub fn legacy_mentions_as_text(
    html: &str,
    targets: &HashMap<u64, String>,
    walk: &literal::Walk,
) -> Option<(String, Vec<u64>, usize)> {
    if html.contains('\r') || html.contains('\0') {
        return None;
    }
    let mut text = String::with_capacity(html.len());
    let mut resolved = Vec::new();
    let mut unresolved = 0;
    let mut end = 0;
    let mut spans = 0;
    for caps in LEGACY_SPAN.captures_iter(html) {
        let whole = caps.get(0).expect("group 0");
        let name = py_strip(caps.get(2).expect("group 2").as_str());
        if name.is_empty() {
            return None; // the DOM path would read `data-value` (with its references)
        }
        spans += 1;
        text.push_str(&html[end..whole.start()]);
        end = whole.end();
        // 1-19 digits: always a u64.
        let crm_id: u64 = caps[1].parse().expect("at most 19 digits");
        match targets.get(&crm_id) {
            Some(hex_id) => {
                resolved.push(crm_id);
                anchor(&mut text, hex_id, name);
            }
            None => {
                unresolved += 1;
                text.push('@');
                text.push_str(&name.replace('>', "&gt;"));
            }
        }
    }
    if spans == 0 {
        return None;
    }
    text.push_str(&html[end..]);
    // Each anchor says "mention" three times; anything else that does could be a mention.
    if count_mention(text.as_bytes(), false) != 3 * resolved.len() || text.contains("&#") {
        return None;
    }
    if !references_are_plain(&text) || !walk.spells_literal_tree(&text) {
        return None;
    }
    Some((text, resolved, unresolved))
}
