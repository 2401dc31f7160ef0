//! [`Json`]: a value as a Python node's `json.loads` sees it, kept exactly as it
//! arrived (key order, repeated keys, the spelling of every number), and the
//! [`Number`] literals it holds.

use std::fmt;

use super::grammar::{JsonError, Parser, Scalar, Visit};
use super::writer::{Dialect, write_json_str, write_number_literal, write_separator};
use super::wtf8::JsonStr;

/// A JSON value as a Python node's `json.loads` sees it, kept as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null` (Python `None`).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, with its spelling.
    Number(Number),
    /// A string: text, or (from a `\ud800` escape without its pair) text holding lone
    /// surrogates, which Python keeps and which is written back as the same escape.
    String(JsonStr<'static>),
    /// An array.
    Array(Vec<Json>),
    /// An object's members in document order, repeated keys included (keys that
    /// differ only in their lone surrogates are different keys, as in Python).
    Object(Vec<(JsonStr<'static>, Json)>),
}

/// A number literal exactly as written: JSON number grammar, or one of Python's tokens
/// `NaN`, `Infinity`, `-Infinity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(Box<str>);

/// What a number literal means to Python.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumberValue<'a> {
    /// An integer: its literal (JSON grammar: optional `-`, no leading zeros).
    Int(&'a str),
    /// A float (`1.5`, `1e5`, `1E400` which is infinite, `NaN`, ...).
    Float(f64),
}

impl Number {
    /// The literal as it arrived.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether Python reads this literal as an `int` (no fraction, no exponent).
    pub fn is_integer(&self) -> bool {
        !self
            .0
            .bytes()
            .any(|b| matches!(b, b'.' | b'e' | b'E' | b'N' | b'I'))
    }

    /// The value Python's `json.loads` gives this literal.
    pub fn value(&self) -> NumberValue<'_> {
        Number::value_of(&self.0)
    }

    /// The value Python's `json.loads` gives a number literal (one the grammar
    /// accepted: a [`Scalar::Number`] or a [`Number`]'s text).
    ///
    /// # Panics
    /// When `literal` is not a number literal of that grammar.
    #[inline]
    pub fn value_of(literal: &str) -> NumberValue<'_> {
        let is_integer = !literal
            .bytes()
            .any(|b| matches!(b, b'.' | b'e' | b'E' | b'N' | b'I'));
        match literal {
            "NaN" => NumberValue::Float(f64::NAN),
            "Infinity" => NumberValue::Float(f64::INFINITY),
            "-Infinity" => NumberValue::Float(f64::NEG_INFINITY),
            s if is_integer => NumberValue::Int(s),
            // Rust's parse is correctly rounded, as Python's float() is; overflow gives
            // an infinity, as in Python.
            s => NumberValue::Float(
                s.parse()
                    .expect("a JSON number literal is a valid Rust float literal"),
            ),
        }
    }

    /// Whether Python reads this literal as `inf`, `-inf` or `nan`.
    pub fn is_nonfinite(&self) -> bool {
        matches!(self.value(), NumberValue::Float(f) if !f.is_finite())
    }

    /// A number from a literal in JSON grammar (or Python's `NaN`, `Infinity`,
    /// `-Infinity`); `None` for anything else.
    pub fn from_literal(text: &str) -> Option<Self> {
        match Json::parse(text) {
            Ok(Json::Number(n)) => Some(n),
            _ => None,
        }
    }

    /// Builds a number from an integer.
    pub fn from_u128(n: u128) -> Self {
        Number(n.to_string().into())
    }
}

impl Json {
    /// Parses one JSON value (Python's dialect) that must fill the whole text.
    ///
    /// # Errors
    /// [`JsonError`] with the line and column of the first problem.
    pub fn parse(text: &str) -> Result<Json, JsonError> {
        let mut p = Parser::new(text);
        p.skip_ws();
        let v = p.value()?;
        p.finish()?;
        Ok(v)
    }

    /// The value of `key` in an object, as a Python dict holds it (the last of
    /// repeated keys); `None` for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string value (`None` also for one holding a lone surrogate).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => s.as_str(),
            _ => None,
        }
    }

    /// Whether this value holds a number Python reads as `inf`, `-inf` or `nan`.
    ///
    /// Python nodes mine and publish such values, after which every Python node's API
    /// answers 500 (docs/PROTOCOL.md), so minichain does not mine them by default.
    pub fn has_nonfinite(&self) -> bool {
        match self {
            Json::Number(n) => n.is_nonfinite(),
            Json::Array(items) => items.iter().any(Json::has_nonfinite),
            Json::Object(members) => members.iter().any(|(_, v)| v.has_nonfinite()),
            _ => false,
        }
    }

    /// Whether this value holds a NaN: no valid JSON number reads back as NaN, so such a
    /// value cannot be written without changing its hash (see [`Json::write`]).
    pub fn has_nan(&self) -> bool {
        match self {
            Json::Number(n) => matches!(n.value(), NumberValue::Float(f) if f.is_nan()),
            Json::Array(items) => items.iter().any(Json::has_nan),
            Json::Object(members) => members.iter().any(|(_, v)| v.has_nan()),
            _ => false,
        }
    }

    /// Appends this value as JSON text.
    ///
    /// The output is always valid JSON. Numbers keep their spelling; Python's non-finite
    /// tokens become numbers Python reads back to the same value: `Infinity` → `1e999`,
    /// `-Infinity` → `-1e999` (so the block hash is unchanged). `NaN` has no such
    /// spelling and is written as `null`: callers that must keep hashes intact refuse
    /// NaN first ([`Json::has_nan`]).
    pub fn write(&self, dialect: Dialect, out: &mut Vec<u8>) {
        self.write_numbers(dialect, write_number_literal, out);
    }

    /// [`Json::write`] with the number writer given: valid JSON, or (for the text that
    /// raw data keeps) every literal as it arrived, Python's tokens included.
    pub(crate) fn write_numbers(
        &self,
        dialect: Dialect,
        number: fn(&str, &mut Vec<u8>),
        out: &mut Vec<u8>,
    ) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Number(n) => number(n.as_str(), out),
            Json::String(s) => write_json_str(s, dialect, out),
            Json::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write_separator(b',', dialect, out);
                    }
                    item.write_numbers(dialect, number, out);
                }
                out.push(b']');
            }
            Json::Object(members) => {
                out.push(b'{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        write_separator(b',', dialect, out);
                    }
                    write_json_str(k, dialect, out);
                    write_separator(b':', dialect, out);
                    v.write_numbers(dialect, number, out);
                }
                out.push(b'}');
            }
        }
    }

    /// This value as compact JSON text.
    pub fn to_compact_string(&self) -> String {
        let mut out = Vec::new();
        self.write(Dialect::Compact, &mut out);
        String::from_utf8(out)
            .expect("the writer only emits UTF-8: ASCII syntax plus the value's own strings")
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_compact_string())
    }
}

/// Builds a [`Json`] tree from the pieces [`Parser::walk`] reports.
#[derive(Default)]
struct TreeBuilder {
    /// Open containers, innermost last; an object's entry holds the key whose value
    /// comes next.
    open: Vec<(Json, Option<JsonStr<'static>>)>,
    root: Option<Json>,
}

impl TreeBuilder {
    /// Puts a finished value into its container, or makes it the root.
    fn place(&mut self, value: Json) {
        match self.open.last_mut() {
            Some((Json::Array(items), _)) => items.push(value),
            Some((Json::Object(members), key)) => {
                let key = key
                    .take()
                    .expect("the walk reports a member's key before its value");
                members.push((key, value));
            }
            _ => self.root = Some(value),
        }
    }
}

impl<'a> Visit<'a> for TreeBuilder {
    fn scalar(&mut self, scalar: Scalar<'a>) {
        self.place(match scalar {
            Scalar::Null => Json::Null,
            Scalar::Bool(b) => Json::Bool(b),
            Scalar::Number(n) => Json::Number(Number(n.into())),
            Scalar::String(s) => Json::String(s.into_owned()),
        });
    }

    fn begin(&mut self, object: bool) {
        let container = if object {
            Json::Object(Vec::new())
        } else {
            Json::Array(Vec::new())
        };
        self.open.push((container, None));
    }

    fn key(&mut self, key: JsonStr<'a>) {
        if let Some((_, pending)) = self.open.last_mut() {
            *pending = Some(key.into_owned());
        }
    }

    fn end(&mut self, _: bool) {
        if let Some((container, _)) = self.open.pop() {
            self.place(container);
        }
    }
}

impl Parser<'_> {
    /// Parses one value (after optional whitespace) into a tree.
    ///
    /// # Errors
    /// Any [`JsonErrorKind`](super::grammar::JsonErrorKind).
    pub fn value(&mut self) -> Result<Json, JsonError> {
        let mut tree = TreeBuilder::default();
        self.walk(&mut tree)?;
        Ok(tree
            .root
            .expect("a walk that succeeds reports one whole value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(text: &str) -> String {
        Json::parse(text)
            .map(|j| j.to_compact_string())
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn keeps_spelling_order_and_repeated_keys() {
        assert_eq!(
            compact(r#" { "b" : 1.50, "a":-0, "b": 1E+2 } "#),
            r#"{"b":1.50,"a":-0,"b":1E+2}"#
        );
    }

    #[test]
    fn python_tokens_are_read_and_written_as_valid_json() {
        assert_eq!(compact("[NaN, Infinity, -Infinity]"), "[null,1e999,-1e999]");
        assert!(Json::parse("[1, NaN]").is_ok_and(|j| j.has_nan() && j.has_nonfinite()));
        assert!(Json::parse("1E400").is_ok_and(|j| j.has_nonfinite() && !j.has_nan()));
        assert!(Json::parse("1.5").is_ok_and(|j| !j.has_nonfinite()));
    }

    #[test]
    fn python_dialect_spacing_and_ascii_escapes() {
        let j = Json::parse(r#"{"é":["a\"b", "😀\u0001\n"]}"#).ok();
        let mut out = Vec::new();
        if let Some(j) = j {
            j.write(Dialect::Python, &mut out);
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            r#"{"\u00e9": ["a\"b", "\ud83d\ude00\u0001\n"]}"#
        );
    }

    /// Lone surrogates are kept, as keys and values, and written back as the escapes
    /// they arrived as, in both dialects (never as raw bytes, never replaced).
    #[test]
    fn lone_surrogates_are_kept_and_written_as_escapes() {
        let text = r#"["\ud800", {"\udc00": "é\udbff\n", "\udc01": 1}, "\ud83d\ude00\ud83d"]"#;
        let j = Json::parse(text).expect("Python reads it");
        let mut python = Vec::new();
        j.write(Dialect::Python, &mut python);
        assert_eq!(
            String::from_utf8_lossy(&python),
            r#"["\ud800", {"\udc00": "\u00e9\udbff\n", "\udc01": 1}, "\ud83d\ude00\ud83d"]"#
        );
        assert_eq!(
            j.to_compact_string(),
            r#"["\ud800",{"\udc00":"é\udbff\n","\udc01":1},"😀\ud83d"]"#
        );
        assert_eq!(Json::parse(&j.to_compact_string()).ok(), Some(j.clone()));
        // Keys that differ only in their surrogate are different keys.
        let Json::Array(items) = &j else {
            panic!("an array")
        };
        let Json::Object(members) = &items[1] else {
            panic!("an object")
        };
        assert_ne!(members[0].0, members[1].0);
        assert_eq!(j.as_str(), None);
        assert_eq!(items[0].as_str(), None);
    }
}
