//! Schemas of the bodies the node writes by hand (the chain, a block, errors) or reads
//! as raw bytes (a mining request), for the OpenAPI description: these types are never
//! built, they only describe. They sit apart from [`openapi`](super::openapi) so that
//! the handlers in [`http`](super::http) can name them without an import circle.

use serde::Serialize;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// A block as the API writes it (compact JSON, the original's field order).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlockDoc {
    /// Height; genesis is 0.
    pub block_no: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The previous block's hash (genesis: `0x0000`).
    pub prev_hash: String,
    /// The payload: any JSON value, kept as it arrived.
    pub data: serde_json::Value,
    /// The block's hash, 64 hex digits.
    pub hash: String,
    /// The proof-of-work nonce: a non-negative integer of any size.
    #[schema(schema_with = big_integer)]
    pub nonce: u64,
    /// Leading zero bits the hash must have.
    pub difficulty: u32,
}

fn big_integer() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .build()
}

/// A chain: `GET /api/blocks`, `POST /api/mineblock`'s answer; a page carries
/// `from`, `limit` and `total` too.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChainDoc {
    /// The blocks, genesis first (a page: from `from`).
    pub chain: Vec<BlockDoc>,
    /// A page's first block.
    pub from: Option<u64>,
    /// A page's requested size.
    pub limit: Option<u64>,
    /// A page's chain length.
    pub total: Option<u64>,
}

/// A block's header in `GET /api/headers`: its fields but `data`, and a preview of
/// that.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeaderDoc {
    /// Height; genesis is 0.
    pub block_no: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The previous block's hash (genesis: `0x0000`).
    pub prev_hash: String,
    /// The block's hash, 64 hex digits.
    pub hash: String,
    /// The proof-of-work nonce: a non-negative integer of any size.
    #[schema(schema_with = big_integer)]
    pub nonce: u64,
    /// Leading zero bits the hash must have.
    pub difficulty: u32,
    /// The first 160 characters of `data` as `GET /api/blocks/{n}` writes it.
    pub data_preview: String,
    /// Whether `data` is longer than its preview.
    pub data_clipped: bool,
}

/// `GET /api/headers`: a page of headers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeadersDoc {
    /// The page's first block.
    pub from: u64,
    /// The page's requested size.
    pub limit: u64,
    /// The chain's length.
    pub total: u64,
    /// The headers, from `from` on.
    pub headers: Vec<HeaderDoc>,
}

/// Every error: `{"error": "..."}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDoc {
    /// What went wrong, in words.
    pub error: String,
}

/// `POST /api/mineblock`'s body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MineRequestDoc {
    /// The new block's data: any JSON (missing: `""`).
    pub data: Option<serde_json::Value>,
}

/// `GET /healthz`'s body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthDoc {
    /// `ok`.
    pub status: String,
}
