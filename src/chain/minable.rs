//! Whether data may be mined into a block: the one rule that both the node's
//! `POST /api/mineblock` and `minichain mine --data` apply, so the two cannot drift.
//! [`check_minable`] checks a tree; [`check_minable_raw`] applies the same rules to
//! data kept as text ([`RawJson`]), so that the node need not build a tree per request.

use super::data::RawJson;
use super::json::{Json, JsonStr, MAX_DEPTH, Parser, Scalar, Visit};

/// Deepest `data` accepted: a block's data sits three levels down in
/// `{"chain": [{"data": ...}]}`, and every node (this one too) refuses JSON nested
/// deeper than [`MAX_DEPTH`], so deeper data would make our own chain unreadable.
pub const MAX_DATA_DEPTH: usize = MAX_DEPTH - 3;

/// Why data may not be mined. The messages name the value `data`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinableError {
    /// A number Python reads as `nan`, `inf` or `-inf`.
    #[error(
        "data holds NaN or an infinite number (such as 1e999): Python nodes accept such a block and then answer 500 to every request, so minichain does not mine it"
    )]
    NonFinite,
    /// A string (value or key) holding a lone surrogate such as `\ud800`.
    #[error(
        "data holds a lone surrogate (\\u{0:04x}): a Python node cannot hash it in a bare string, and inside an array or object it accepts the block but then answers 500 to GET /api/blocks (its HTTP layer cannot encode the surrogate as UTF-8), so minichain does not mine it"
    )]
    LoneSurrogate(u16),
    /// Nested deeper than [`MAX_DATA_DEPTH`].
    #[error(
        "data is nested {depth} levels deep; at most {MAX_DATA_DEPTH} keep the chain that holds it within the {MAX_DEPTH} levels every node reads"
    )]
    TooDeep {
        /// How deep the data is nested.
        depth: usize,
    },
}

/// Checks that `data` may be mined: that a Python node could take a block holding it,
/// and that the chain holding it stays readable.
///
/// The rules on the text itself (no integer past
/// [`MAX_INT_DIGITS`](super::json::MAX_INT_DIGITS) digits, well-formed JSON) were
/// applied when the value was read: a [`Json`] cannot break them. What a value can
/// still break is checked here: no NaN or infinity (Python nodes mine such a block and
/// then answer 500 to every request), no lone surrogate in any string or key (valid
/// in a chain inside an array or object, but the original's HTTP layer, FastAPI's
/// `JSONResponse`, writes `json.dumps(..., ensure_ascii=False).encode("utf-8")`, which
/// fails on it: every Python node that adopts the block answers 500 to
/// `GET /api/blocks`), and at most [`MAX_DATA_DEPTH`] levels of nesting.
///
/// # Errors
/// [`MinableError`] saying which rule the data breaks.
pub fn check_minable(data: &Json) -> Result<(), MinableError> {
    if data.has_nonfinite() {
        return Err(MinableError::NonFinite);
    }
    if let Some(unit) = lone_surrogate(data) {
        return Err(MinableError::LoneSurrogate(unit));
    }
    let depth = depth(data);
    if depth > MAX_DATA_DEPTH {
        return Err(MinableError::TooDeep { depth });
    }
    Ok(())
}

/// [`check_minable`] for data kept as text: the same rules and words, without a tree.
/// [`RawJson`] noted its non-finite numbers when it read the text; the depth comes from
/// one walk that allocates nothing but the strings it must unescape.
///
/// # Errors
/// [`MinableError`] saying which rule the data breaks.
pub fn check_minable_raw(data: &RawJson) -> Result<(), MinableError> {
    if data.has_nonfinite() {
        return Err(MinableError::NonFinite);
    }
    let mut depth = Depth::default();
    Parser::new(data.as_str())
        .walk(&mut depth)
        .expect("a RawJson's text was checked when it was built");
    if let Some(unit) = depth.surrogate {
        return Err(MinableError::LoneSurrogate(unit));
    }
    if depth.deepest > MAX_DATA_DEPTH {
        return Err(MinableError::TooDeep {
            depth: depth.deepest,
        });
    }
    Ok(())
}

/// Tracks the nesting depth of a walked value (what [`depth`] computes on a tree), and
/// its first lone surrogate (what [`lone_surrogate`] finds in a tree).
#[derive(Debug, Default)]
struct Depth {
    open: usize,
    deepest: usize,
    surrogate: Option<u16>,
}

impl Depth {
    fn note(&mut self, s: &JsonStr<'_>) {
        if self.surrogate.is_none() {
            self.surrogate = s.lone_surrogate();
        }
    }
}

impl<'a> Visit<'a> for Depth {
    fn scalar(&mut self, scalar: Scalar<'a>) {
        if let Scalar::String(s) = &scalar {
            self.note(s);
        }
    }

    fn begin(&mut self, _: bool) {
        self.open += 1;
        self.deepest = self.deepest.max(self.open);
    }

    fn key(&mut self, key: JsonStr<'a>) {
        self.note(&key);
    }

    fn end(&mut self, _: bool) {
        self.open -= 1;
    }
}

/// The first lone surrogate in a string or key of a tree.
fn lone_surrogate(value: &Json) -> Option<u16> {
    match value {
        Json::String(s) => s.lone_surrogate(),
        Json::Array(items) => items.iter().find_map(lone_surrogate),
        Json::Object(members) => members
            .iter()
            .find_map(|(k, v)| k.lone_surrogate().or_else(|| lone_surrogate(v))),
        _ => None,
    }
}

/// Nesting depth of arrays and objects (a scalar is 0). Recursion is bounded for every
/// value read from text: the parser refuses anything deeper than [`MAX_DEPTH`].
fn depth(value: &Json) -> usize {
    match value {
        Json::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Json::Object(members) => 1 + members.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Json {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        Json::parse(&text).expect("within MAX_DEPTH")
    }

    #[test]
    fn refuses_nonfinite_numbers_anywhere() {
        for text in ["NaN", "[1e999]", r#"{"a": [-Infinity]}"#] {
            let data = Json::parse(text).expect("Python's dialect");
            assert_eq!(check_minable(&data), Err(MinableError::NonFinite), "{text}");
        }
        let fine = Json::parse(r#"{"NaN": "Infinity", "x": 1e308}"#).expect("JSON");
        assert_eq!(check_minable(&fine), Ok(()));
    }

    #[test]
    fn refuses_lone_surrogates_anywhere() {
        for (text, unit) in [
            (r#""\ud800""#, 0xd800),
            (r#"["\udc00"]"#, 0xdc00),
            (r#"{"a": [1, {"b\udbff": 2}]}"#, 0xdbff),
            (r#"["\ud83d\ude00", "\ud83d"]"#, 0xd83d),
        ] {
            let data = Json::parse(text).expect("Python's dialect");
            let e = check_minable(&data);
            assert_eq!(e, Err(MinableError::LoneSurrogate(unit)), "{text}");
            let why = e.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                why.contains(&format!("\\u{unit:04x}")) && why.contains("500"),
                "{why}"
            );
        }
        let pair = Json::parse(r#"["\ud83d\ude00"]"#).expect("JSON");
        assert_eq!(check_minable(&pair), Ok(()));
    }

    #[test]
    fn refuses_data_deeper_than_the_chain_can_hold() {
        assert_eq!(check_minable(&nested(MAX_DATA_DEPTH)), Ok(()));
        assert_eq!(
            check_minable(&nested(MAX_DATA_DEPTH + 1)),
            Err(MinableError::TooDeep {
                depth: MAX_DATA_DEPTH + 1
            })
        );
        let mixed = Json::parse(r#"{"a": [1, {"b": []}], "c": 2}"#).expect("JSON");
        assert_eq!(depth(&mixed), 4);
        assert_eq!(check_minable(&Json::String("".into())), Ok(()));
    }

    /// The text form gives the same verdict, and the same words, as the tree form.
    #[test]
    fn raw_and_tree_checks_agree() {
        let deep = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
        for text in [
            "NaN".to_owned(),
            "[1e999]".into(),
            r#"{"a": [-Infinity]}"#.into(),
            r#"{"NaN": "Infinity", "x": 1e308}"#.into(),
            r#"{"a": [1, {"b": []}], "c": 2}"#.into(),
            r#"["ok", {"k": "a\ud800"}]"#.into(),
            r#"{"x": {"\udc00": 1}}"#.into(),
            r#""""#.into(),
            "0".into(),
            deep(MAX_DATA_DEPTH),
            deep(MAX_DATA_DEPTH + 1),
            format!("{{\"k\": {}}}", deep(MAX_DATA_DEPTH)),
        ] {
            let tree = Json::parse(&text).expect("JSON");
            let raw = RawJson::parse(&text).expect("JSON");
            assert_eq!(check_minable_raw(&raw), check_minable(&tree), "{text}");
        }
    }
}
