//! minichain's fuzz targets: [`targets`] holds their bodies, shared with the main
//! crate's `tests/fuzz_corpus.rs`, which replays the committed corpus through them.

pub mod targets;
