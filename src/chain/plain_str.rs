//! Python's `str()` of a JSON value in a plain form, rendered from its text in one
//! tight pass: the fast lane beside the grammar's walk ([`Parser::walk`] with
//! `pyrepr`'s `StreamRepr`), for the data most blocks carry.
//!
//! The plain form: objects, arrays, `true`/`false`/`null`, strings of printable ASCII
//! without a backslash or `'`, integers of at most 18 digits (not `-0`), plain decimals
//! that [`write_plain_decimal_parts`](super::pyrepr) renders from their text, nested at most
//! [`MAX_PLAIN_DEPTH`] deep, objects without a repeated key; the whole value not a
//! string (whose `str()` is unquoted). It is a subset of the grammar, and each piece
//! renders as the walk renders it, so where [`write_plain_str`] answers, the walk
//! answers the same; anywhere else (an escape, an exponent, malformed text...) it
//! answers `None` and the caller walks.
//!
//! [`Parser::walk`]: super::json::Parser::walk

use super::pyrepr::write_plain_decimal_parts;

/// Deepest nesting the plain lane follows (well under the grammar's
/// [`MAX_DEPTH`](super::json::MAX_DEPTH)).
pub const MAX_PLAIN_DEPTH: usize = 32;

/// Most keys per object the plain lane compares for repeats.
const MAX_PLAIN_KEYS: usize = 32;

/// Reusable space for [`write_plain_str`]'s key comparisons (no allocation per value
/// once grown).
#[derive(Debug, Default)]
pub struct PlainScratch {
    /// The key spans of the open objects, innermost last.
    keys: Vec<(usize, usize)>,
}

/// Appends Python's `str()` of the JSON value starting at `text[start]` (no
/// whitespace before it) to `out`, and returns the offset after the value; or `None`,
/// with `out` in any state, when the value is not in the plain form (see the module
/// doc): the caller then truncates `out` and renders through the grammar's walk.
pub fn write_plain_str(
    text: &[u8],
    start: usize,
    out: &mut Vec<u8>,
    scratch: &mut PlainScratch,
) -> Option<usize> {
    if text.get(start) == Some(&b'"') {
        return None; // str() of a string is the string itself: the walk does it
    }
    scratch.keys.clear();
    // For each open container: `true` for an object, and where its keys start.
    let mut open: [(bool, usize); MAX_PLAIN_DEPTH] = [(false, 0); MAX_PLAIN_DEPTH];
    let mut depth = 0usize;
    let mut pos = start;
    loop {
        // A value starts at `pos`.
        match *text.get(pos)? {
            c @ (b'{' | b'[') => {
                let object = c == b'{';
                if depth == MAX_PLAIN_DEPTH {
                    return None;
                }
                open[depth] = (object, scratch.keys.len());
                depth += 1;
                out.push(c);
                pos = skip_ws(text, pos + 1);
                let close = if object { b'}' } else { b']' };
                if text.get(pos) == Some(&close) {
                    depth -= 1;
                    out.push(close);
                    pos += 1;
                } else {
                    if object {
                        pos = key(text, pos, out, scratch, open[depth - 1].1)?;
                    }
                    continue;
                }
            }
            b'"' => {
                let end = plain_string_end(text, pos)?;
                push_quoted(&text[pos + 1..end], out);
                pos = end + 1;
            }
            b't' => pos = keyword(text, pos, b"true", b"True", out)?,
            b'f' => pos = keyword(text, pos, b"false", b"False", out)?,
            b'n' => pos = keyword(text, pos, b"null", b"None", out)?,
            b'-' | b'0'..=b'9' => pos = number(text, pos, out)?,
            _ => return None,
        }
        // After a value: the next item, or the ends of containers.
        loop {
            if depth == 0 {
                return Some(pos);
            }
            pos = skip_ws(text, pos);
            let (object, keys_from) = open[depth - 1];
            match *text.get(pos)? {
                b',' => {
                    out.extend_from_slice(b", ");
                    pos = skip_ws(text, pos + 1);
                    if object {
                        pos = key(text, pos, out, scratch, keys_from)?;
                    }
                    break;
                }
                b'}' if object => {
                    scratch.keys.truncate(keys_from);
                    depth -= 1;
                    out.push(b'}');
                    pos += 1;
                }
                b']' if !object => {
                    depth -= 1;
                    out.push(b']');
                    pos += 1;
                }
                _ => return None,
            }
        }
    }
}

/// A member's key at `pos`, then `:`: renders `'key': ` and returns where its value
/// starts. `None` for a key outside the plain form or one the object already has.
fn key(
    text: &[u8],
    pos: usize,
    out: &mut Vec<u8>,
    scratch: &mut PlainScratch,
    keys_from: usize,
) -> Option<usize> {
    if text.get(pos) != Some(&b'"') {
        return None;
    }
    let end = plain_string_end(text, pos)?;
    let name = &text[pos + 1..end];
    let keys = &scratch.keys[keys_from..];
    if keys.len() >= MAX_PLAIN_KEYS || keys.iter().any(|&(a, b)| &text[a..b] == name) {
        return None;
    }
    scratch.keys.push((pos + 1, end));
    push_quoted(name, out);
    out.extend_from_slice(b": ");
    let colon = skip_ws(text, end + 1);
    if text.get(colon) != Some(&b':') {
        return None;
    }
    Some(skip_ws(text, colon + 1))
}

/// The offset of the closing quote of the string opening at `pos`, when all between
/// is printable ASCII other than `\` and `'` (so its repr is itself in single quotes).
fn plain_string_end(text: &[u8], pos: usize) -> Option<usize> {
    let rest = text.get(pos + 1..)?;
    let len = plain_run(rest);
    (rest.get(len) == Some(&b'"')).then_some(pos + 1 + len)
}

/// The length of the run of bytes at the start of `bytes` that a plain string may
/// hold: printable ASCII other than `"`, `\` and `'`. Eight bytes at a time (SWAR):
/// each test below flags a byte that matches, and flags wrongly only bytes above a
/// true match (a borrow runs upward), so the lowest flag of all is the first byte
/// outside the run.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut done = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("chunks_exact(8) yields 8 bytes"));
        let flags = (x.wrapping_sub(ONES * 0x20) & !x & HIGH) // below 0x20
            | (x & HIGH) // 0x80 and above
            | zero_byte(x ^ (ONES * 0x7f))
            | zero_byte(x ^ (ONES * u64::from(b'"')))
            | zero_byte(x ^ (ONES * u64::from(b'\\')))
            | zero_byte(x ^ (ONES * u64::from(b'\'')));
        if flags != 0 {
            return done + (flags.trailing_zeros() / 8) as usize;
        }
        done += 8;
    }
    done + chunks
        .remainder()
        .iter()
        .take_while(|&&b| matches!(b, b' '..=b'~') && !matches!(b, b'"' | b'\\' | b'\''))
        .count()
}

/// `'content'`.
fn push_quoted(content: &[u8], out: &mut Vec<u8>) {
    out.push(b'\'');
    out.extend_from_slice(content);
    out.push(b'\'');
}

/// `word` at `pos`, rendered as `python`.
fn keyword(
    text: &[u8],
    pos: usize,
    word: &[u8],
    python: &[u8],
    out: &mut Vec<u8>,
) -> Option<usize> {
    text.get(pos..)?.starts_with(word).then(|| {
        out.extend_from_slice(python);
        pos + word.len()
    })
}

/// A number at `pos`: an integer of at most 18 digits (not `-0`), as it is, or a
/// plain decimal that renders from its text. `None` for anything else (exponents,
/// long integers, leading zeros, malformed text).
fn number(text: &[u8], pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    let digits_from = |i: usize| {
        text[i.min(text.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let sign = usize::from(text[pos] == b'-');
    let int = digits_from(pos + sign);
    let int_text = &text[pos + sign..pos + sign + int];
    if int == 0 || int > 18 || (int > 1 && int_text[0] == b'0') {
        return None;
    }
    let int_end = pos + sign + int;
    if text.get(int_end) != Some(&b'.') {
        if matches!(text.get(int_end), Some(b'e' | b'E')) || (sign == 1 && int_text == b"0") {
            return None; // an exponent, or -0 (which Python prints 0): the walk does it
        }
        out.extend_from_slice(&text[pos..int_end]);
        return Some(int_end);
    }
    let frac = digits_from(int_end + 1);
    let end = int_end + 1 + frac;
    if frac == 0 || matches!(text.get(end), Some(b'e' | b'E' | b'.')) {
        return None;
    }
    let frac_text = &text[int_end + 1..end];
    write_plain_decimal_parts(sign == 1, int_text, frac_text, out).then_some(end)
}

/// The offset of the first non-whitespace byte at or after `pos`.
fn skip_ws(text: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = text.get(pos) {
        pos += 1;
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::data::RawJson;

    /// The plain lane's rendering (where it answers) against the walk's, on values
    /// in the plain form and just outside it.
    #[test]
    fn renders_as_the_walk_or_declines() {
        let cases = [
            (
                r#"{"tx": [{"from": "alice1", "to": "bob", "amount": 1.5}], "memo": "m", "seq": 1}"#,
                true,
            ),
            (
                r#" [ 1 ,2,{ } ,[ ], {"a":{"b":[true,false,null]}} ] "#,
                true,
            ),
            ("-12", true),
            ("0", true),
            ("[-0.0, 0.001, 10.50, 123456789012345678]", true),
            ("[]", true),
            ("{}", true),
            (r#""top""#, false),
            (r#"{"a": 1, "a": 2}"#, false),
            (r#"{"a": {"a": 1}, "b": {"a": 2}}"#, true),
            (r#"["it's"]"#, false),
            (r#"["\u0041"]"#, false),
            ("[\"é\"]", false),
            ("[1e5]", false),
            ("[-0]", false),
            ("[01]", false),
            ("[1.]", false),
            ("[NaN]", false),
            ("[0.00001]", false),
            ("[1234567890123456789]", false),
            ("[1,]", false),
            ("[1 2]", false),
            ("{\"a\" 1}", false),
            ("{\"a\": 1,}", false),
            ("[1}", false),
            ("[", false),
            ("tru", false),
        ];
        for (text, plain) in cases {
            let trimmed = text.trim_start();
            let at = text.len() - trimmed.len();
            let mut out = Vec::new();
            let fast = write_plain_str(text.as_bytes(), at, &mut out, &mut PlainScratch::default());
            assert_eq!(fast.is_some(), plain, "{text}");
            if let Some(end) = fast {
                let walked = RawJson::parse(text).expect("plain text is JSON");
                assert_eq!(String::from_utf8_lossy(&out), walked.python_str(), "{text}");
                assert_eq!(&text[at..end], walked.as_str(), "{text}");
            }
        }
        // Every byte value at every place of a run, near and past the 8-byte steps.
        for len in 0..20 {
            for b in 0..=255u8 {
                let mut bytes = vec![b'a'; len];
                bytes.push(b);
                bytes.extend_from_slice(b"bcdefghijk");
                let plain = matches!(b, b' '..=b'~') && !matches!(b, b'"' | b'\\' | b'\'');
                let want = if plain { len + 11 } else { len };
                assert_eq!(plain_run(&bytes), want, "{len} {b:#x}");
            }
        }
        let deep = "[".repeat(MAX_PLAIN_DEPTH) + &"]".repeat(MAX_PLAIN_DEPTH);
        let mut out = Vec::new();
        assert!(
            write_plain_str(deep.as_bytes(), 0, &mut out, &mut PlainScratch::default()).is_some()
        );
        let deeper = format!("[{deep}]");
        assert!(
            write_plain_str(deeper.as_bytes(), 0, &mut out, &mut PlainScratch::default()).is_none()
        );
    }
}
