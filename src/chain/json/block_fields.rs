//! Readers for a block's integer fields (`block_no`, `timestamp`, `nonce`,
//! `difficulty`), and the short descriptions of a value that their errors (and other
//! shape errors) give when something else stands where a value was expected.
//!
//! A description never echoes more than [`clip`] keeps, and [`describe_next`] /
//! [`describe_text`] make it in one walk that builds no tree: a hostile value costs
//! one pass over its text, not a copy of it.

use super::grammar::{JsonError, Parser, Scalar, Visit};
use super::tree::Json;
use super::wtf8::JsonStr;
use crate::clip::clip;

impl<'a> Parser<'a> {
    /// Parses a non-negative integer that fits `u64` (block fields such as
    /// `block_no`), or says what it found instead.
    ///
    /// # Errors
    /// A message for the caller to wrap with the field's name.
    pub fn u64_field(&mut self) -> Result<u64, FieldError> {
        let n = self.field_integer()?;
        n.parse()
            .map_err(|_| FieldError::OutOfRange(clip(n).into_owned()))
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
            // Described in one walk, with no tree: a hostile `[0,0,...]` here would
            // otherwise cost some thirty times its text to say "an array".
            let found = describe_next(self).map_err(FieldError::Json)?;
            return Err(FieldError::NotInteger(at, found));
        }
        let s = self.number_literal().map_err(FieldError::Json)?;
        if s.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
            return Err(FieldError::NotInteger(
                at,
                format!("the number {}", clip(s)),
            ));
        }
        match s {
            "-0" => Ok("0"),
            _ if s.starts_with('-') => Err(FieldError::Negative(clip(s).into_owned())),
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
        Json::Number(n) => format!("the number {}", clip(n.as_str())),
        Json::String(s) => format!("the string {:?}", clip(&s.escaped())),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// Walks the value at the parser's position (building nothing) and describes it as
/// [`describe`] would.
///
/// # Errors
/// When the value is not JSON.
pub fn describe_next(p: &mut Parser<'_>) -> Result<String, JsonError> {
    let mut first = FirstPiece::default();
    p.walk(&mut first)?;
    Ok(first.found.unwrap_or_default())
}

/// Walks a whole text (one value, then only whitespace) building nothing, and
/// describes its value: one pass that both says whether the text is JSON at all and
/// what stands there.
///
/// # Errors
/// The first [`JsonError`] of the text.
pub fn describe_text(text: &str) -> Result<String, JsonError> {
    let mut p = Parser::new(text);
    let found = describe_next(&mut p)?;
    p.finish()?;
    Ok(found)
}

/// A visitor that keeps a description of the first piece of a walk (the whole
/// value's kind) and ignores the rest.
#[derive(Default)]
struct FirstPiece {
    found: Option<String>,
}

impl<'a> Visit<'a> for FirstPiece {
    fn scalar(&mut self, scalar: Scalar<'a>) {
        if self.found.is_none() {
            self.found = Some(match scalar {
                Scalar::Null => "null".into(),
                Scalar::Bool(b) => b.to_string(),
                Scalar::Number(n) => format!("the number {}", clip(n)),
                Scalar::String(s) => format!("the string {:?}", clip(&s.escaped())),
            });
        }
    }

    fn begin(&mut self, object: bool) {
        if self.found.is_none() {
            self.found = Some(if object { "an object" } else { "an array" }.into());
        }
    }

    fn key(&mut self, _: JsonStr<'a>) {}

    fn end(&mut self, _: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A description names the kind and clips the text of a long scalar.
    #[test]
    fn describes_without_echoing() {
        assert_eq!(describe_text(" [1, {}] ").as_deref(), Ok("an array"));
        assert_eq!(describe_text("{\"a\": [1]}").as_deref(), Ok("an object"));
        assert_eq!(describe_text("null").as_deref(), Ok("null"));
        let long = format!("\"{}\"", "s".repeat(100_000));
        let found = describe_text(&long).expect("JSON");
        assert!(found.len() < 200, "{found}");
        assert!(found.contains("…(100000 bytes)"), "{found}");
        assert!(describe_text("[1,").is_err());
        assert!(describe_text("[] x").is_err());
    }
}
