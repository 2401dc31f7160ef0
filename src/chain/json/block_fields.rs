//! Readers for a block's integer fields (`block_no`, `timestamp`, `nonce`,
//! `difficulty`), and the short descriptions of a value that their errors (and other
//! shape errors) give when something else stands where a value was expected.

use super::grammar::{JsonError, Parser};
use super::tree::Json;

impl<'a> Parser<'a> {
    /// Parses a non-negative integer that fits `u64` (block fields such as
    /// `block_no`), or says what it found instead.
    ///
    /// # Errors
    /// A message for the caller to wrap with the field's name.
    pub fn u64_field(&mut self) -> Result<u64, FieldError> {
        let n = self.field_integer()?;
        n.parse().map_err(|_| FieldError::OutOfRange(n.to_owned()))
    }

    /// Parses a non-negative integer literal and returns its digits.
    ///
    /// # Errors
    /// [`FieldError`] when the value is not a non-negative integer.
    pub fn field_integer(&mut self) -> Result<&'a str, FieldError> {
        self.skip_ws();
        let at = self.offset();
        let is_number = matches!(self.peek(), Some(b'-' | b'0'..=b'9'))
            && !self.bytes[at..].starts_with(b"-Infinity");
        if !is_number {
            let v = self.value().map_err(FieldError::Json)?;
            return Err(FieldError::NotInteger(at, describe(&v)));
        }
        let s = self.number_literal().map_err(FieldError::Json)?;
        if s.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return Err(FieldError::NotInteger(at, format!("the number {s}")));
        }
        match s {
            "-0" => Ok("0"),
            _ if s.starts_with('-') => Err(FieldError::Negative(s.into())),
            _ => Ok(s),
        }
    }
}

/// Why a block field holds the wrong kind of value: the block reader words it with
/// the block, the field's name and what the field wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// The value itself is malformed JSON.
    Json(JsonError),
    /// Not an integer: byte offset and a short description of what is there.
    NotInteger(usize, String),
    /// A negative integer.
    Negative(String),
    /// An integer too large for the field.
    OutOfRange(String),
}

/// A short description of a value for error messages (`the string "x"`, `the number
/// 1.5`, `an array`), so that a shape error says what it found without echoing a
/// whole value.
pub fn describe(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => format!("the number {}", truncate(n.as_str())),
        Json::String(s) => format!("the string {:?}", truncate(s)),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// The first 40 characters of `s` (and `…` when there were more), so that an error
/// message stays one readable line.
fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}
