//! `identity.source_sha256_of_utc`, natively: the hex sha256 of the canonical JSON of the
//! normalised source note, `json.dumps(obj, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False, allow_nan=False).encode("utf-8")`, written here key by key in sorted
//! order from the contract note's attributes.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};
use pyo3::{intern, PyResult};
use sha2::{Digest, Sha256};

/// A JSON string as `json.dumps(..., ensure_ascii=False)` writes it: `\"`, `\\`, `\b`,
/// `\f`, `\n`, `\r`, `\t`, other C0 controls as `\u00xx`, everything else as it is.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut rest = s.as_bytes();
    while let Some(at) = next_to_escape(rest) {
        out.extend_from_slice(&rest[..at]);
        match rest[at] {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
    out.push(b'"');
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that is zero (exact: no false positives).
fn zero_bytes(w: u64) -> u64 {
    ((((w & !HIGHS) + !HIGHS) | w) & HIGHS) ^ HIGHS
}

/// The index of the first byte that JSON escapes (below 0x20, `"` or `\\`), eight bytes
/// at a time.
fn next_to_escape(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // A byte below 0x20 has its top three bits zero.
        let special = zero_bytes(w & (0xe0 * ONES)) | zero_bytes(w ^ (b'"' as u64 * ONES))
            | zero_bytes(w ^ (b'\\' as u64 * ONES));
        if special != 0 {
            return Some(at + (special.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\').map(|i| at + i)
}

/// `None` → null, str → string, bool → true/false, int → its decimal digits (any size);
/// anything else is refused (the caller then takes the reference path).
fn write_value(out: &mut Vec<u8>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if value.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(s) = value.cast::<PyString>() {
        write_str(out, s.to_str()?);
    } else if let Ok(b) = value.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
    } else if value.is_instance_of::<PyInt>() {
        match value.extract::<i64>() {
            Ok(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Err(_) => out.extend_from_slice(value.str()?.to_str()?.as_bytes()),
        }
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err("not a JSON scalar of the contract"));
    }
    Ok(())
}

/// `{"k1":v1,"k2":v2,…}` of `obj`'s attributes `keys` (given in sorted order).
fn write_object(out: &mut Vec<u8>, obj: &Bound<'_, PyAny>, keys: &[&Bound<'_, PyString>]) -> PyResult<()> {
    out.push(b'{');
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key.to_str()?);
        out.push(b':');
        write_value(out, &obj.getattr(*key)?)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_user(out: &mut Vec<u8>, py: Python<'_>, user: &Bound<'_, PyAny>) -> PyResult<()> {
    if user.is_none() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    write_object(out, user, &[intern!(py, "crm_user_id"), intern!(py, "email"), intern!(py, "name")])
}

/// `identity.source_sha256_of_utc(cid, note, created_at, updated_at)`; a TypeError for a
/// field that is no JSON scalar of the contract (the caller has the reference path).
#[pyfunction]
#[pyo3(signature = (cid, note, created_at, updated_at))]
pub fn source_sha256(
    py: Python<'_>,
    cid: &Bound<'_, PyAny>,
    note: &Bound<'_, PyAny>,
    created_at: &str,
    updated_at: Option<&str>,
) -> PyResult<String> {
    let mut out: Vec<u8> = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"cid\":");
    write_value(&mut out, cid)?;
    out.extend_from_slice(b",\"note\":{\"attachments\":[");
    let attachment_keys = [
        intern!(py, "content_type"), intern!(py, "file_name"), intern!(py, "file_size"),
        intern!(py, "file_url"), intern!(py, "legacy_attachment_id"),
    ];
    for (i, attachment) in note.getattr(intern!(py, "attachments"))?.try_iter()?.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_object(&mut out, &attachment?, &attachment_keys)?;
    }
    out.extend_from_slice(b"],\"author\":");
    write_user(&mut out, py, &note.getattr(intern!(py, "author"))?)?;
    out.extend_from_slice(b",\"content_html\":");
    write_value(&mut out, &note.getattr(intern!(py, "content_html"))?)?;
    out.extend_from_slice(b",\"created_at\":");
    write_str(&mut out, created_at);
    out.extend_from_slice(b",\"crm_person_id\":");
    write_value(&mut out, &note.getattr(intern!(py, "crm_person_id"))?)?;
    out.extend_from_slice(b",\"legacy_crm_note_id\":");
    write_value(&mut out, &note.getattr(intern!(py, "legacy_crm_note_id"))?)?;
    out.extend_from_slice(b",\"mentioned_users\":[");
    for (i, user) in note.getattr(intern!(py, "mentioned_users"))?.try_iter()?.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_user(&mut out, py, &user?)?;
    }
    out.extend_from_slice(b"],\"updated_at\":");
    match updated_at {
        Some(s) => write_str(&mut out, s),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"}}");
    Ok(hex(&Sha256::digest(&out)))
}

pub fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(digest.len() * 2);
    for &b in digest {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
