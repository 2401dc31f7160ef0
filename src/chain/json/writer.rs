//! Writing JSON text: the two [`Dialect`]s, Python's string escapes, and a streaming
//! writer that re-lays out a text straight from the grammar's walk (no tree).
//!
//! What is written is always valid JSON: Python's non-finite tokens become numbers
//! Python reads back to the same value (`Infinity` → `1e999`), and `NaN`, which has no
//! such spelling, becomes `null` (callers that must keep hashes intact refuse NaN
//! first).

use super::grammar::{Scalar, Visit};
use super::wtf8::{JsonStr, Wtf8, Wtf8Piece};

/// How JSON text is laid out (by `Json::write`, the streaming writer and the block
/// writer): Python peers expect one form on HTTP and another on Redis. Both always
/// produce valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The original's HTTP responses: no spaces, non-ASCII written as is.
    Compact,
    /// Python's default `json.dumps` (the original's Redis messages): `", "` and `": "`
    /// separators, non-ASCII escaped as `\uXXXX`.
    Python,
}

/// Writes `,` or `:` with the spacing of the dialect (shared by every writer, so that
/// all of them space alike).
#[inline]
pub(crate) fn write_separator(sep: u8, dialect: Dialect, out: &mut Vec<u8>) {
    out.push(sep);
    if dialect == Dialect::Python {
        out.push(b' ');
    }
}

/// Lowercase hex digits, as both Python's JSON escapes (`\u00e9`) and its `repr()`
/// escapes (`\xe9`) write them.
pub(crate) const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes a JSON string literal the way Python's `json.dumps` escapes it, so that
/// strings read back (and hash) exactly as they were.
pub fn write_string(s: &str, dialect: Dialect, out: &mut Vec<u8>) {
    out.push(b'"');
    write_string_body(s, dialect, out);
    out.push(b'"');
}

/// Writes a string value as [`write_string`] does; a lone surrogate is written as its
/// escape (`\ud800`, as Python's `json.dumps` writes it), in both dialects, so that it
/// reads back (and hashes) as it was.
pub fn write_json_str(s: &JsonStr<'_>, dialect: Dialect, out: &mut Vec<u8>) {
    match s {
        JsonStr::Text(s) => write_string(s, dialect, out),
        JsonStr::Surrogates(w) => write_wtf8(w, dialect, out),
    }
}

/// [`write_json_str`] of a string holding lone surrogates.
pub(crate) fn write_wtf8(w: &Wtf8, dialect: Dialect, out: &mut Vec<u8>) {
    out.push(b'"');
    for piece in w.pieces() {
        match piece {
            Wtf8Piece::Text(s) => write_string_body(s, dialect, out),
            Wtf8Piece::Surrogate(unit) => write_u_escape(unit, out),
        }
    }
    out.push(b'"');
}

/// `\uXXXX` with lowercase hex digits.
fn write_u_escape(unit: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX_DIGITS[usize::from((unit >> shift) & 0xf)]);
    }
}

/// The escaped characters of a string literal, without its quotes.
fn write_string_body(s: &str, dialect: Dialect, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = HEX_DIGITS;
    let bytes = s.as_bytes();
    let mut plain_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            0x7f.. if dialect == Dialect::Python => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain_from..i]);
        plain_from = i + 1;
        if !escape.is_empty() {
            out.extend_from_slice(escape);
        } else if b < 0x80 {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else if b >= 0xc0 {
            // Lead byte of a non-ASCII character: escape the whole character as UTF-16.
            let ch = s[i..]
                .chars()
                .next()
                .expect("a lead byte of a str starts a character");
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write_u_escape(*unit, out);
            }
        }
        // Continuation bytes (0x80..0xc0) were covered by their lead byte.
    }
    out.extend_from_slice(&bytes[plain_from..]);
}

/// A number literal as minichain writes it: as spelled, with Python's non-finite
/// tokens replaced by valid JSON (see `Json::write`).
#[inline]
pub(super) fn write_number_literal(literal: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(match literal {
        "NaN" => b"null",
        "Infinity" => b"1e999",
        "-Infinity" => b"-1e999",
        s => s.as_bytes(),
    });
}

/// Writes JSON in a [`Dialect`] from the pieces
/// [`Parser::walk`](super::grammar::Parser::walk) reports, exactly as `Json::write`
/// writes the tree: data kept as text is re-written without building a tree.
pub(crate) struct StreamJson<'o> {
    dialect: Dialect,
    out: &'o mut Vec<u8>,
    nesting: Nesting,
    /// How number literals are written.
    number: fn(&str, &mut Vec<u8>),
}

impl<'o> StreamJson<'o> {
    /// A writer appending to `out` in `dialect`.
    pub(crate) fn new(dialect: Dialect, out: &'o mut Vec<u8>) -> Self {
        StreamJson {
            dialect,
            out,
            nesting: Nesting::default(),
            number: write_number_literal,
        }
    }

    /// A writer that keeps every number literal as it arrived (Python's `NaN` and
    /// `Infinity` tokens included), as `Json::write_numbers` does for the text raw
    /// data keeps: two values written so are the same text exactly when their trees
    /// are equal.
    pub(crate) fn keeping_literals(dialect: Dialect, out: &'o mut Vec<u8>) -> Self {
        StreamJson {
            number: |literal, out| out.extend_from_slice(literal.as_bytes()),
            ..StreamJson::new(dialect, out)
        }
    }

    /// How many bytes the output holds (what was there before this writer included).
    pub(crate) fn written(&self) -> usize {
        self.out.len()
    }

    /// Writes `,` before every item but the first of its container.
    fn separate(&mut self) {
        if self.nesting.separator_due() {
            write_separator(b',', self.dialect, self.out);
        }
    }
}

/// Where a streaming writer stands among open containers: whether a separator is due
/// before the next item. Shared by the JSON writer and the `str()` renderer.
#[derive(Debug, Default)]
pub(crate) struct Nesting {
    /// For each open container: whether an item was written.
    open: Vec<bool>,
    /// An object member's key was just written: its value needs no separator.
    key_written: bool,
}

impl Nesting {
    /// Called before each item, key or container: whether a separator must precede it
    /// (not before the first item of a container, nor before a member's value).
    pub(crate) fn separator_due(&mut self) -> bool {
        if std::mem::take(&mut self.key_written) {
            return false;
        }
        match self.open.last_mut() {
            Some(written) => std::mem::replace(written, true),
            None => false,
        }
    }

    /// A container opens.
    pub(crate) fn open(&mut self) {
        self.open.push(false);
    }

    /// The innermost container closes.
    pub(crate) fn close(&mut self) {
        self.open.pop();
    }

    /// A member's key was written; its value follows.
    pub(crate) fn key_written(&mut self) {
        self.key_written = true;
    }

    /// Whether no container is open (the next piece is the whole value).
    pub(crate) fn at_top(&self) -> bool {
        self.open.is_empty()
    }
}

impl<'a> Visit<'a> for StreamJson<'_> {
    fn scalar(&mut self, scalar: Scalar<'a>) {
        self.separate();
        match scalar {
            Scalar::Null => self.out.extend_from_slice(b"null"),
            Scalar::Bool(true) => self.out.extend_from_slice(b"true"),
            Scalar::Bool(false) => self.out.extend_from_slice(b"false"),
            Scalar::Number(n) => (self.number)(n, self.out),
            Scalar::String(s) => write_json_str(&s, self.dialect, self.out),
        }
    }

    fn begin(&mut self, object: bool) {
        self.separate();
        self.out.push(if object { b'{' } else { b'[' });
        self.nesting.open();
    }

    fn key(&mut self, key: JsonStr<'a>) {
        self.separate();
        write_json_str(&key, self.dialect, self.out);
        write_separator(b':', self.dialect, self.out);
        self.nesting.key_written();
    }

    fn end(&mut self, object: bool) {
        self.nesting.close();
        self.out.push(if object { b'}' } else { b']' });
    }
}
