//! [`RawJson`]: a block's `data`, kept as the exact text it arrived as, with Python's
//! `str()` of it rendered once when it was read.
//!
//! It sits above both [`json`](super::json) (which reads and writes the text) and
//! [`pyrepr`](super::pyrepr) (which renders `str()`), so that neither of those needs
//! the other.

use std::collections::HashMap;
use std::fmt;

use super::json::MAX_DEPTH;
use super::json::{
    Dialect, Json, JsonError, JsonStr, Number, NumberValue, Parser, Scalar, Skip, StreamJson, Visit,
};
use super::plain_str::{MAX_PLAIN_DEPTH, PlainScratch, write_plain_str};
use super::pyrepr::{StreamRepr, for_each_python_member, write_json_str_repr, write_scalar_str};

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
        let raw = RawJson::read(&mut p)?;
        p.finish()?;
        Ok(raw)
    }

    /// Checks one value at `p`'s position (after optional whitespace) and keeps its
    /// exact text: how the block reader takes a block's `data` without a tree.
    ///
    /// Lone surrogates (`"\ud800"`) are read inside arrays and objects, where Python's
    /// `str()` escapes them; a bare string holding one is refused, as Python cannot
    /// encode its `str()` (the string itself) to hash it.
    ///
    /// # Errors
    /// Any [`JsonErrorKind`](super::json::JsonErrorKind);
    /// [`JsonErrorKind::LoneSurrogate`](super::json::JsonErrorKind::LoneSurrogate) for a
    /// bare string holding a lone surrogate.
    pub fn read(p: &mut Parser<'_>) -> Result<RawJson, JsonError> {
        p.skip_ws();
        let start = p.offset();
        if p.peek() == Some(b'"') {
            // str() of a string is the string itself: no walk, no rendering.
            let s = p.string()?;
            return Ok(RawJson {
                python_str: s.into(),
                text: p.source()[start..p.offset()].into(),
                nonfinite: NonFinite::default(),
            });
        }
        // The plain lane first: plainly written data (most of it) renders in one pass.
        if p.depth() + MAX_PLAIN_DEPTH <= MAX_DEPTH {
            let mut python_str = Vec::new();
            let plain = write_plain_str(
                p.source().as_bytes(),
                start,
                &mut python_str,
                &mut PlainScratch::default(),
            );
            if let Some(end) = plain {
                p.skip_to(end);
                return Ok(RawJson {
                    text: p.source()[start..end].into(),
                    python_str: String::from_utf8(python_str)
                        .expect("the plain lane writes only ASCII")
                        .into(),
                    // The plain form has no NaN or Infinity tokens, and its numbers
                    // are too short to overflow.
                    nonfinite: NonFinite::default(),
                });
            }
        }
        // One walk checks the text, looks for repeated keys and non-finite numbers, and
        // renders `str()`.
        let mut visit = (
            DuplicateKeys::default(),
            (NonFinite::default(), StreamRepr::default()),
        );
        p.walk(&mut visit)?;
        let text = &p.source()[start..p.offset()];
        let (keys, (nonfinite, render)) = visit;
        let python_str = if keys.found {
            // Python keeps a repeated key's first place and last value: render again,
            // following a plan of the objects that repeat keys.
            str_with_repeated_keys(text)?
        } else {
            render.into_bytes()
        };
        Ok(RawJson {
            text: text.into(),
            python_str: String::from_utf8(python_str)
                .expect("str() is rendered from strs and ASCII, so it is UTF-8")
                .into(),
            nonfinite,
        })
    }

    /// A tree's value kept as text: compact, with every number literal as it is (NaN
    /// and Infinity included, so the value and its hash survive), repeated keys too.
    ///
    /// # Errors
    /// [`JsonErrorKind::TooDeep`](super::json::JsonErrorKind::TooDeep) for a tree
    /// nested deeper than [`MAX_DEPTH`] levels: only a tree built in code can be, as
    /// [`Json::parse`] refuses such text. Nothing else in a [`Json`] can fail to read
    /// back but a bare string holding a lone surrogate
    /// ([`JsonErrorKind::LoneSurrogate`](super::json::JsonErrorKind::LoneSurrogate)),
    /// which [`RawJson::read`] refuses.
    pub fn from_tree(value: &Json) -> Result<RawJson, JsonError> {
        let mut out = Vec::new();
        value.write_numbers(
            Dialect::Compact,
            |n, out| out.extend_from_slice(n.as_bytes()),
            &mut out,
        );
        let text = String::from_utf8(out)
            .expect("the writer only emits UTF-8: ASCII syntax plus the value's own strings");
        RawJson::parse(&text)
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
        Json::parse(&self.text).expect("the text was checked when this was built")
    }

    /// Writes the value as [`Json::write`] does, straight from the text (no tree):
    /// serving a long chain re-writes every block's data.
    pub fn write(&self, dialect: Dialect, out: &mut Vec<u8>) {
        write_raw_text(&self.text, dialect, out);
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

/// Builds the text of a tree's value (see [`RawJson::from_tree`]).
///
/// # Panics
/// When the tree is nested deeper than [`MAX_DEPTH`] levels, which no tree read from
/// text is, or is a bare string holding a lone surrogate; [`RawJson::from_tree`]
/// returns those as errors.
impl From<&Json> for RawJson {
    fn from(value: &Json) -> RawJson {
        RawJson::from_tree(value)
            .expect("a tree from Json::parse (or as shallow) writes as text that reads back")
    }
}

impl From<Json> for RawJson {
    fn from(value: Json) -> RawJson {
        RawJson::from(&value)
    }
}

/// Equal when the values are (number spellings and key order count, whitespace not).
///
/// Compared as texts re-written compactly with every literal kept, not as trees: a
/// tree costs some thirty times its text (a block's `data` of 32 MB, `[0,0,...]`,
/// took over 1 GB to compare with genesis's `[]`), and the genesis check compares a
/// peer's block 0 this way.
impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.text == other.text || canonical_text(&self.text) == canonical_text(&other.text)
    }
}

/// Checked JSON text written compactly with its number literals as they are: equal
/// for two texts exactly when their [`Json`] trees are (strings are unescaped and
/// escaped again one way; numbers, Python's tokens included, keep their spelling).
fn canonical_text(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    Parser::new(text)
        .walk(&mut StreamJson::keeping_literals(
            Dialect::Compact,
            &mut out,
        ))
        .expect("the text was checked when it was read");
    out
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

/// Writes JSON text that was checked when it was read (a [`RawJson`]'s, or a compact
/// chain's copy of one) in `dialect`, as [`Json::write`] writes its value.
///
/// # Panics
/// When `text` is not such JSON: callers pass only text checked before.
pub(crate) fn write_raw_text(text: &str, dialect: Dialect, out: &mut Vec<u8>) {
    Parser::new(text)
        .walk(&mut StreamJson::new(dialect, out))
        .expect("the text was checked when it was read");
}

/// The first `max_chars` characters of checked JSON `text` as [`Dialect::Compact`]
/// writes it, and whether the whole is longer: a preview of a block's `data` that
/// costs a few hundred bytes however large the data is. `compact` says the text is
/// known to be written so already (then it is only sliced); otherwise it is walked
/// until the preview is full, which costs the values written so far (the whole of a
/// long string among them), not the rest of the text.
///
/// # Panics
/// When `text` is not checked JSON: callers pass only a valid chain's data.
pub(crate) fn compact_preview(text: &str, compact: bool, max_chars: usize) -> (String, bool) {
    if compact {
        return clip_chars(text, max_chars);
    }
    let mut out = Vec::new();
    // Four bytes a character at most: once this many are written, the preview is full
    // and the value is longer.
    let cap = max_chars.saturating_mul(4).saturating_add(4);
    let mut capped = Capped {
        writer: StreamJson::new(Dialect::Compact, &mut out),
        cap,
        full: false,
    };
    Parser::new(text)
        .walk(&mut capped)
        .expect("the text was checked when it was read");
    let written = String::from_utf8(out)
        .expect("the writer only emits UTF-8: ASCII syntax plus the value's own strings");
    clip_chars(&written, max_chars)
}

/// `text`'s first `max_chars` characters, and whether it has more.
fn clip_chars(text: &str, max_chars: usize) -> (String, bool) {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => (text[..end].to_owned(), true),
        None => (text.to_owned(), false),
    }
}

/// A compact writer that stops writing once its output holds `cap` bytes.
struct Capped<'o> {
    writer: StreamJson<'o>,
    cap: usize,
    full: bool,
}

impl<'o> Capped<'o> {
    /// Passes one event to the writer unless the output is full already.
    fn forward(&mut self, event: impl FnOnce(&mut StreamJson<'o>)) {
        if !self.full {
            event(&mut self.writer);
            self.full = self.writer.written() >= self.cap;
        }
    }
}

impl<'a> Visit<'a> for Capped<'_> {
    fn scalar(&mut self, scalar: Scalar<'a>) {
        self.forward(|w| w.scalar(scalar));
    }

    fn begin(&mut self, object: bool) {
        self.forward(|w| w.begin(object));
    }

    fn key(&mut self, key: JsonStr<'a>) {
        self.forward(|w| w.key(key));
    }

    fn end(&mut self, object: bool) {
        self.forward(|w| w.end(object));
    }

    fn done(&self) -> bool {
        self.full
    }
}

/// Appends Python's `str(value)` for a value kept as text (rendered when it was read):
/// the part of a block's preimage that `data` gives.
pub fn write_raw_str(value: &RawJson, out: &mut Vec<u8>) {
    out.extend_from_slice(value.python_str().as_bytes());
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

    fn key(&mut self, _: JsonStr<'a>) {}

    fn end(&mut self, _: bool) {}
}

/// Notes whether any object repeats a key (Python keeps the first key's place and the
/// last value, which a streaming renderer cannot do).
#[derive(Default)]
struct DuplicateKeys<'a> {
    open: Vec<Vec<JsonStr<'a>>>,
    found: bool,
}

impl<'a> Visit<'a> for DuplicateKeys<'a> {
    fn scalar(&mut self, _: Scalar<'a>) {}

    fn begin(&mut self, object: bool) {
        if object {
            self.open.push(Vec::new());
        }
    }

    fn key(&mut self, key: JsonStr<'a>) {
        if let Some(keys) = self.open.last_mut() {
            // Objects are small: a scan beats hashing. A huge object is only marked
            // (and then rendered from a plan of its members, `str_with_repeated_keys`).
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

/// Python's `str()` of checked JSON text in which some object repeats a key (Python's
/// dict keeps the key's first place and its last value), in two walks over the text
/// and no tree: the first notes, for each object that repeats a key, its members as
/// the dict holds them (key and where the kept value starts); the second renders,
/// taking those objects' members from the plan.
///
/// Why not the tree: a [`Json`] costs some thirty times its text (a 32 MB `data` of
/// `{"a": 0, "a": [0, 0, ...]}` took over 1 GB to read), and any peer's block can
/// repeat a key. The plan holds only members of objects, a few words each.
fn str_with_repeated_keys(text: &str) -> Result<Vec<u8>, JsonError> {
    let mut plans = HashMap::new();
    plan_objects(&mut Parser::new(text), &mut plans)?;
    let mut out = Vec::with_capacity(text.len());
    render_planned(&mut Parser::new(text), &plans, true, &mut out)?;
    Ok(out)
}

/// An object that repeats a key: its members as a Python dict holds them (each key
/// once, at its first place, with the offset of its last value), and the offset after
/// the object.
struct DictPlan<'a> {
    members: Vec<(JsonStr<'a>, usize)>,
    end: usize,
}

/// Walks the value at `p` (its text was checked), noting in `plans`, by the offset of
/// its `{`, every object that repeats a key.
fn plan_objects<'a>(
    p: &mut Parser<'a>,
    plans: &mut HashMap<usize, DictPlan<'a>>,
) -> Result<(), JsonError> {
    p.skip_ws();
    let at = p.offset();
    match p.peek() {
        Some(b'{') => {
            p.expect(b'{', "'{'")?;
            let mut members = Vec::new();
            if !p.eat_close(b'}') {
                loop {
                    let key = p.key_value()?;
                    p.expect(b':', "':'")?;
                    p.skip_ws();
                    let value_at = p.offset();
                    plan_objects(p, plans)?;
                    members.push((key, value_at));
                    if !p.comma_or(b'}', "',' or '}'")? {
                        break;
                    }
                }
            }
            if let Some(members) = dict_members(&members) {
                let end = p.offset();
                plans.insert(at, DictPlan { members, end });
            }
        }
        Some(b'[') => {
            p.expect(b'[', "'['")?;
            if !p.eat_close(b']') {
                loop {
                    plan_objects(p, plans)?;
                    if !p.comma_or(b']', "',' or ']'")? {
                        break;
                    }
                }
            }
        }
        _ => p.walk(&mut Skip)?,
    }
    Ok(())
}

/// An object's members (key, offset of the value) as a Python dict holds them: each
/// key at its first place with its last value; `None` when no key repeats.
fn dict_members<'a>(members: &[(JsonStr<'a>, usize)]) -> Option<Vec<(JsonStr<'a>, usize)>> {
    let mut dict = Vec::new();
    for_each_python_member(members, |key, &value_at| dict.push((key.clone(), value_at)));
    (dict.len() < members.len()).then_some(dict)
}

/// Renders Python's `str()` (`top`) or `repr()` of the value at `p`, taking the
/// members of the objects in `plans` from their plan.
fn render_planned<'a>(
    p: &mut Parser<'a>,
    plans: &HashMap<usize, DictPlan<'a>>,
    top: bool,
    out: &mut Vec<u8>,
) -> Result<(), JsonError> {
    p.skip_ws();
    match p.peek() {
        Some(b'{') => {
            out.push(b'{');
            if let Some(plan) = plans.get(&p.offset()) {
                for (i, (key, value_at)) in plan.members.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    write_json_str_repr(key, out);
                    out.extend_from_slice(b": ");
                    render_planned(&mut Parser::at(p.source(), *value_at), plans, false, out)?;
                }
                p.skip_to(plan.end);
            } else {
                p.expect(b'{', "'{'")?;
                if !p.eat_close(b'}') {
                    loop {
                        write_json_str_repr(&p.key_value()?, out);
                        out.extend_from_slice(b": ");
                        p.expect(b':', "':'")?;
                        render_planned(p, plans, false, out)?;
                        if !p.comma_or(b'}', "',' or '}'")? {
                            break;
                        }
                        out.extend_from_slice(b", ");
                    }
                }
            }
            out.push(b'}');
        }
        Some(b'[') => {
            p.expect(b'[', "'['")?;
            out.push(b'[');
            if !p.eat_close(b']') {
                loop {
                    render_planned(p, plans, false, out)?;
                    if !p.comma_or(b']', "',' or ']'")? {
                        break;
                    }
                    out.extend_from_slice(b", ");
                }
            }
            out.push(b']');
        }
        _ => p.walk(&mut ScalarStr { top, out })?,
    }
    Ok(())
}

/// Renders the one leaf a walk over a scalar reports.
struct ScalarStr<'o> {
    top: bool,
    out: &'o mut Vec<u8>,
}

impl<'a> Visit<'a> for ScalarStr<'_> {
    fn scalar(&mut self, scalar: Scalar<'a>) {
        write_scalar_str(&scalar, self.top, self.out);
    }

    fn begin(&mut self, _: bool) {}

    fn key(&mut self, _: JsonStr<'a>) {}

    fn end(&mut self, _: bool) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::pyrepr::write_str;

    /// A preview is the first characters of the value as compact JSON, cut at a
    /// character (not a byte), and says whether more follows; walked (text as it
    /// arrived, spaces and all) or sliced (text known to be compact), it is the same.
    #[test]
    fn a_preview_is_the_start_of_the_compact_text() {
        let long = format!("[\"{}\", 1]", "é".repeat(300));
        let texts = [
            "\"\"",
            "2.50",
            "{\"a\": 1,   \"b\": [1, 2, {\"c\": null}]}",
            "[NaN, Infinity, -Infinity]",
            long.as_str(),
            "\"\\u00e9\\ud83d\\ude00 tab\\t\"",
        ];
        for text in texts {
            let mut compact = Vec::new();
            write_raw_text(text, Dialect::Compact, &mut compact);
            let compact = String::from_utf8(compact).expect("UTF-8");
            for max in [0, 1, 3, 10, 160, 1000] {
                let want: String = compact.chars().take(max).collect();
                let more = compact.chars().count() > max;
                assert_eq!(
                    compact_preview(text, false, max),
                    (want.clone(), more),
                    "{text} at {max}"
                );
                assert_eq!(
                    compact_preview(&compact, true, max),
                    (want, more),
                    "{compact} at {max}"
                );
            }
        }
        // A long value stops being written once the preview is full: the output holds
        // the cap and one item more at most, not the value's 40,000 bytes; and the walk
        // stops there too (the text after the cut is not JSON, and is never read).
        let many = format!("[{}1]", "1, ".repeat(10_000));
        let cut = format!("{}{{{{{{ not JSON", &many[..1_000]);
        let (preview, more) = compact_preview(&cut, false, 160);
        assert!(more && preview.len() == 160, "{preview}");
        let mut out = Vec::new();
        let mut capped = Capped {
            writer: StreamJson::new(Dialect::Compact, &mut out),
            cap: 100,
            full: false,
        };
        Parser::new(&many).walk(&mut capped).expect("valid JSON");
        assert!((100..=102).contains(&out.len()), "{}", out.len());
    }

    #[test]
    fn python_tokens_are_noted_when_read() {
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

    /// Objects that repeat keys, at any depth and among others that do not, render as
    /// the tree renders them (Python's dict: first place, last value).
    #[test]
    fn repeated_keys_render_as_the_tree_does() {
        let many: Vec<String> = (0..100).map(|i| format!("\"k{}\": {i}", i % 70)).collect();
        let distinct: Vec<String> = (0..100).map(|i| format!("\"k{i}\": [{i}]")).collect();
        for text in [
            r#"{"a": 1, "b": 2, "a": 3}"#.to_owned(),
            r#"{"a": 1, "a": {"b": 1, "c": [{"d": 1, "d": "x"}], "b": 2}, "e": null}"#.to_owned(),
            r#"[{"x": 1, "x": 2}, {"y": {"z": 1, "\u007a": [1.50, NaN]}}, {"y": 1}]"#.to_owned(),
            r#" { "a" : { "a" : 1 } , "a" : { "b" : 2 , "b" : -0 } } "#.to_owned(),
            format!("{{{}}}", many.join(", ")),
            format!("[{{{}}}, {{\"q\": 1, \"q\": 2}}]", distinct.join(", ")),
        ] {
            let raw = RawJson::parse(&text).expect("JSON");
            let mut tree = Vec::new();
            write_str(&Json::parse(&text).expect("JSON"), &mut tree).expect("no bare surrogate");
            assert_eq!(raw.python_str().as_bytes(), tree.as_slice(), "{text}");
        }
    }

    /// Values compare as their trees do: spellings count, whitespace and escapes not.
    #[test]
    fn equality_is_the_trees() {
        let same = [
            ("[1, {\"a\": \"x\"}]", "[1,{\"a\":\"\\u0078\"}]"),
            ("[NaN, Infinity]", " [ NaN,Infinity ] "),
            ("{\"a\": 1, \"a\": 2}", "{\"a\":1,\"a\":2}"),
        ];
        let different = [
            ("[1.5]", "[1.50]"),
            ("[NaN]", "[null]"),
            ("[Infinity]", "[1e999]"),
            ("{\"a\": 1, \"a\": 2}", "{\"a\": 2}"),
            ("[\"a\"]", "[\"b\"]"),
            ("[]", "{}"),
        ];
        for (a, b, want) in same
            .iter()
            .map(|(a, b)| (a, b, true))
            .chain(different.iter().map(|(a, b)| (a, b, false)))
        {
            let (ra, rb) = (
                RawJson::parse(a).expect("JSON"),
                RawJson::parse(b).expect("JSON"),
            );
            let trees = Json::parse(a).ok() == Json::parse(b).ok();
            assert_eq!(trees, want, "{a} / {b}");
            assert_eq!(ra == rb, want, "{a} / {b}");
        }
    }

    #[test]
    fn a_tree_too_deep_to_read_back_is_an_error() {
        let mut deep = Json::Null;
        for _ in 0..=crate::chain::json::MAX_DEPTH {
            deep = Json::Array(vec![deep]);
        }
        let err = RawJson::from_tree(&deep).err().map(|e| e.kind);
        assert_eq!(err, Some(crate::chain::json::JsonErrorKind::TooDeep));
    }
}
