//! The body of `POST /api/mineblock` read as Python nodes read it, keeping only its
//! `data`, as checked text ([`RawJson`]): no tree of the request is built, since a
//! tree of `[0,0,...]` costs some 20 times its text and queued requests keep their
//! data until mined.

use crate::chain::json::{JsonError, JsonErrorKind, Parser, Skip};
use crate::chain::{Json, MinableError, RawJson, check_minable_raw};

/// Why a mining request cannot be mined, in words for the client (the API answers
/// 422 with them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadMiningRequest(pub String);

/// The `data` of a mining request, refused when a Python node could not take the block.
/// The data is kept as its checked text ([`RawJson`]): no tree of the request is built
/// (a tree of `[0,0,...]` costs some 20 times its text).
///
/// # Errors
/// [`BadMiningRequest`] saying why.
pub fn mining_data(body: &[u8]) -> Result<RawJson, BadMiningRequest> {
    let text = std::str::from_utf8(body)
        .map_err(|e| BadMiningRequest(format!("body is not UTF-8: {e}")))?;
    let not_json =
        |e: JsonError| BadMiningRequest(format!("body is not JSON a Python node can read: {e}"));
    let mut p = Parser::new(text);
    p.skip_ws();
    if p.peek() != Some(b'{') {
        // Say what it is instead: checked whole first, so that broken JSON is named
        // as such; only a scalar becomes a tree (no larger than its text).
        p.walk(&mut Skip)
            .and_then(|()| p.finish())
            .map_err(not_json)?;
        let found = if p.source().trim_start().starts_with('[') {
            "an array".to_owned()
        } else {
            crate::chain::json::describe(&Json::parse(text).map_err(not_json)?)
        };
        return Err(BadMiningRequest(format!(
            "body must be a JSON object like {{\"data\": ...}}, found {found}"
        )));
    }
    let data = read_data_member(&mut p).map_err(|e| match e.kind {
        // A bare string `data` holding a lone surrogate: read, but not minable.
        JsonErrorKind::LoneSurrogate(unit) => {
            BadMiningRequest(MinableError::LoneSurrogate(unit).to_string())
        }
        _ => not_json(e),
    })?;
    let data = match data {
        Some(data) => data,
        None => RawJson::parse("\"\"").expect("an empty string is JSON"),
    };
    check_minable_raw(&data).map_err(|e| BadMiningRequest(e.to_string()))?;
    Ok(data)
}

/// Reads a request object at `p` (which is at its `{`) to its end, keeping the text of
/// its `data` member (the last one, as a Python dict keeps) and walking past the rest.
fn read_data_member(p: &mut Parser<'_>) -> Result<Option<RawJson>, JsonError> {
    p.enter()?;
    p.expect(b'{', "'{'")?;
    let mut data = None;
    if !p.eat_close(b'}') {
        loop {
            // Other members' names may hold lone surrogates: Python reads and ignores them.
            let key = p.key_value()?;
            p.expect(b':', "':'")?;
            if key == "data" {
                data = Some(RawJson::read(p)?);
            } else {
                p.walk(&mut Skip)?;
            }
            if !p.comma_or(b'}', "',' or '}'")? {
                break;
            }
        }
    }
    p.leave();
    p.finish()?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::minable::MAX_DATA_DEPTH;

    fn unprocessable(body: &str) -> String {
        match mining_data(body.as_bytes()) {
            Err(BadMiningRequest(why)) => why,
            other => panic!("expected 422 for {body}, got {other:?}"),
        }
    }

    /// Every kind of data a Python node cannot take is refused with its reason.
    #[test]
    fn refuses_what_python_cannot_take() {
        assert!(unprocessable(r#"{"data": NaN}"#).contains("NaN"));
        assert!(unprocessable(r#"{"data": [1e999]}"#).contains("infinite"));
        assert!(unprocessable(r#"{"data": -Infinity}"#).contains("infinite"));
        // Lone surrogates: readable inside data, but never mined (a Python node's HTTP
        // layer cannot write them), bare or nested, as values or keys.
        for body in [
            r#"{"data": "\ud800"}"#,
            r#"{"data": ["\udc00"]}"#,
            r#"{"data": {"k": {"\udbff": 1}}}"#,
            r#"{"x": 1, "data": ["ok", "a\ud83d"]}"#,
        ] {
            let why = unprocessable(body);
            assert!(
                why.contains("lone surrogate") && why.contains("500"),
                "{body}: {why}"
            );
        }
        assert!(mining_data(br#"{"\ud800": 1, "data": "fine"}"#).is_ok());
        assert!(unprocessable(&format!(r#"{{"data": {}}}"#, "9".repeat(4301))).contains("4300"));
        assert!(unprocessable("[1]").contains("object"));
        assert!(unprocessable("{").contains("JSON"));
        let deep = format!(
            r#"{{"data": {}{}}}"#,
            "[".repeat(MAX_DATA_DEPTH + 1),
            "]".repeat(MAX_DATA_DEPTH + 1)
        );
        assert!(unprocessable(&deep).contains("nested"));
    }

    /// A missing `data` mines `""`; anything else is kept as it arrived.
    #[test]
    fn data_defaults_to_empty_string() {
        assert_eq!(
            mining_data(b"{}").ok().map(|d| d.to_json()),
            Some(Json::String("".into()))
        );
        assert_eq!(
            mining_data(br#"{"data": 1.50}"#)
                .ok()
                .map(|d| d.to_compact_string()),
            Some("1.50".into())
        );
        let deep = format!(
            r#"{{"data": {}{}}}"#,
            "[".repeat(MAX_DATA_DEPTH),
            "]".repeat(MAX_DATA_DEPTH)
        );
        assert!(mining_data(deep.as_bytes()).is_ok());
        // The last of repeated keys wins, as in a Python dict; other members are
        // checked but not kept.
        assert_eq!(
            mining_data(br#"{"data": 1, "x": [2], "data": "two"}"#)
                .ok()
                .map(|d| d.as_str().to_owned()),
            Some(r#""two""#.into())
        );
        assert!(unprocessable(r#"{"data": 1, "x": [NaN, }"#).contains("JSON"));
    }

    /// A body that is not an object is named, without echoing it whole.
    #[test]
    fn names_what_is_not_an_object() {
        assert!(unprocessable("[1, 2]").contains("found an array"));
        assert!(unprocessable(r#" "text" "#).contains(r#"found the string "text""#));
        assert!(unprocessable("12").contains("found the number 12"));
        assert!(unprocessable("[1, ").contains("not JSON"));
    }
}
