//! Whether data may be mined into a block: the one rule that both the node's
//! `POST /api/mineblock` and `minichain mine --data` apply, so the two cannot drift.

use super::json::{Json, MAX_DEPTH};

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
/// The rules on the text itself (no lone surrogate such as `\ud800`, no integer past
/// [`MAX_INT_DIGITS`](super::json::MAX_INT_DIGITS) digits, well-formed JSON) were
/// applied when the value was read: a [`Json`] cannot break them. What a value can
/// still break is checked here: no NaN or infinity (Python nodes mine such a block and
/// then answer 500 to every request), and at most [`MAX_DATA_DEPTH`] levels of nesting.
///
/// # Errors
/// [`MinableError`] saying which rule the data breaks.
pub fn check_minable(data: &Json) -> Result<(), MinableError> {
    if data.has_nonfinite() {
        return Err(MinableError::NonFinite);
    }
    let depth = depth(data);
    if depth > MAX_DATA_DEPTH {
        return Err(MinableError::TooDeep { depth });
    }
    Ok(())
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
}
