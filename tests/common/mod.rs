//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use minichain::chain::Json;

/// `tests/vectors`: the original's own vectors, copied into the repository byte for
/// byte (see its README). They are the ground truth.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Reads and parses a JSON file of the vectors (which hold integers past 2^64).
pub fn read_vector_json(name: &str) -> Json {
    let path = vectors_dir().join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Json::parse(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The items of a JSON array.
pub fn items(v: &Json) -> &[Json] {
    match v {
        Json::Array(items) => items,
        other => panic!("expected an array, found {other}"),
    }
}

/// A string field.
pub fn str_field<'a>(v: &'a Json, key: &str) -> &'a str {
    v.get(key)
        .and_then(Json::as_str)
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

/// An integer field's literal.
pub fn int_field(v: &Json, key: &str) -> String {
    match v.get(key) {
        Some(Json::Number(n)) if n.is_integer() => n.as_str().to_owned(),
        other => panic!("no integer {key:?}: {other:?}"),
    }
}

pub mod node;
pub mod process;
pub mod raw_http;
pub mod redis;
