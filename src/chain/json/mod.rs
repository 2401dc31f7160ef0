//! JSON as the original Python nodes read and write it.
//!
//! Why not `serde_json::Value`: a block's hash is computed from Python's `str()` of the
//! value `json.loads` produced, and Python's JSON differs from strict JSON in ways that
//! change hashes or crash Python peers:
//! - it reads and writes the tokens `NaN`, `Infinity` and `-Infinity`;
//! - an object with a repeated key keeps the first key's place and the last value;
//! - integers are unbounded but refused past 4300 digits;
//! - a `\ud800` escape without its pair yields a lone surrogate, which Python keeps in
//!   the string: `str()` escapes it inside an array or object (so such data hashes),
//!   but a bare string holding one cannot be encoded as UTF-8, so neither hashed nor
//!   written by the original's HTTP layer (see [`Wtf8`]).
//!
//! [`Json`] keeps a value exactly as it arrived (key order, repeated keys and the
//! spelling of every number), so that re-serializing it and hashing it agree with a
//! Python node. [`Json::write`] always writes valid JSON (see [`Dialect`]).
//!
//! The parts, each depending only on those listed before it:
//! - `wtf8`: [`JsonStr`], a string's value, and [`Wtf8`] for one with lone surrogates;
//! - `grammar`: the [`Parser`] and its [`Visit`] walk, the limits, [`JsonError`];
//! - `writer`: the [`Dialect`]s, string escapes and the streaming writer;
//! - `tree`: [`Json`] and [`Number`], built and written;
//! - `block_fields`: readers of a block's integer fields, and [`describe`].

mod block_fields;
mod grammar;
mod tree;
mod writer;
mod wtf8;

pub use block_fields::{FieldError, describe, describe_next, describe_text};
pub use grammar::{
    JsonError, JsonErrorKind, MAX_DEPTH, MAX_INT_DIGITS, Parser, Scalar, Skip, Visit,
};
pub use tree::{Json, Number, NumberValue};
pub use writer::{Dialect, write_json_str, write_string};
pub(crate) use writer::{HEX_DIGITS, Nesting, StreamJson, write_separator};
pub use wtf8::{JsonStr, Wtf8, Wtf8Piece};
