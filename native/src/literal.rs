//! `reparse.parses_literally`: does a sanitiser output re-parse to the tree it was
//! serialised from? A port of the tag-by-tag walk (`reparse._walk`), whose module
//! docstring gives the rules; `False` means "not proven", never "differs".

use std::collections::{HashMap, HashSet};

const VOID: &[&str] = &["br", "img", "hr", "col", "wbr"];
const CLOSES_P: &[&str] = &[
    "blockquote", "div", "dl", "figcaption", "figure", "ol", "p", "ul", "pre", "table", "hr",
    "li", "dd", "dt", "h1", "h2", "h3", "h4", "h5", "h6",
];
const PHRASING: &[&str] = &[
    "span", "b", "strong", "i", "em", "u", "s", "strike", "del", "ins", "sub", "sup", "small",
    "mark", "code", "kbd", "samp", "q", "cite", "abbr", "br", "img",
];
const HEADINGS: &[&str] = &["h1", "h2", "h3", "h4", "h5", "h6"];
const MARKERS: &[&str] = &["td", "th", "caption"];
const LIST_ITEM_STOP: &[&str] = &[
    "blockquote", "caption", "colgroup", "dd", "dl", "dt", "figcaption", "figure", "h1", "h2",
    "h3", "h4", "h5", "h6", "li", "ol", "pre", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "ul",
];
const TABLE_PARTS: &[&str] = &["caption", "col", "colgroup", "tbody", "thead", "tfoot", "tr", "td", "th"];

/// Children a table part (the current node) takes as they are.
fn table_children(open: &str) -> Option<&'static [&'static str]> {
    match open {
        "table" => Some(&["caption", "colgroup", "tbody", "thead", "tfoot"]),
        "tbody" | "thead" | "tfoot" => Some(&["tr"]),
        "tr" => Some(&["td", "th"]),
        "colgroup" => Some(&["col"]),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Inline,
    Other,
}

/// The walk for one allowlist. The stack holds open elements by name (the Python walk
/// holds their end tags, "/p": the same information).
pub struct Walk {
    /// Start tags: name → (kind, pushed on the stack?).
    starts: HashMap<String, (Kind, bool)>,
    /// End tags accepted (names of non-void elements of `starts`).
    ends: HashSet<String>,
}

fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r')
}

/// The text after the `>` of the tag whose `<` is at `lt` (up to the next `<`).
fn text_after(html: &str, lt: usize) -> &str {
    let piece = &html[lt + 1..];
    let piece = &piece[..piece.find('<').unwrap_or(piece.len())];
    piece.split_once('>').map_or("", |(_, text)| text)
}

/// An attribute value holding `<` or `>` (html5ever escapes neither in values), or a tag
/// this scan cannot read: then the first `>` after a `<` need not end its tag. The Python
/// proof looks for `="[^"]*[<>]` anywhere, text included, and so also refuses a base64
/// image whose padding `=` closes its `src`; this scan reads tags as html5ever writes them
/// (`<name attr="value">`, values without `"`) and looks into their values only.
fn angle_in_value(html: &str) -> bool {
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(found) = html[i..].find('<') {
        i += found + 1;
        loop {
            match bytes.get(i) {
                None => return false,
                Some(b'>') => {
                    i += 1;
                    break;
                }
                Some(b'<') => return true,
                Some(b'"') if bytes[i - 1] == b'=' => {
                    let value = &bytes[i + 1..];
                    let Some(close) = value.iter().position(|&b| b == b'"') else { return true };
                    if value[..close].iter().any(|&b| b == b'<' || b == b'>') {
                        return true;
                    }
                    i += close + 2;
                }
                Some(b'"') => return true,
                Some(_) => i += 1,
            }
        }
    }
    false
}

fn open_in_scope(stack: &[&str], wanted: &[&str], boundaries: &[&str]) -> bool {
    for open in stack.iter().rev() {
        if wanted.contains(open) {
            return true;
        }
        if boundaries.contains(open) {
            return false;
        }
    }
    false
}

/// `reparse._block_is_literal`.
fn block_is_literal(name: &str, stack: &[&str], in_p: bool) -> bool {
    if name == "a" {
        return !open_in_scope(stack, &["a"], MARKERS);
    }
    if in_p || TABLE_PARTS.contains(&name) {
        return false;
    }
    if HEADINGS.contains(&name) {
        return stack.last().map_or(true, |open| !HEADINGS.contains(open));
    }
    if name == "li" {
        return !open_in_scope(stack, &["li"], LIST_ITEM_STOP);
    }
    if name == "dd" || name == "dt" {
        return !open_in_scope(stack, &["dd", "dt"], LIST_ITEM_STOP);
    }
    true
}

impl Walk {
    pub fn new(allowed: &HashSet<String>) -> Walk {
        let mut starts = HashMap::new();
        let mut ends = HashSet::new();
        for name in allowed {
            let n = name.as_str();
            if !(PHRASING.contains(&n) || CLOSES_P.contains(&n) || TABLE_PARTS.contains(&n) || n == "a") {
                continue;
            }
            let kind = if PHRASING.contains(&n) { Kind::Inline } else { Kind::Other };
            let void = VOID.contains(&n);
            starts.insert(name.clone(), (kind, !void));
            if !void {
                ends.insert(name.clone());
            }
        }
        Walk { starts, ends }
    }

    /// `reparse.parses_literally(html, allowed)`.
    pub fn parses_literally(&self, html: &str) -> bool {
        if html.contains('\r') || angle_in_value(html) {
            return false;
        }
        let bytes = html.as_bytes();
        let mut stack: Vec<&str> = Vec::new();
        let mut in_p = false;
        let mut tables = 0usize;
        let mut at = 0;
        while let Some(found) = html[at..].find('<') {
            let lt = at + found;
            at = lt + 1;
            // `_TAG_NAME`: `<(/?[a-z0-9]*[^a-z0-9 >]?)`; a name with the optional last
            // character is no tag name, and neither is anything unknown.
            let (end_tag, name_at, i) = read_tag_name(bytes, lt + 1);
            if i < bytes.len() && !matches!(bytes[i], b' ' | b'>') {
                return false;
            }
            let name = &html[name_at..i];
            let current_children = if tables > 0 { stack.last().and_then(|open| table_children(open)) } else { None };
            if end_tag {
                if !self.ends.contains(name) || stack.pop() != Some(name) {
                    return false;
                }
                if name == "p" {
                    in_p = false;
                } else if name == "table" {
                    tables -= 1;
                }
            } else {
                let entry = self.starts.get(name);
                if let Some(children) = current_children {
                    if !children.contains(&name) {
                        return false;
                    }
                    if entry.is_some_and(|&(_, pushed)| pushed) {
                        stack.push(name);
                    }
                } else {
                    let Some(&(kind, pushed)) = entry else { return false };
                    if kind == Kind::Other && !block_is_literal(name, &stack, in_p) {
                        return false;
                    }
                    if pushed {
                        stack.push(name);
                    }
                    if name == "p" {
                        in_p = true;
                    } else if name == "table" {
                        tables += 1;
                    } else if name == "pre" && text_after(html, lt).starts_with('\n') {
                        return false;
                    }
                }
            }
            if tables > 0 && stack.last().and_then(|open| table_children(open)).is_some()
                && !text_after(html, lt).trim_matches(is_html_space).is_empty()
            {
                return false;
            }
        }
        stack.is_empty()
    }
}

/// After a `<` at `at - 1`: (an end tag?, where the name starts, where it ends), the name
/// being the `[a-z0-9]*` after an optional `/`.
fn read_tag_name(bytes: &[u8], at: usize) -> (bool, usize, usize) {
    let end_tag = bytes.get(at) == Some(&b'/');
    let name_at = at + usize::from(end_tag);
    let len = bytes[name_at.min(bytes.len())..].iter().take_while(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9')).count();
    (end_tag, name_at, name_at + len)
}

/// Every `<` starts a tag written as the legacy editor (and html5ever) writes tags:
/// `<name>` or `<name attr="value" …>` with names `[a-z0-9]+`, attribute names
/// `[a-z][a-z0-9-]*` and values without `"`, `<`, `>`; or `</name>`.
fn strictly_written(html: &str) -> bool {
    let b = html.as_bytes();
    let mut i = 0;
    while let Some(found) = html[i..].find('<') {
        let (end_tag, name_at, name_end) = read_tag_name(b, i + found + 1);
        i = name_end;
        if i == name_at {
            return false;
        }
        loop {
            match b.get(i) {
                Some(b'>') => {
                    i += 1;
                    break;
                }
                Some(b' ') if !end_tag => {
                    i += 1;
                    if !matches!(b.get(i), Some(b'a'..=b'z')) {
                        return false;
                    }
                    while i < b.len() && matches!(b[i], b'a'..=b'z' | b'0'..=b'9' | b'-') {
                        i += 1;
                    }
                    if b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                        return false;
                    }
                    i += 2;
                    while i < b.len() && !matches!(b[i], b'"' | b'<' | b'>') {
                        i += 1;
                    }
                    if b.get(i) != Some(&b'"') {
                        return false;
                    }
                    i += 1;
                }
                _ => return false,
            }
        }
    }
    true
}

impl Walk {
    /// `literal_grammar.spells_literal_tree(html)` with this walk's allowlist: every `<`
    /// starts a strictly written tag and a `div` fragment parse builds exactly the tree
    /// the tags spell (the walk's proof, on raw input).
    pub fn spells_literal_tree(&self, html: &str) -> bool {
        strictly_written(html) && self.parses_literally(html)
    }
}
