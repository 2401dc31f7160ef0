//! [`Wtf8`]: a string value that holds lone surrogates, as Python's `json.loads` gives
//! for `"\ud800"`, and [`JsonStr`], a string value of either kind.
//!
//! Rust's `str` cannot hold a surrogate, so such a string is kept as WTF-8 bytes: UTF-8
//! in which a lone surrogate is the three bytes its code point would have
//! (`ED A0..BF xx`). Only strings that hold one take this form; every other string
//! stays a `str` (borrowed from the text where it can be), so ordinary text pays
//! nothing for it.

use std::borrow::Cow;
use std::fmt;

/// A string value holding at least one lone surrogate, as WTF-8 bytes.
///
/// Two are equal exactly when Python's strings are (the same code points), so they
/// serve as dict keys as they are.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Wtf8(Box<[u8]>);

/// One piece of a [`Wtf8`] string: a run of text, or one lone surrogate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wtf8Piece<'s> {
    /// Text without surrogates.
    Text(&'s str),
    /// A lone surrogate (`0xd800..=0xdfff`).
    Surrogate(u16),
}

impl Wtf8 {
    /// The string of UTF-16 code units `units`, as Python's `json.loads` reads them
    /// from `\uXXXX` escapes: pairs combine, anything else unpaired stays a lone
    /// surrogate. [`JsonStr::Text`] when no surrogate is left alone.
    pub fn from_utf16(units: &[u16]) -> JsonStr<'static> {
        let mut out = Wtf8Builder::default();
        for r in char::decode_utf16(units.iter().copied()) {
            match r {
                Ok(c) => out.push_char(c),
                Err(e) => out.push_surrogate(e.unpaired_surrogate()),
            }
        }
        out.finish()
    }

    /// The bytes (WTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The runs of text and the lone surrogates, in order.
    pub fn pieces(&self) -> impl Iterator<Item = Wtf8Piece<'_>> + '_ {
        let bytes = &*self.0;
        let mut pos = 0;
        std::iter::from_fn(move || {
            let rest = bytes.get(pos..).filter(|r| !r.is_empty())?;
            if let Some(unit) = surrogate_at(rest) {
                pos += 3;
                return Some(Wtf8Piece::Surrogate(unit));
            }
            let len = (0..rest.len())
                .find(|&i| surrogate_at(&rest[i..]).is_some())
                .unwrap_or(rest.len());
            pos += len;
            Some(Wtf8Piece::Text(
                std::str::from_utf8(&rest[..len]).expect("WTF-8 between lone surrogates is UTF-8"),
            ))
        })
    }

    /// The first lone surrogate (there is at least one).
    pub fn first_surrogate(&self) -> u16 {
        self.pieces()
            .find_map(|p| match p {
                Wtf8Piece::Surrogate(u) => Some(u),
                Wtf8Piece::Text(_) => None,
            })
            .expect("a Wtf8 holds a lone surrogate")
    }

    /// Whether the string holds `c` (an ASCII character).
    pub(crate) fn contains_ascii(&self, c: u8) -> bool {
        self.0.contains(&c)
    }

    /// The text with each lone surrogate written as Python prints it (`\ud800`), for
    /// messages.
    pub fn escaped(&self) -> String {
        let mut s = String::with_capacity(self.0.len() + 3);
        for piece in self.pieces() {
            match piece {
                Wtf8Piece::Text(t) => s.push_str(t),
                Wtf8Piece::Surrogate(u) => s.push_str(&format!("\\u{u:04x}")),
            }
        }
        s
    }
}

impl fmt::Debug for Wtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Wtf8({:?})", self.escaped())
    }
}

/// The lone surrogate encoded at the start of `bytes`, if one is.
fn surrogate_at(bytes: &[u8]) -> Option<u16> {
    match bytes {
        [0xed, b1 @ 0xa0..=0xbf, b2, ..] => {
            Some(0xd000 | (u16::from(b1 & 0x3f) << 6) | u16::from(b2 & 0x3f))
        }
        _ => None,
    }
}

/// Builds a string value from text and lone surrogates: a `String` until the first
/// lone surrogate, WTF-8 bytes after.
#[derive(Debug, Default)]
pub(crate) struct Wtf8Builder {
    text: String,
    /// Set once a lone surrogate was pushed: the WTF-8 bytes so far.
    wtf8: Option<Vec<u8>>,
}

impl Wtf8Builder {
    /// A builder starting with `text`.
    pub(crate) fn new(text: &str) -> Self {
        Wtf8Builder {
            text: String::from(text),
            wtf8: None,
        }
    }

    /// Appends text.
    pub(crate) fn push_str(&mut self, s: &str) {
        match &mut self.wtf8 {
            Some(bytes) => bytes.extend_from_slice(s.as_bytes()),
            None => self.text.push_str(s),
        }
    }

    /// Appends a character.
    pub(crate) fn push_char(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    /// Appends a lone surrogate (`0xd800..=0xdfff`). The caller never pushes a high
    /// surrogate right before a low one (those pair into one character).
    pub(crate) fn push_surrogate(&mut self, unit: u16) {
        debug_assert!((0xd800..=0xdfff).contains(&unit));
        let bytes = self
            .wtf8
            .get_or_insert_with(|| std::mem::take(&mut self.text).into_bytes());
        bytes.extend_from_slice(&[
            0xe0 | (unit >> 12) as u8,
            0x80 | ((unit >> 6) & 0x3f) as u8,
            0x80 | (unit & 0x3f) as u8,
        ]);
    }

    /// The string built.
    pub(crate) fn finish<'a>(self) -> JsonStr<'a> {
        match self.wtf8 {
            Some(bytes) => JsonStr::Surrogates(Wtf8(bytes.into_boxed_slice())),
            None => JsonStr::Text(Cow::Owned(self.text)),
        }
    }
}

/// A JSON string's value as Python's `json.loads` gives it: text (nearly always,
/// borrowed from the JSON text when it has no escape), or text holding lone
/// surrogates. Equal exactly when Python's strings are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JsonStr<'a> {
    /// A string without lone surrogates.
    Text(Cow<'a, str>),
    /// A string holding at least one lone surrogate.
    Surrogates(Wtf8),
}

impl JsonStr<'_> {
    /// The text, unless the string holds a lone surrogate.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            JsonStr::Text(s) => Some(s),
            JsonStr::Surrogates(_) => None,
        }
    }

    /// An owned copy.
    pub fn into_owned(self) -> JsonStr<'static> {
        match self {
            JsonStr::Text(s) => JsonStr::Text(Cow::Owned(s.into_owned())),
            JsonStr::Surrogates(w) => JsonStr::Surrogates(w),
        }
    }

    /// The first lone surrogate the string holds, if any: where a place that takes
    /// text only (or minability) refuses it, and what the error names.
    pub fn lone_surrogate(&self) -> Option<u16> {
        match self {
            JsonStr::Text(_) => None,
            JsonStr::Surrogates(w) => Some(w.first_surrogate()),
        }
    }

    /// The text with each lone surrogate written as Python prints it (`\ud800`), for
    /// messages.
    pub fn escaped(&self) -> Cow<'_, str> {
        match self {
            JsonStr::Text(s) => Cow::Borrowed(s),
            JsonStr::Surrogates(w) => Cow::Owned(w.escaped()),
        }
    }
}

impl PartialEq<str> for JsonStr<'_> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for JsonStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl From<&str> for JsonStr<'static> {
    fn from(s: &str) -> Self {
        JsonStr::Text(Cow::Owned(s.to_owned()))
    }
}

impl From<String> for JsonStr<'static> {
    fn from(s: String) -> Self {
        JsonStr::Text(Cow::Owned(s))
    }
}

impl From<Box<str>> for JsonStr<'static> {
    fn from(s: Box<str>) -> Self {
        JsonStr::Text(Cow::Owned(s.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_text_and_surrogates() {
        let JsonStr::Surrogates(w) = Wtf8::from_utf16(&[0x61, 0xdfff, 0xd800, 0xe9, 0xd83d]) else {
            panic!("holds lone surrogates");
        };
        let pieces: Vec<_> = w.pieces().collect();
        assert_eq!(
            pieces,
            [
                Wtf8Piece::Text("a"),
                Wtf8Piece::Surrogate(0xdfff),
                Wtf8Piece::Surrogate(0xd800),
                Wtf8Piece::Text("é"),
                Wtf8Piece::Surrogate(0xd83d),
            ]
        );
        assert_eq!(w.first_surrogate(), 0xdfff);
        assert_eq!(w.escaped(), "a\\udfff\\ud800é\\ud83d");
        // A pair is a character, not surrogates.
        assert_eq!(Wtf8::from_utf16(&[0xd83d, 0xde00]), JsonStr::from("😀"));
    }
}
