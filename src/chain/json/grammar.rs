//! The grammar of Python's JSON dialect: a recursive-descent [`Parser`] that reports
//! each piece of a value to a [`Visit`]or, its limits, and [`JsonError`].
//!
//! Everything that reads JSON here (the tree, the raw text of block data, Python's
//! `str()` renderer, the block reader) walks this one grammar, so they cannot disagree
//! on what a Python node would read.

use std::borrow::Cow;

use super::wtf8::{JsonStr, Wtf8Builder};

/// Deepest nesting of arrays and objects accepted. Python's own decoder gives up near
/// 1000 levels (`RecursionError`); a lower bound keeps hostile input off our stack.
pub const MAX_DEPTH: usize = 512;

/// Most digits an integer may have: Python's `int()` refuses longer decimal strings
/// (`sys.int_info.default_max_str_digits`), so a Python node could not read it.
pub const MAX_INT_DIGITS: usize = 4300;

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
    /// A string holding a lone surrogate (`"\ud800"`) where it would reach Python's
    /// UTF-8 encoder as it is: as a block's whole `data` (`str()` of a string is the
    /// string itself, and the preimage cannot be encoded to hash it) or as a name the
    /// protocol fixes. Inside an array or object, `str()` escapes it and it is read.
    #[error(
        "lone surrogate \\u{0:04x} in a string that stands alone: Python cannot encode it as UTF-8 (only inside an array or object does str() escape it)"
    )]
    LoneSurrogate(u16),
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

/// A leaf value met by [`Parser::walk`], borrowed from the text where it can be, so
/// that a walk that builds nothing allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number literal (or `NaN`, `Infinity`, `-Infinity`).
    Number(&'a str),
    /// A string, unescaped (text, or rarely text holding lone surrogates).
    String(JsonStr<'a>),
}

/// Receives the pieces of a value from [`Parser::walk`], in document order: the one
/// grammar feeds the tree builder, the raw-data reader, the `str()` renderer and the
/// streaming writer, so that none of them parses on its own.
pub trait Visit<'a> {
    /// A leaf value (an array item, an object member's value, or the whole value).
    fn scalar(&mut self, scalar: Scalar<'a>);
    /// An array (`object == false`) or object starts.
    fn begin(&mut self, object: bool);
    /// An object member's key; its value follows.
    fn key(&mut self, key: JsonStr<'a>);
    /// The innermost open container ends.
    fn end(&mut self, object: bool);
    /// Whether the visitor wants nothing more: the walk then returns at once, its
    /// containers left open and the rest of the text unread (a preview's writer, which
    /// must not cost the whole of a large value).
    fn done(&self) -> bool {
        false
    }
}

/// Keeps nothing: walking with it checks a value's text and moves past it (a member a
/// reader does not want, or a scalar a renderer handles by itself).
pub struct Skip;

impl<'a> Visit<'a> for Skip {
    fn scalar(&mut self, _: Scalar<'a>) {}

    fn begin(&mut self, _: bool) {}

    fn key(&mut self, _: JsonStr<'a>) {}

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

    fn key(&mut self, key: JsonStr<'a>) {
        self.0.key(key.clone());
        self.1.key(key);
    }

    fn end(&mut self, object: bool) {
        self.0.end(object);
        self.1.end(object);
    }
}

/// A recursive-descent parser over Python's JSON dialect.
///
/// Public so that the block reader can drive it member by member without building a
/// tree for the block objects themselves.
pub struct Parser<'a> {
    text: &'a str,
    pub(super) bytes: &'a [u8],
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

    /// How many containers are open (what [`MAX_DEPTH`] bounds).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Moves to byte `offset`, past a value that another reader has read and checked
    /// to be one this parser would accept there (the plain lane of
    /// [`RawJson::read`](crate::chain::data::RawJson::read)).
    pub fn skip_to(&mut self, offset: usize) {
        self.pos = offset.min(self.bytes.len());
    }

    /// The whole text being parsed (with [`Parser::offset`], the text of what was
    /// just walked).
    pub fn source(&self) -> &'a str {
        self.text
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
                        let key = self.key_value()?;
                        visit.key(key);
                        self.expect(b':', "':'")?;
                        self.walk(visit)?;
                        if visit.done() {
                            self.leave();
                            return Ok(());
                        }
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
                        if visit.done() {
                            self.leave();
                            return Ok(());
                        }
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
                let s = self.string_value()?;
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

    /// Parses an object key (after whitespace) where the protocol fixes the names (a
    /// block's fields, a request's members): a lone surrogate is refused.
    ///
    /// # Errors
    /// When no string is next, or the string is malformed or holds a lone surrogate.
    pub fn key(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.unexpected("a string key"));
        }
        self.string()
    }

    /// Parses an object key (after whitespace) as Python reads it: it may hold lone
    /// surrogates.
    ///
    /// # Errors
    /// When no string is next, or the string is malformed.
    pub fn key_value(&mut self) -> Result<JsonStr<'a>, JsonError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.unexpected("a string key"));
        }
        self.string_value()
    }

    /// Parses a string literal at the current position (which holds `"`) where only
    /// text may stand (a name the protocol fixes, or a value that reaches Python's
    /// UTF-8 encoder as it is): a lone surrogate is refused.
    ///
    /// # Errors
    /// Raw control characters, bad escapes, lone surrogates, a missing closing quote.
    pub fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let at = self.pos;
        match self.string_value()? {
            JsonStr::Text(s) => Ok(s),
            JsonStr::Surrogates(w) => {
                Err(self.error_at(at, JsonErrorKind::LoneSurrogate(w.first_surrogate())))
            }
        }
    }

    /// Parses a string literal at the current position (which holds `"`) as Python's
    /// `json.loads` reads it: a `\uXXXX` escape of a surrogate without its pair gives
    /// a lone surrogate ([`JsonStr::Surrogates`]).
    ///
    /// # Errors
    /// Raw control characters, bad escapes, a missing closing quote.
    #[inline]
    pub fn string_value(&mut self) -> Result<JsonStr<'a>, JsonError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes. A SIMD search for the string's end or first escape,
        // then a check for raw control characters before it.
        let rest = &self.bytes[start..];
        let stop = memchr::memchr2(b'"', b'\\', rest);
        let plain = &rest[..stop.unwrap_or(rest.len())];
        if let Some(i) = plain.iter().position(|&b| b < 0x20) {
            self.pos = start + i;
            return Err(self.error(JsonErrorKind::ControlCharacter(u32::from(plain[i]))));
        }
        self.pos = start + plain.len();
        if stop.is_some_and(|n| rest[n] == b'"') {
            let s = &self.text[start..self.pos];
            self.pos += 1;
            return Ok(JsonStr::Text(Cow::Borrowed(s)));
        }
        self.escaped_rest(start)
    }

    /// The rest of a string from its first escape (or the end of the text): the
    /// string's text so far is `text[start..pos]`.
    fn escaped_rest(&mut self, start: usize) -> Result<JsonStr<'a>, JsonError> {
        let mut out = Wtf8Builder::new(&self.text[start..self.pos]);
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error(JsonErrorKind::UnexpectedEnd));
            };
            match b {
                b'"' => {
                    self.pos += 1;
                    return Ok(out.finish());
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
                            match self.surrogate_pair(unit, esc_at)? {
                                Ok(c) => c,
                                Err(lone) => {
                                    out.push_surrogate(lone);
                                    continue;
                                }
                            }
                        }
                        None => return Err(self.error(JsonErrorKind::UnexpectedEnd)),
                        Some(_) => return Err(self.error_at(esc_at, JsonErrorKind::BadEscape)),
                    };
                    if !matches!(self.bytes.get(esc_at + 1), Some(b'u')) {
                        self.pos += 1;
                    }
                    out.push_char(c);
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

    /// Completes a `\uXXXX` escape, pairing a high surrogate with its low half as
    /// Python's decoder does: `Err(unit)` for a surrogate left without its pair (a lone
    /// surrogate, which Python keeps in the string).
    fn surrogate_pair(&mut self, unit: u32, esc_at: usize) -> Result<Result<char, u16>, JsonError> {
        match unit {
            0xd800..=0xdbff => {
                if self.bytes[self.pos..].starts_with(b"\\u") {
                    let save = self.pos;
                    self.pos += 2;
                    let low = self.hex4(self.pos - 2)?;
                    if (0xdc00..=0xdfff).contains(&low) {
                        let cp = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
                        return char::from_u32(cp)
                            .map(Ok)
                            .ok_or_else(|| self.error_at(esc_at, JsonErrorKind::BadEscape));
                    }
                    self.pos = save;
                }
                Ok(Err(unit as u16))
            }
            0xdc00..=0xdfff => Ok(Err(unit as u16)),
            _ => char::from_u32(unit)
                .map(Ok)
                .ok_or_else(|| self.error_at(esc_at, JsonErrorKind::BadEscape)),
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

    /// Checks that `text` is one whole value, as `Json::parse` does without the tree.
    fn check(text: &str) -> Result<(), JsonError> {
        let mut p = Parser::new(text);
        p.walk(&mut Skip)?;
        p.finish()
    }

    #[test]
    fn errors_have_positions() {
        let e = check("[1,\n  2,, 3]").err();
        assert_eq!(e.map(|e| (e.line, e.column)), Some((2, 5)));
        let e = check("\"a\u{1}\"").err().map(|e| e.kind);
        assert_eq!(e, Some(JsonErrorKind::ControlCharacter(1)));
        assert!(matches!(
            check("[1] x").err().map(|e| e.kind),
            Some(JsonErrorKind::Trailing)
        ));
        assert!(check("01").is_err());
        assert!(check("1.").is_err());
        assert!(check("-").is_err());
        assert!(check("tru").is_err());
    }

    #[test]
    fn limits_depth_and_integer_length() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(
            check(&deep).err().map(|e| e.kind),
            Some(JsonErrorKind::TooDeep)
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(check(&ok).is_ok());
        let long = "9".repeat(MAX_INT_DIGITS + 1);
        assert_eq!(
            check(&long).err().map(|e| e.kind),
            Some(JsonErrorKind::IntegerTooLong(MAX_INT_DIGITS + 1))
        );
        assert!(check(&"9".repeat(MAX_INT_DIGITS)).is_ok());
        // A long float is fine: Python's limit is on int().
        assert!(check(&format!("{}.5", "9".repeat(MAX_INT_DIGITS + 1))).is_ok());
    }

    /// A lone surrogate is read as Python reads it, wherever a string may stand; only
    /// [`Parser::string`] (text-only places) refuses it.
    #[test]
    fn lone_surrogates_are_read() {
        for text in [
            r#""\ud800""#,
            r#"["\udc00", {"\udbff": "a\ud800b"}]"#,
            r#""\ud800\ud800\udc00""#,
        ] {
            assert_eq!(check(text), Ok(()), "{text}");
        }
        let read = |text: &str| {
            Parser::new(text)
                .string_value()
                .ok()
                .map(JsonStr::into_owned)
        };
        assert_eq!(
            read(r#""x\ud800\n\ud83d\ude00\udfff""#),
            Some(super::super::wtf8::Wtf8::from_utf16(&[
                0x78, 0xd800, 0x0a, 0xd83d, 0xde00, 0xdfff
            ]))
        );
        // A high surrogate followed by another escape stays alone; the escape is read.
        assert_eq!(
            read(r#""\ud800\u0041""#),
            Some(super::super::wtf8::Wtf8::from_utf16(&[0xd800, 0x41]))
        );
        let e = Parser::new("  \"\\ud800\"").key().err().map(|e| e.kind);
        assert_eq!(e, Some(JsonErrorKind::LoneSurrogate(0xd800)));
    }

    #[test]
    fn surrogate_pairs_combine() {
        assert_eq!(
            Parser::new(r#""\ud83d\ude00""#).string().ok().as_deref(),
            Some("😀")
        );
    }
}
