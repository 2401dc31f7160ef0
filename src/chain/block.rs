//! The block: seven fields in the original's key order, the genesis block, and the
//! readers and writers of blocks and chains as JSON.

use std::fmt;

use super::data::RawJson;
use super::json::{
    Dialect, FieldError, Json, JsonError, JsonErrorKind, Parser, describe_next, write_separator,
    write_string,
};
use super::pow::Difficulty;
use crate::clip::clip;

/// Most decimal digits a nonce may have. The original accepts any integer; minichain
/// reads nonces below 10^40 (2^128 included), which is wide enough for the miner's
/// one-compression-per-attempt layout (at most about 30 digits).
pub const MAX_NONCE_DIGITS: usize = 40;

/// A nonce: a non-negative integer in canonical decimal (no leading zeros).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nonce(Box<str>);

/// Why a nonce is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// Not canonical decimal digits.
    #[error("nonce must be a non-negative integer, found {0:?}")]
    NotAnInteger(String),
    /// Too many digits.
    #[error("nonce has {0} digits; minichain accepts at most {MAX_NONCE_DIGITS}")]
    TooLong(usize),
}

impl Nonce {
    /// The nonce from canonical decimal digits.
    ///
    /// # Errors
    /// [`NonceError`] for anything but canonical digits, or more than 40 of them.
    pub fn from_digits(digits: &str) -> Result<Nonce, NonceError> {
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !canonical {
            return Err(NonceError::NotAnInteger(crate::clip::clipped(digits)));
        }
        if digits.len() > MAX_NONCE_DIGITS {
            return Err(NonceError::TooLong(digits.len()));
        }
        Ok(Nonce(digits.into()))
    }

    /// The decimal digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<u128> for Nonce {
    fn from(n: u128) -> Nonce {
        Nonce(n.to_string().into())
    }
}

impl fmt::Display for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One block, as the original's nodes exchange it.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Height; genesis is 0.
    pub block_no: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    /// The previous block's `hash` (genesis: `"0x0000"`).
    pub prev_hash: String,
    /// The payload, kept as the JSON text it arrived as.
    pub data: RawJson,
    /// The hash the block claims (64 lowercase hex digits when honest).
    pub hash: String,
    /// The proof-of-work nonce.
    pub nonce: Nonce,
    /// Leading zero bits the hash must have.
    pub difficulty: Difficulty,
}

/// The genesis block's hash: a constant, not the hash of its fields.
pub const GENESIS_HASH: &str = "1dd327f2d4772295a8ec7a96e0338fef7291c1652976ccc498dbd9849b01f5e9";

/// The hard-coded genesis block every chain starts with.
pub fn genesis() -> Block {
    Block {
        block_no: 0,
        timestamp: 1000,
        prev_hash: "0x0000".into(),
        data: RawJson::from(Json::Array(Vec::new())),
        hash: GENESIS_HASH.into(),
        nonce: Nonce("0".into()),
        difficulty: Difficulty::new(4),
    }
}

/// The seven keys in the original's order.
pub const FIELDS: [&str; 7] = [
    "block_no",
    "timestamp",
    "prev_hash",
    "data",
    "hash",
    "nonce",
    "difficulty",
];

impl Block {
    /// Appends the block as a JSON object with the keys in the original's order.
    pub fn write(&self, dialect: Dialect, out: &mut Vec<u8>) {
        write_block_fields(
            dialect,
            out,
            self.block_no,
            self.timestamp,
            &self.prev_hash,
            |out| self.data.write(dialect, out),
            &self.hash,
            self.nonce.as_str(),
            self.difficulty,
        );
    }

    /// The block as compact JSON (the original's HTTP form).
    pub fn to_json_string(&self) -> String {
        let mut out = Vec::new();
        self.write(Dialect::Compact, &mut out);
        String::from_utf8(out)
            .expect("the block writer only emits UTF-8: ASCII syntax, digits and strs")
    }

    /// Parses one block object from a whole text.
    ///
    /// # Errors
    /// [`JsonError`] with the position, for malformed JSON or a block of the wrong shape.
    pub fn parse(text: &str) -> Result<Block, JsonError> {
        let mut p = Parser::new(text);
        let block = read_block(&mut p, None, true)?;
        p.finish()?;
        Ok(block)
    }
}

/// Appends a block's fields as a JSON object with the keys in the original's order:
/// [`Block::write`] and the compact chain's views write through this one function, so
/// both forms of a block serialize alike.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_block_fields(
    dialect: Dialect,
    out: &mut Vec<u8>,
    block_no: u64,
    timestamp: u64,
    prev_hash: &str,
    data: impl FnOnce(&mut Vec<u8>),
    hash: &str,
    nonce: &str,
    difficulty: Difficulty,
) {
    let mut buf = itoa_buf();
    let mut data = Some(data);
    out.push(b'{');
    for (i, key) in FIELDS.iter().enumerate() {
        if i > 0 {
            write_separator(b',', dialect, out);
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.push(b'"');
        write_separator(b':', dialect, out);
        match i {
            0 => out.extend_from_slice(fmt_u64(&mut buf, block_no)),
            1 => out.extend_from_slice(fmt_u64(&mut buf, timestamp)),
            2 => write_string(prev_hash, dialect, out),
            3 => {
                if let Some(write_data) = data.take() {
                    write_data(out);
                }
            }
            4 => write_string(hash, dialect, out),
            5 => out.extend_from_slice(nonce.as_bytes()),
            _ => out.extend_from_slice(fmt_u64(&mut buf, u64::from(difficulty.bits()))),
        }
    }
    out.push(b'}');
}

/// Appends a chain as a JSON array of blocks.
pub fn write_chain(blocks: &[Block], dialect: Dialect, out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 {
            write_separator(b',', dialect, out);
        }
        block.write(dialect, out);
    }
    out.push(b']');
}

/// Parses a chain: a JSON array of blocks, or `{"chain": [...]}` as `GET /api/blocks`
/// answers.
///
/// # Errors
/// [`JsonError`] with the position of the first problem.
pub fn parse_chain(text: &str) -> Result<Vec<Block>, JsonError> {
    let (mut p, wrapped) = open_chain(text)?;
    let blocks = match parse_blocks_parallel(text, p.offset()) {
        Some((blocks, end)) => {
            p = Parser::at(text, end);
            blocks
        }
        // Small input, or a guess that did not hold: the serial parser also gives the
        // exact error position.
        None => read_block_items(&mut p, true)?,
    };
    if wrapped {
        p.expect(b'}', "'}' (only the key \"chain\" is allowed)")?;
    }
    p.finish()?;
    Ok(blocks)
}

/// Reads a chain's opening: `[`, or `{"chain": [` as `GET /api/blocks` answers. The
/// parser is left after the `[`; the flag says whether a closing `}` is owed.
fn open_chain(text: &str) -> Result<(Parser<'_>, bool), JsonError> {
    let mut p = Parser::new(text);
    p.skip_ws();
    let wrapped = p.peek() == Some(b'{');
    if wrapped {
        p.expect(b'{', "'{'")?;
        let at = p.offset();
        let key = p.key()?;
        if key != "chain" {
            return Err(p.error_at(
                at,
                shape(format!(
                    "expected the key \"chain\", found {:?}",
                    clip(&key)
                )),
            ));
        }
        p.expect(b':', "':'")?;
    }
    p.expect(b'[', "'[' (a chain is an array of blocks)")?;
    Ok((p, wrapped))
}

/// Reads a chain's blocks a batch at a time from its whole text (a JSON array of
/// blocks, or `{"chain": [...]}`), so a long chain can be validated and stored as it
/// is read instead of held as blocks all at once (`minichain import`).
pub struct ChainReader<'t> {
    p: Parser<'t>,
    wrapped: bool,
    read: usize,
    done: bool,
}

impl fmt::Debug for ChainReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainReader")
            .field("offset", &self.p.offset())
            .field("read", &self.read)
            .field("done", &self.done)
            .finish()
    }
}

impl<'t> ChainReader<'t> {
    /// A reader positioned after the opening `[` of `text`'s chain.
    ///
    /// # Errors
    /// [`JsonError`] when `text` does not open a chain.
    pub fn new(text: &'t str) -> Result<ChainReader<'t>, JsonError> {
        let (mut p, wrapped) = open_chain(text)?;
        let done = p.eat_close(b']');
        let mut reader = ChainReader {
            p,
            wrapped,
            read: 0,
            done,
        };
        if done {
            reader.close()?;
        }
        Ok(reader)
    }

    /// The next blocks, at most `max`; empty once the chain (and the text) ended.
    ///
    /// # Errors
    /// [`JsonError`] with the position of the first problem (blocks are numbered in
    /// the whole chain).
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<Block>, JsonError> {
        let mut blocks = Vec::with_capacity(max.min(1 << 16));
        while !self.done && blocks.len() < max {
            blocks.push(read_block(&mut self.p, Some(self.read), true)?);
            self.read += 1;
            if !self.p.comma_or(b']', "',' or ']'")? {
                self.done = true;
                self.close()?;
            }
        }
        Ok(blocks)
    }

    /// How far into the text the reader is, in bytes.
    pub fn offset(&self) -> usize {
        self.p.offset()
    }

    fn close(&mut self) -> Result<(), JsonError> {
        if self.wrapped {
            self.p
                .expect(b'}', "'}' (only the key \"chain\" is allowed)")?;
        }
        self.p.finish()
    }
}

/// Below this size a chain is parsed on one thread.
const PARALLEL_PARSE_MIN_BYTES: usize = 1 << 20;

/// Parses the blocks of a large chain on all of rayon's threads.
///
/// The text after the opening `[` (at `body_start`) is cut into one part per thread at
/// guessed block boundaries: the first `{"block_no"` after each cut, preceded by a
/// comma. A guess can be wrong (that text may sit inside a string), so part `k - 1`
/// must end exactly at part `k`'s start: part 0 starts at a true boundary, so by
/// induction every part does. Returns the blocks and the offset after the closing `]`,
/// or `None` when the text is small, a guess fails or anything is malformed; the
/// caller then parses serially.
fn parse_blocks_parallel(text: &str, body_start: usize) -> Option<(Vec<Block>, usize)> {
    use rayon::prelude::*;
    let parts = rayon::current_num_threads().min(text.len() / PARALLEL_PARSE_MIN_BYTES);
    if parts < 2 {
        return None;
    }
    let mut starts = vec![body_start];
    for i in 1..parts {
        let from = (text.len() / parts * i).max(starts[starts.len() - 1] + 1);
        let pos = from + text.get(from..)?.find("{\"block_no\"")?;
        if !text[..pos].trim_end().ends_with(',') {
            return None;
        }
        starts.push(pos);
    }
    let segments: Vec<Option<(Vec<Block>, usize)>> = (0..starts.len())
        .into_par_iter()
        .map(|k| parse_segment(text, starts[k], starts.get(k + 1).copied()))
        .collect();
    let mut blocks = Vec::new();
    let mut end = 0;
    for segment in segments {
        let (mut part, part_end) = segment?;
        blocks.append(&mut part);
        end = part_end;
    }
    Some((blocks, end))
}

/// Parses blocks from `start` until the comma before `stop` (which must be followed by
/// exactly `stop`), or with no `stop` until the closing `]`. Returns the blocks and the
/// offset where parsing ended.
fn parse_segment(text: &str, start: usize, stop: Option<usize>) -> Option<(Vec<Block>, usize)> {
    let mut p = Parser::at(text, start);
    let mut blocks = Vec::new();
    loop {
        blocks.push(read_block(&mut p, None, true).ok()?);
        let more = p.comma_or(b']', "',' or ']'").ok()?;
        match (more, stop) {
            (false, None) => return Some((blocks, p.offset())),
            (true, Some(stop)) => {
                p.skip_ws();
                if p.offset() == stop {
                    return Some((blocks, stop));
                }
                if p.offset() > stop {
                    return None;
                }
            }
            (true, None) => {}
            (false, Some(_)) => return None,
        }
    }
}

/// Parses one block or an array of blocks (for `minichain hash`), where `hash` may be
/// left out.
///
/// # Errors
/// [`JsonError`] with the position of the first problem.
pub fn parse_blocks_lenient(text: &str) -> Result<Vec<Block>, JsonError> {
    let mut p = Parser::new(text);
    p.skip_ws();
    let blocks = if p.peek() == Some(b'[') {
        read_blocks(&mut p, false)?
    } else {
        vec![read_block(&mut p, None, false)?]
    };
    p.finish()?;
    Ok(blocks)
}

fn shape(msg: String) -> JsonErrorKind {
    JsonErrorKind::Shape(msg)
}

fn read_blocks(p: &mut Parser<'_>, require_hash: bool) -> Result<Vec<Block>, JsonError> {
    p.expect(b'[', "'[' (a chain is an array of blocks)")?;
    read_block_items(p, require_hash)
}

/// Reads blocks after an opening `[`, through the closing `]`.
fn read_block_items(p: &mut Parser<'_>, require_hash: bool) -> Result<Vec<Block>, JsonError> {
    let mut blocks = Vec::new();
    if !p.eat_close(b']') {
        loop {
            blocks.push(read_block(p, Some(blocks.len()), require_hash)?);
            if !p.comma_or(b']', "',' or ']'")? {
                break;
            }
        }
    }
    Ok(blocks)
}

/// Reads one block object; `index` names it in errors.
fn read_block(
    p: &mut Parser<'_>,
    index: Option<usize>,
    require_hash: bool,
) -> Result<Block, JsonError> {
    let which = Which(index);
    p.skip_ws();
    if p.peek() != Some(b'{') {
        let at = p.offset();
        let found = describe_next(p).unwrap_or_else(|_| "malformed JSON".into());
        return Err(p.error_at(
            at,
            shape(format!("{which}: expected a block object, found {found}")),
        ));
    }
    p.expect(b'{', "'{'")?;
    let start = p.offset();
    let mut block_no = None;
    let mut timestamp = None;
    let mut prev_hash = None;
    let mut data = None;
    let mut hash = None;
    let mut nonce = None;
    let mut difficulty = None;
    if !p.eat_close(b'}') {
        loop {
            let key_at = p.offset();
            let key = p.key()?;
            p.expect(b':', "':'")?;
            p.skip_ws();
            let at = p.offset();
            let field_err = |p: &Parser<'_>, e: FieldError, want: &str| -> JsonError {
                match e {
                    FieldError::Json(e) => e,
                    FieldError::NotInteger(at, found) => p.error_at(
                        at,
                        shape(format!(
                            "{which}: field {key:?}: expected {want}, found {found}"
                        )),
                    ),
                    FieldError::Negative(n) | FieldError::OutOfRange(n) => p.error_at(
                        at,
                        shape(format!(
                            "{which}: field {key:?}: expected {want}, found {}",
                            clip(&n)
                        )),
                    ),
                }
            };
            let duplicate = match key.as_ref() {
                "block_no" => {
                    let v = p
                        .u64_field()
                        .map_err(|e| field_err(p, e, "an integer 0..2^64"))?;
                    block_no.replace(v).is_some()
                }
                "timestamp" => {
                    let v = p
                        .u64_field()
                        .map_err(|e| field_err(p, e, "milliseconds 0..2^64"))?;
                    timestamp.replace(v).is_some()
                }
                "difficulty" => {
                    let want = "an integer 0..2^32";
                    let v = p.u64_field().map_err(|e| field_err(p, e, want))?;
                    let v = u32::try_from(v)
                        .map_err(|_| field_err(p, FieldError::OutOfRange(v.to_string()), want))?;
                    difficulty.replace(Difficulty::new(v)).is_some()
                }
                "nonce" => {
                    let digits = p
                        .field_integer()
                        .map_err(|e| field_err(p, e, "a non-negative integer"))?;
                    let n = Nonce::from_digits(digits)
                        .map_err(|e| p.error_at(at, shape(format!("{which}: {e}"))))?;
                    nonce.replace(n).is_some()
                }
                "prev_hash" | "hash" => {
                    if p.peek() != Some(b'"') {
                        let found = describe_next(p)?;
                        return Err(p.error_at(
                            at,
                            shape(format!(
                                "{which}: field {key:?}: expected a string, found {found}"
                            )),
                        ));
                    }
                    let text = p.string()?.into_owned();
                    let slot = if key == "hash" {
                        &mut hash
                    } else {
                        &mut prev_hash
                    };
                    slot.replace(text).is_some()
                }
                "data" => {
                    let v = RawJson::read(p)?;
                    data.replace(v).is_some()
                }
                _ => {
                    let all = FIELDS.join(", ");
                    return Err(p.error_at(
                        key_at,
                        shape(format!(
                            "{which}: unknown field {:?} (a block has exactly: {all})",
                            clip(&key)
                        )),
                    ));
                }
            };
            if duplicate {
                return Err(p.error_at(
                    key_at,
                    shape(format!("{which}: field {key:?} appears twice")),
                ));
            }
            if !p.comma_or(b'}', "',' or '}'")? {
                break;
            }
        }
    }
    let missing = |name: &str| p.error_at(start, shape(format!("{which}: missing field {name:?}")));
    let hash = match hash {
        Some(h) => h,
        None if !require_hash => String::new(),
        None => return Err(missing("hash")),
    };
    Ok(Block {
        block_no: block_no.ok_or_else(|| missing("block_no"))?,
        timestamp: timestamp.ok_or_else(|| missing("timestamp"))?,
        prev_hash: prev_hash.ok_or_else(|| missing("prev_hash"))?,
        data: data.ok_or_else(|| missing("data"))?,
        hash,
        nonce: nonce.ok_or_else(|| missing("nonce"))?,
        difficulty: difficulty.ok_or_else(|| missing("difficulty"))?,
    })
}

/// Names a block in error messages ("block 3", or "block" when it stands alone),
/// formatted only when an error is built.
#[derive(Clone, Copy)]
struct Which(Option<usize>);

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(i) => write!(f, "block {i}"),
            None => f.write_str("block"),
        }
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Formats `n` in decimal into `buf`, returning the digits (what `str(n)` gives, without
/// `core::fmt`'s machinery: block numbers and timestamps are written for every hash).
pub(crate) fn fmt_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::json::Number;

    #[test]
    fn genesis_round_trips_in_key_order() {
        let text = genesis().to_json_string();
        assert!(text.starts_with(
            r#"{"block_no":0,"timestamp":1000,"prev_hash":"0x0000","data":[],"hash":"1dd3"#
        ));
        assert_eq!(Block::parse(&text).ok(), Some(genesis()));
    }

    #[test]
    fn nonce_accepts_canonical_integers_up_to_40_digits() {
        let two_128 = "340282366920938463463374607431768211456";
        let text = genesis()
            .to_json_string()
            .replace(r#""nonce":0"#, &format!(r#""nonce":{two_128}"#));
        assert_eq!(
            Block::parse(&text)
                .map(|b| b.nonce.to_string())
                .ok()
                .as_deref(),
            Some(two_128)
        );
        for bad in ["-1", "1.5", "\"5\"", "1e3", &"9".repeat(41)] {
            let text = genesis()
                .to_json_string()
                .replace(r#""nonce":0"#, &format!(r#""nonce":{bad}"#));
            let err = Block::parse(&text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("nonce"), "{bad}: {err}");
        }
    }

    #[test]
    fn shape_errors_name_the_block_and_field() {
        let chain = format!("[{}, {{\"block_no\": 1}}]", genesis().to_json_string());
        let err = parse_chain(&chain)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("block 1: missing field"), "{err}");
        let extra = genesis()
            .to_json_string()
            .replace("{\"block_no\"", "{\"x\":1,\"block_no\"");
        let err = Block::parse(&extra)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown field \"x\""), "{err}");
        let err = parse_chain("[1]")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "line 1, column 2: block 0: expected a block object, found the number 1"
        );
    }

    /// The batch reader reads what `parse_chain` reads, and refuses what it refuses.
    #[test]
    fn chain_reader_reads_in_batches() {
        let blocks = crate::miner::synthetic::synthetic_chain(10);
        let mut text = Vec::new();
        write_chain(&blocks, Dialect::Python, &mut text);
        let text = String::from_utf8(text).unwrap_or_default();
        for input in [text.clone(), format!("{{\"chain\": {text}}} ")] {
            let mut reader = ChainReader::new(&input).expect("opens");
            let mut read = Vec::new();
            loop {
                let batch = reader.next_batch(3).expect("reads");
                if batch.is_empty() {
                    break;
                }
                read.extend(batch);
            }
            assert_eq!(read, blocks);
        }
        let mut reader = ChainReader::new(&text[..text.len() - 1]).expect("opens");
        let err = reader.next_batch(100).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("line 1")));
        let err = ChainReader::new("[]x").err().map(|e| e.to_string());
        assert!(err.is_some(), "{err:?}");
        let mut reader = ChainReader::new(" [ ] ").expect("opens");
        assert_eq!(reader.next_batch(5).map(|b| b.len()).ok(), Some(0));
    }

    #[test]
    fn chain_accepts_array_or_wrapped_object() {
        let g = genesis().to_json_string();
        assert_eq!(
            parse_chain(&format!("[{g}]")).map(|c| c.len()).ok(),
            Some(1)
        );
        assert_eq!(
            parse_chain(&format!("{{\"chain\": [{g}]}}"))
                .map(|c| c.len())
                .ok(),
            Some(1)
        );
        assert!(parse_chain(&format!("{{\"blocks\": [{g}]}}")).is_err());
    }

    /// A chain text of more than `PARALLEL_PARSE_MIN_BYTES`. With `tricky`, every
    /// block's data holds an object with a `block_no` key after a comma, the very text
    /// the parallel parser guesses block boundaries by (a string cannot hold it: its
    /// quotes would be escaped).
    fn big_chain_text(tricky: bool) -> (String, Vec<Block>) {
        let mut blocks = Vec::new();
        for i in 0..12000u64 {
            let mut b = genesis();
            b.block_no = i;
            let pad = Json::String(format!("block {i} {}", "pad ".repeat(40)).into());
            b.data = RawJson::from(if tricky {
                let inner = vec![(
                    "block_no".into(),
                    Json::Number(Number::from_u128(u128::from(i))),
                )];
                Json::Array(vec![pad, Json::Object(inner)])
            } else {
                Json::Array(vec![pad, Json::Null])
            });
            blocks.push(b);
        }
        let mut out = Vec::new();
        write_chain(&blocks, Dialect::Python, &mut out);
        (String::from_utf8(out).unwrap_or_default(), blocks)
    }

    #[test]
    fn parallel_parse_equals_serial_even_when_guesses_fail() {
        for tricky in [false, true] {
            let (text, blocks) = big_chain_text(tricky);
            assert!(text.len() > 2 * PARALLEL_PARSE_MIN_BYTES);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build();
            let Ok(pool) = pool else { panic!("pool") };
            // The fast path is taken for the plain chain and refused for the tricky one.
            let fast = pool.install(|| parse_blocks_parallel(&text, 1));
            assert_eq!(
                fast.map(|(b, end)| (b.len(), end)),
                (!tricky).then_some((blocks.len(), text.len()))
            );
            let parsed = pool.install(|| parse_chain(&text));
            assert_eq!(parsed.ok().as_ref(), Some(&blocks));
            let wrapped = format!("{{\"chain\": {text}}}");
            let parsed = pool.install(|| parse_chain(&wrapped));
            assert_eq!(parsed.ok().map(|b| b.len()), Some(blocks.len()));
        }
    }

    #[test]
    fn parallel_parse_reports_the_serial_error() {
        let (text, _) = big_chain_text(false);
        let at = text.len() * 3 / 4;
        let cut = at + text[at..].find("\"nonce\": 0").unwrap_or(0);
        let broken = format!("{}\"nonce\": -1{}", &text[..cut], &text[cut + 10..]);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build();
        let Ok(pool) = pool else { panic!("pool") };
        assert!(pool.install(|| parse_blocks_parallel(&broken, 1)).is_none());
        let err = pool.install(|| parse_chain(&broken)).err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("field \"nonce\": expected a non-negative integer, found -1"),
            "{msg}"
        );
        let index = msg
            .split("block ")
            .nth(1)
            .and_then(|r| r.split(':').next()?.parse::<usize>().ok());
        assert!(index.is_some_and(|i| i > 6000), "{msg}");
    }
}
