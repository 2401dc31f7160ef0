//! JSON as the original Python nodes read and write it.
//!
//! Why not `serde_json::Value`: a block's hash is computed from Python's `str()` of the
//! value `json.loads` produced, and Python's JSON differs from strict JSON in ways that
//! change hashes or crash Python peers:
//! - it reads and writes the tokens `NaN`, `Infinity` and `-Infinity`;
//! - an object with a repeated key keeps the first key's place and the last value;
//! - integers are unbounded but refused past 4300 digits;
//! - a `\ud800` escape yields a lone surrogate that Python cannot hash.
//!
//! [`Json`] keeps a value exactly as it arrived (key order, repeated keys and the
//! spelling of every number), so that re-serializing it and hashing it agree with a
//! Python node. [`Json::write`] always writes valid JSON (see [`Dialect`]).

use std::borrow::Cow;
use std::fmt;

use super::pyrepr::{StreamRepr, write_str};

/// Deepest nesting of arrays and objects accepted. Python's own decoder gives up near
/// 1000 levels (`RecursionError`); a lower bound keeps hostile input off our stack.
pub const MAX_DEPTH: usize = 512;

/// Most digits an integer may have: Python's `int()` refuses longer decimal strings
/// (`sys.int_info.default_max_str_digits`), so a Python node could not read it.
pub const MAX_INT_DIGITS: usize = 4300;

/// A JSON value as a Python node's `json.loads` sees it, kept as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null` (Python `None`).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, with its spelling.
    Number(Number),
    /// A string (never holds a lone surrogate: those are refused when parsed).
    String(Box<str>),
    /// An array.
    Array(Vec<Json>),
    /// An object's members in document order, repeated keys included.
    Object(Vec<(Box<str>, Json)>),
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

    /// The value Python's `json.loads` gives a number literal.
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
            s => NumberValue::Float(s.parse().unwrap_or(f64::NAN)),
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

/// How [`Json::write`] lays out its text. Both always produce valid JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The original's HTTP responses: no spaces, non-ASCII written as is.
    Compact,
    /// Python's default `json.dumps` (the original's Redis messages): `", "` and `": "`
    /// separators, non-ASCII escaped as `\uXXXX`.
    Python,
}

/// Why a text is not JSON a Python node would read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct JsonError {
    /// Byte offset of the problem in the input.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong.
    pub kind: JsonErrorKind,
}

/// What is wrong with a JSON text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonErrorKind {
    /// The text ended inside a value.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A character that cannot start or continue a value here.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar allows here.
        expected: &'static str,
        /// What is there, quoted.
        found: String,
    },
    /// Something follows the value.
    #[error("trailing characters after the JSON value")]
    Trailing,
    /// A raw control character inside a string (Python's decoder is strict).
    #[error("control character U+{0:04X} inside a string must be escaped")]
    ControlCharacter(u32),
    /// A bad backslash escape.
    #[error("invalid escape in string")]
    BadEscape,
    /// `\ud800` without its pair: Python cannot encode it, so it cannot be hashed.
    #[error("lone surrogate \\u{0:04x} in string: a Python node cannot hash it")]
    LoneSurrogate(u32),
    /// A malformed number.
    #[error("invalid number")]
    BadNumber,
    /// An integer Python refuses to read.
    #[error("integer with {0} digits: Python nodes refuse more than {MAX_INT_DIGITS}")]
    IntegerTooLong(usize),
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Well-formed JSON of the wrong shape for where it stands (a block field of the
    /// wrong type, a missing field, ...).
    #[error("{0}")]
    Shape(String),
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
                .find(|(k, _)| &**k == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this value holds a number Python reads as `inf`, `-inf` or `nan`.
    ///
    /// Python nodes mine and publish such values, after which every Python node's API
    /// answers 500 (PROTOCOL.md), so minichain does not mine them by default.
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

    /// [`Json::write`] with the number writer given: valid JSON, or (for
    /// [`RawJson`]'s own text) every literal as it arrived, Python's tokens included.
    fn write_numbers(&self, dialect: Dialect, number: fn(&str, &mut Vec<u8>), out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Number(n) => number(n.as_str(), out),
            Json::String(s) => write_string(s, dialect, out),
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
                    write_string(k, dialect, out);
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
        // The writer only emits UTF-8: ASCII syntax plus the input's own strings.
        String::from_utf8(out).unwrap_or_default()
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_compact_string())
    }
}

/// Writes JSON in a [`Dialect`] from the pieces [`Parser::walk`] reports, exactly as
/// [`Json::write`] writes the tree.
struct StreamJson<'o> {
    dialect: Dialect,
    out: &'o mut Vec<u8>,
    nesting: Nesting,
}

impl StreamJson<'_> {
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
            Scalar::Number(n) => write_number_literal(n, self.out),
            Scalar::String(s) => write_string(&s, self.dialect, self.out),
        }
    }

    fn begin(&mut self, object: bool) {
        self.separate();
        self.out.push(if object { b'{' } else { b'[' });
        self.nesting.open();
    }

    fn key(&mut self, key: Cow<'a, str>) {
        self.separate();
        write_string(&key, self.dialect, self.out);
        write_separator(b':', self.dialect, self.out);
        self.nesting.key_written();
    }

    fn end(&mut self, object: bool) {
        self.nesting.close();
        self.out.push(if object { b'}' } else { b']' });
    }
}

/// A number literal as minichain writes it: as spelled, with Python's non-finite
/// tokens replaced by valid JSON (see [`Json::write`]).
fn write_number_literal(literal: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(match literal {
        "NaN" => b"null",
        "Infinity" => b"1e999",
        "-Infinity" => b"-1e999",
        s => s.as_bytes(),
    });
}

/// Builds a [`Json`] tree from the pieces [`Parser::walk`] reports.
#[derive(Default)]
struct TreeBuilder {
    /// Open containers, innermost last; an object's entry holds the key whose value
    /// comes next.
    open: Vec<(Json, Option<Box<str>>)>,
    root: Option<Json>,
}

impl TreeBuilder {
    /// Puts a finished value into its container, or makes it the root.
    fn place(&mut self, value: Json) {
        match self.open.last_mut() {
            Some((Json::Array(items), _)) => items.push(value),
            Some((Json::Object(members), key)) => {
                members.push((key.take().unwrap_or_default(), value));
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
            Scalar::String(s) => Json::String(Box::from(&*s)),
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

    fn key(&mut self, key: Cow<'a, str>) {
        if let Some((_, pending)) = self.open.last_mut() {
            *pending = Some(Box::from(&*key));
        }
    }

    fn end(&mut self, _: bool) {
        if let Some((container, _)) = self.open.pop() {
            self.place(container);
        }
    }
}

/// Notes whether a value holds a number Python reads as NaN, or as an infinity, so
/// that [`RawJson::has_nan`] and [`RawJson::has_nonfinite`] need no second parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct NonFinite {
    nan: bool,
    infinite: bool,
}

impl<'a> Visit<'a> for NonFinite {
    fn scalar(&mut self, scalar: Scalar<'a>) {
        if let Scalar::Number(literal) = scalar
            && let NumberValue::Float(f) = Number::value_of(literal)
        {
            self.nan |= f.is_nan();
            self.infinite |= f.is_infinite();
        }
    }

    fn begin(&mut self, _: bool) {}

    fn key(&mut self, _: Cow<'a, str>) {}

    fn end(&mut self, _: bool) {}
}

/// Two visitors fed by one walk.
impl<'a, A: Visit<'a>, B: Visit<'a>> Visit<'a> for (A, B) {
    fn scalar(&mut self, scalar: Scalar<'a>) {
        self.0.scalar(scalar.clone());
        self.1.scalar(scalar);
    }

    fn begin(&mut self, object: bool) {
        self.0.begin(object);
        self.1.begin(object);
    }

    fn key(&mut self, key: Cow<'a, str>) {
        self.0.key(key.clone());
        self.1.key(key);
    }

    fn end(&mut self, object: bool) {
        self.0.end(object);
        self.1.end(object);
    }
}

/// A leaf value met by [`Parser::walk`].
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number literal (or `NaN`, `Infinity`, `-Infinity`).
    Number(&'a str),
    /// A string, unescaped.
    String(Cow<'a, str>),
}

/// Receives the pieces of a value from [`Parser::walk`], in document order.
pub trait Visit<'a> {
    /// A leaf value (an array item, an object member's value, or the whole value).
    fn scalar(&mut self, scalar: Scalar<'a>);
    /// An array (`object == false`) or object starts.
    fn begin(&mut self, object: bool);
    /// An object member's key; its value follows.
    fn key(&mut self, key: Cow<'a, str>);
    /// The innermost open container ends.
    fn end(&mut self, object: bool);
}

/// Notes whether any object repeats a key (Python keeps the first key's place and the
/// last value, which a streaming renderer cannot do).
#[derive(Default)]
struct DuplicateKeys<'a> {
    open: Vec<Vec<Cow<'a, str>>>,
    found: bool,
}

impl<'a> Visit<'a> for DuplicateKeys<'a> {
    fn scalar(&mut self, _: Scalar<'a>) {}

    fn begin(&mut self, object: bool) {
        if object {
            self.open.push(Vec::new());
        }
    }

    fn key(&mut self, key: Cow<'a, str>) {
        if let Some(keys) = self.open.last_mut() {
            // Objects are small: a scan beats hashing. A huge object with a repeated
            // key is only marked (and then rendered through the tree).
            if !self.found && keys.len() < 64 && keys.contains(&key) {
                self.found = true;
            }
            if keys.len() >= 64 {
                self.found = true; // too many to check cheaply: take the safe path
            } else {
                keys.push(key);
            }
        }
    }

    fn end(&mut self, object: bool) {
        if object {
            self.open.pop();
        }
    }
}

/// A JSON value kept as the exact text it arrived as, checked to be JSON that a Python
/// node reads. Blocks hold their `data` this way: one allocation instead of a tree,
/// hashed by rendering Python's `str()` straight from the text.
#[derive(Debug, Clone)]
pub struct RawJson {
    text: Box<str>,
    /// Python's `str()` of the value, rendered once when the text was read: the part
    /// of every preimage that depends on `data`.
    python_str: Box<str>,
    /// Which non-finite numbers it holds, noted when the text was read.
    nonfinite: NonFinite,
}

impl RawJson {
    /// Checks `text` (Python's dialect) and keeps it as it is.
    ///
    /// # Errors
    /// [`JsonError`] with the position of the first problem.
    pub fn parse(text: &str) -> Result<RawJson, JsonError> {
        let mut p = Parser::new(text);
        let raw = p.raw_value()?;
        p.finish()?;
        Ok(raw)
    }

    /// The text as it arrived.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Python's `str()` of the value (what the block preimage holds).
    pub fn python_str(&self) -> &str {
        &self.python_str
    }

    /// The value as a tree.
    pub fn to_json(&self) -> Json {
        // The text was checked when this was built, so parsing cannot fail.
        Json::parse(&self.text).unwrap_or(Json::Null)
    }

    /// Writes the value as [`Json::write`] does, straight from the text (no tree):
    /// serving a long chain re-writes every block's data.
    pub fn write(&self, dialect: Dialect, out: &mut Vec<u8>) {
        let mut writer = StreamJson {
            dialect,
            out,
            nesting: Nesting::default(),
        };
        // The text was checked when this was built, so the walk cannot fail.
        if Parser::new(&self.text).walk(&mut writer).is_err() {
            self.to_json().write(dialect, out);
        }
    }

    /// See [`Json::to_compact_string`].
    pub fn to_compact_string(&self) -> String {
        self.to_json().to_compact_string()
    }

    /// See [`Json::has_nonfinite`].
    pub fn has_nonfinite(&self) -> bool {
        self.nonfinite.nan || self.nonfinite.infinite
    }

    /// See [`Json::has_nan`].
    pub fn has_nan(&self) -> bool {
        self.nonfinite.nan
    }
}

impl From<&Json> for RawJson {
    fn from(value: &Json) -> RawJson {
        // Compact text with every number literal as it is (NaN and Infinity included,
        // so the value and its hash survive); repeated keys survive too.
        let mut out = Vec::new();
        value.write_numbers(
            Dialect::Compact,
            |n, out| out.extend_from_slice(n.as_bytes()),
            &mut out,
        );
        let text = String::from_utf8(out).unwrap_or_default();
        RawJson::parse(&text).unwrap_or_else(|_| {
            let mut python_str = Vec::new();
            write_str(value, &mut python_str);
            RawJson {
                text: text.into(),
                python_str: String::from_utf8(python_str).unwrap_or_default().into(),
                nonfinite: NonFinite {
                    nan: value.has_nan(),
                    infinite: value.has_nonfinite() && !value.has_nan(),
                },
            }
        })
    }
}

impl From<Json> for RawJson {
    fn from(value: Json) -> RawJson {
        RawJson::from(&value)
    }
}

/// Equal when the values are (number spellings and key order count, whitespace not).
impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.text == other.text || self.to_json() == other.to_json()
    }
}

impl PartialEq<Json> for RawJson {
    fn eq(&self, other: &Json) -> bool {
        self.to_json() == *other
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_compact_string())
    }
}

/// Writes `,` or `:` with the spacing of the dialect.
pub(crate) fn write_separator(sep: u8, dialect: Dialect, out: &mut Vec<u8>) {
    out.push(sep);
    if dialect == Dialect::Python {
        out.push(b' ');
    }
}

/// Writes a JSON string literal the way Python's `json.dumps` escapes it.
pub fn write_string(s: &str, dialect: Dialect, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
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
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                out.extend_from_slice(b"\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[usize::from((*unit >> shift) & 0xf)]);
                }
            }
        }
        // Continuation bytes (0x80..0xc0) were covered by their lead byte.
    }
    out.extend_from_slice(&bytes[plain_from..]);
    out.push(b'"');
}

/// A recursive-descent parser over Python's JSON dialect.
///
/// Public so that the block reader can drive it member by member without building a
/// tree for the block objects themselves.
pub struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// A parser at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Parser {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            depth: 0,
        }
    }

    /// A parser positioned at byte `offset` of `text` (for parsing a known part of a
    /// larger text; error positions stay those of the whole text).
    pub fn at(text: &'a str, offset: usize) -> Self {
        Parser {
            pos: offset.min(text.len()),
            ..Parser::new(text)
        }
    }

    /// Current byte offset.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// An error of `kind` at the current offset.
    pub fn error(&self, kind: JsonErrorKind) -> JsonError {
        self.error_at(self.pos, kind)
    }

    /// An error of `kind` at byte `offset`, with its line and column.
    pub fn error_at(&self, offset: usize, kind: JsonErrorKind) -> JsonError {
        let offset = offset.min(self.bytes.len());
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        JsonError {
            offset,
            line,
            column,
            kind,
        }
    }

    fn unexpected(&self, expected: &'static str) -> JsonError {
        match self.text[self.pos.min(self.text.len())..].chars().next() {
            None => self.error(JsonErrorKind::UnexpectedEnd),
            Some(c) => self.error(JsonErrorKind::Unexpected {
                expected,
                found: format!("{c:?}"),
            }),
        }
    }

    /// Skips JSON whitespace.
    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Consumes `byte` (after whitespace) or fails naming `expected`.
    ///
    /// # Errors
    /// When the next byte is not `byte`.
    pub fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), JsonError> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// After a member or item: consumes `,` and returns true, or consumes `close` and
    /// returns false.
    ///
    /// # Errors
    /// When neither follows.
    pub fn comma_or(&mut self, close: u8, expected: &'static str) -> Result<bool, JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    /// Consumes `close` if it is next (an empty container) and says so.
    pub fn eat_close(&mut self, close: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Fails unless only whitespace is left.
    ///
    /// # Errors
    /// [`JsonErrorKind::Trailing`].
    pub fn finish(&mut self) -> Result<(), JsonError> {
        self.skip_ws();
        if self.pos < self.bytes.len() {
            return Err(self.error(JsonErrorKind::Trailing));
        }
        Ok(())
    }

    /// Parses one value (after optional whitespace) into a tree.
    ///
    /// # Errors
    /// Any [`JsonErrorKind`].
    pub fn value(&mut self) -> Result<Json, JsonError> {
        let mut tree = TreeBuilder::default();
        self.walk(&mut tree)?;
        Ok(tree.root.unwrap_or(Json::Null))
    }

    /// Walks one value (after optional whitespace) without building it, reporting
    /// each piece to `visit` (the one grammar every reader here shares).
    ///
    /// # Errors
    /// Any [`JsonErrorKind`].
    pub fn walk<V: Visit<'a>>(&mut self, visit: &mut V) -> Result<(), JsonError> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error(JsonErrorKind::UnexpectedEnd)),
            Some(b'{') => {
                self.enter()?;
                self.pos += 1;
                visit.begin(true);
                if !self.eat_close(b'}') {
                    loop {
                        let key = self.key()?;
                        visit.key(key);
                        self.expect(b':', "':'")?;
                        self.walk(visit)?;
                        if !self.comma_or(b'}', "',' or '}'")? {
                            break;
                        }
                    }
                }
                visit.end(true);
                self.leave();
                Ok(())
            }
            Some(b'[') => {
                self.enter()?;
                self.pos += 1;
                visit.begin(false);
                if !self.eat_close(b']') {
                    loop {
                        self.walk(visit)?;
                        if !self.comma_or(b']', "',' or ']'")? {
                            break;
                        }
                    }
                }
                visit.end(false);
                self.leave();
                Ok(())
            }
            Some(b'"') => {
                let s = self.string()?;
                visit.scalar(Scalar::String(s));
                Ok(())
            }
            Some(b't') => self.walk_keyword("true", Scalar::Bool(true), visit),
            Some(b'f') => self.walk_keyword("false", Scalar::Bool(false), visit),
            Some(b'n') => self.walk_keyword("null", Scalar::Null, visit),
            Some(b'N') => self.walk_keyword("NaN", Scalar::Number("NaN"), visit),
            Some(b'I') => self.walk_keyword("Infinity", Scalar::Number("Infinity"), visit),
            Some(b'-') if self.bytes[self.pos..].starts_with(b"-Infinity") => {
                self.walk_keyword("-Infinity", Scalar::Number("-Infinity"), visit)
            }
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number_literal()?;
                visit.scalar(Scalar::Number(n));
                Ok(())
            }
            Some(_) => Err(self.unexpected("a JSON value")),
        }
    }

    fn walk_keyword<V: Visit<'a>>(
        &mut self,
        word: &'static str,
        scalar: Scalar<'a>,
        visit: &mut V,
    ) -> Result<(), JsonError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            visit.scalar(scalar);
            Ok(())
        } else {
            Err(self.unexpected("a JSON value"))
        }
    }

    /// Checks one value and returns it as a [`RawJson`] holding its exact text.
    ///
    /// # Errors
    /// Any [`JsonErrorKind`].
    pub fn raw_value(&mut self) -> Result<RawJson, JsonError> {
        self.skip_ws();
        let start = self.pos;
        // One walk checks the text, looks for repeated keys and non-finite numbers, and
        // renders `str()`.
        let mut visit = (
            DuplicateKeys::default(),
            (NonFinite::default(), StreamRepr::default()),
        );
        self.walk(&mut visit)?;
        let text = &self.text[start..self.pos];
        let (keys, (nonfinite, render)) = visit;
        let python_str = if keys.found {
            // Python keeps a repeated key's first place and last value: render from
            // the tree, which knows the whole object.
            let mut out = Vec::new();
            write_str(&Json::parse(text)?, &mut out);
            out
        } else {
            render.into_bytes()
        };
        Ok(RawJson {
            text: text.into(),
            // Rendered from `str`s and ASCII, so it is UTF-8.
            python_str: String::from_utf8(python_str).unwrap_or_default().into(),
            nonfinite,
        })
    }

    /// Enters a container; fails past [`MAX_DEPTH`].
    ///
    /// # Errors
    /// [`JsonErrorKind::TooDeep`].
    pub fn enter(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(JsonErrorKind::TooDeep));
        }
        Ok(())
    }

    /// Leaves a container entered with [`Parser::enter`].
    pub fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Parses an object key (after whitespace).
    ///
    /// # Errors
    /// When no string is next, or the string is malformed.
    pub fn key(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.unexpected("a string key"));
        }
        self.string()
    }

    /// Parses a string literal at the current position (which holds `"`).
    ///
    /// # Errors
    /// Raw control characters, bad escapes, lone surrogates, a missing closing quote.
    pub fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes.
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'"' => {
                    let s = &self.text[start..self.pos];
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                b'\\' => break,
                0..=0x1f => return Err(self.error(JsonErrorKind::ControlCharacter(u32::from(b)))),
                _ => self.pos += 1,
            }
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error(JsonErrorKind::UnexpectedEnd));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    let esc_at = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let unit = self.hex4(esc_at)?;
                            self.surrogate_pair(unit, esc_at)?
                        }
                        None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
                        Some(_) => return Err(self.error_at(esc_at, JsonErrorKind::BadEscape)),
                    };
                    if !matches!(self.bytes.get(esc_at + 1), Some(b'u')) {
                        self.pos += 1;
                    }
                    out.push(c);
                }
                0..=0x1f => return Err(self.error(JsonErrorKind::ControlCharacter(u32::from(b)))),
                _ => {
                    // Copy a run of plain bytes (UTF-8 boundaries are preserved since the
                    // run stops only at ASCII bytes).
                    let run_start = self.pos;
                    while let Some(&b) = self.bytes.get(self.pos) {
                        if b == b'"' || b == b'\\' || b < 0x20 {
                            break;
                        }
                        self.pos += 1;
                    }
                    out.push_str(&self.text[run_start..self.pos]);
                }
            }
        }
    }

    /// Reads four hex digits after `\u`, leaving the position after them.
    fn hex4(&mut self, esc_at: usize) -> Result<u32, JsonError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error(JsonErrorKind::UnexpectedEnd))?;
        let mut v = 0u32;
        for &d in digits {
            let x = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error_at(esc_at, JsonErrorKind::BadEscape))?;
            v = v * 16 + x;
        }
        self.pos += 4;
        Ok(v)
    }

    /// Completes a `\uXXXX` escape, pairing a high surrogate with its low half.
    fn surrogate_pair(&mut self, unit: u32, esc_at: usize) -> Result<char, JsonError> {
        match unit {
            0xd800..=0xdbff => {
                if self.bytes[self.pos..].starts_with(b"\\u") {
                    let save = self.pos;
                    self.pos += 2;
                    let low = self.hex4(self.pos - 2)?;
                    if (0xdc00..=0xdfff).contains(&low) {
                        let cp = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                        return char::from_u32(cp)
                            .ok_or_else(|| self.error_at(esc_at, JsonErrorKind::BadEscape));
                    }
                    self.pos = save;
                }
                Err(self.error_at(esc_at, JsonErrorKind::LoneSurrogate(unit)))
            }
            0xdc00..=0xdfff => Err(self.error_at(esc_at, JsonErrorKind::LoneSurrogate(unit))),
            _ => {
                char::from_u32(unit).ok_or_else(|| self.error_at(esc_at, JsonErrorKind::BadEscape))
            }
        }
    }

    /// Parses a number literal in JSON grammar and returns its text.
    ///
    /// # Errors
    /// [`JsonErrorKind::BadNumber`], [`JsonErrorKind::IntegerTooLong`].
    pub fn number_literal(&mut self) -> Result<&'a str, JsonError> {
        let start = self.pos;
        let b = self.bytes;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = b.get(i) {
                    i += 1;
                }
            }
            _ => return Err(self.error_at(start, JsonErrorKind::BadNumber)),
        }
        let int_end = i;
        if b.get(i) == Some(&b'.') && matches!(b.get(i + 1), Some(b'0'..=b'9')) {
            i += 1;
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            let mut j = i + 1;
            if let Some(b'+' | b'-') = b.get(j) {
                j += 1;
            }
            if matches!(b.get(j), Some(b'0'..=b'9')) {
                while let Some(b'0'..=b'9') = b.get(j) {
                    j += 1;
                }
                i = j;
            }
        }
        if i == int_end {
            let digits = int_end - start - usize::from(b[start] == b'-');
            if digits > MAX_INT_DIGITS {
                return Err(self.error_at(start, JsonErrorKind::IntegerTooLong(digits)));
            }
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

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
        let at = self.pos;
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

/// Why a block field holds the wrong kind of value.
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

/// A short description of a value for error messages (`a string`, `the float 1.5`).
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

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
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
        for (text, nan, nonfinite) in [
            ("[1, {\"a\": NaN}]", true, true),
            ("[1E400]", false, true),
            ("[-Infinity]", false, true),
            ("{\"NaN\": \"Infinity\", \"x\": 1e308}", false, false),
        ] {
            let raw = RawJson::parse(text).ok();
            let from_tree = Json::parse(text).ok().map(RawJson::from);
            for r in [raw, from_tree] {
                assert_eq!(
                    r.map(|r| (r.has_nan(), r.has_nonfinite())),
                    Some((nan, nonfinite)),
                    "{text}"
                );
            }
        }
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

    #[test]
    fn errors_have_positions() {
        let e = Json::parse("[1,\n  2,, 3]").err();
        assert_eq!(e.map(|e| (e.line, e.column)), Some((2, 5)));
        let e = Json::parse("\"\\ud800\"").err().map(|e| e.kind);
        assert_eq!(e, Some(JsonErrorKind::LoneSurrogate(0xd800)));
        let e = Json::parse("\"a\u{1}\"").err().map(|e| e.kind);
        assert_eq!(e, Some(JsonErrorKind::ControlCharacter(1)));
        assert!(matches!(
            Json::parse("[1] x").err().map(|e| e.kind),
            Some(JsonErrorKind::Trailing)
        ));
        assert!(Json::parse("01").is_err());
        assert!(Json::parse("1.").is_err());
        assert!(Json::parse("-").is_err());
        assert!(Json::parse("tru").is_err());
    }

    #[test]
    fn limits_depth_and_integer_length() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            Json::parse(&deep).err().map(|e| e.kind),
            Some(JsonErrorKind::TooDeep)
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Json::parse(&ok).is_ok());
        let long = "9".repeat(MAX_INT_DIGITS + 1);
        assert_eq!(
            Json::parse(&long).err().map(|e| e.kind),
            Some(JsonErrorKind::IntegerTooLong(MAX_INT_DIGITS + 1))
        );
        assert!(Json::parse(&"9".repeat(MAX_INT_DIGITS)).is_ok());
        // A long float is fine: Python's limit is on int().
        assert!(Json::parse(&format!("{}.5", "9".repeat(MAX_INT_DIGITS + 1))).is_ok());
    }

    #[test]
    fn surrogate_pairs_combine() {
        assert_eq!(
            Json::parse(r#""\ud83d\ude00""#).ok(),
            Some(Json::String("😀".into()))
        );
    }

    #[test]
    fn raw_json_writes_what_the_tree_writes() {
        for text in [
            r#" { "b" : 1.50, "a":-0, "b": [ NaN, Infinity, -Infinity, 1E+2 ] } "#,
            r#"["é\u00e9\ud83d\ude00", {"k\"": {"": []}}, true, false, null, "\u007f\t"]"#,
            r#""top""#,
            "-12.5e-3",
            "{}",
        ] {
            let raw = RawJson::parse(text).expect("valid");
            let tree = Json::parse(text).expect("valid");
            for dialect in [Dialect::Compact, Dialect::Python] {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                raw.write(dialect, &mut a);
                tree.write(dialect, &mut b);
                assert_eq!(
                    String::from_utf8_lossy(&a),
                    String::from_utf8_lossy(&b),
                    "{text}"
                );
            }
        }
    }
}
