//! The whole chain as JSON, written piece by piece from the compact blocks instead of
//! held whole: `GET /api/blocks`'s body streamed with its exact `Content-Length`, and
//! the Python-dialect message compared with an incoming one without being written
//! out.
//!
//! Why: at a million blocks the body is 300 MB and the message 316 MB; holding both
//! (and copying them on every block, as an append to a contiguous buffer does) costs
//! more memory than the blocks themselves and O(chain) per mined block. Writing the
//! JSON as it is sent costs O(chain) per whole-chain request instead, the same order
//! as sending it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::chain::ValidChain;
use crate::chain::json::Dialect;

/// Bytes written per piece: large enough to amortize the bookkeeping, small enough
/// that a piece is written in well under a millisecond.
const PIECE_BYTES: usize = 64 * 1024;

/// Which whole-chain JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `GET /api/blocks`'s body: `{"chain":[...]}`, compact.
    Body,
    /// The Redis message: `[...]` in Python's dialect.
    Message,
}

impl Form {
    fn dialect(self) -> Dialect {
        match self {
            Form::Body => Dialect::Compact,
            Form::Message => Dialect::Python,
        }
    }

    fn open(self) -> &'static [u8] {
        match self {
            Form::Body => b"{\"chain\":[",
            Form::Message => b"[",
        }
    }

    fn close(self) -> &'static [u8] {
        match self {
            Form::Body => b"]}",
            Form::Message => b"]",
        }
    }

    /// The whole JSON's length for `chain`.
    pub fn len(self, chain: &ValidChain) -> u64 {
        let items = chain
            .blocks()
            .json_lens()
            .chain_len(chain.len(), self.dialect());
        // `chain_len` counts `[` and `]`; the body adds `{"chain":` and `}`.
        match self {
            Form::Body => items + 10,
            Form::Message => items,
        }
    }
}

/// Where a piece-by-piece writer stands: the whole chain, or blocks `first..end` of it
/// (a page, [`Cursor::range`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    next: usize,
    /// The first block written: the one without a separator before it.
    first: usize,
    /// The end of the blocks written (`None`: the chain's end).
    end: Option<usize>,
    opened: bool,
    closed: bool,
}

impl Cursor {
    /// A cursor over blocks `range` of the chain only.
    pub fn range(range: std::ops::Range<usize>) -> Cursor {
        Cursor {
            next: range.start,
            first: range.start,
            end: Some(range.end),
            ..Cursor::default()
        }
    }

    /// Whether the whole JSON is written.
    pub fn is_done(&self) -> bool {
        self.closed
    }

    /// Appends the next piece of `form` of `chain` to `out`: at least `at_least` bytes
    /// unless the JSON ends first.
    pub fn fill(&mut self, chain: &ValidChain, form: Form, out: &mut Vec<u8>, at_least: usize) {
        self.fill_framed(
            chain,
            form.dialect(),
            form.open(),
            form.close(),
            out,
            at_least,
        );
    }

    /// Appends the next piece of the blocks as array items in `dialect`, after `open`
    /// (written first) and before `close` (written last): at least `at_least` bytes
    /// unless the JSON ends first.
    pub fn fill_framed(
        &mut self,
        chain: &ValidChain,
        dialect: Dialect,
        open: &[u8],
        close: &[u8],
        out: &mut Vec<u8>,
        at_least: usize,
    ) {
        if self.closed {
            return;
        }
        let target = out.len() + at_least;
        if !self.opened {
            out.extend_from_slice(open);
            self.opened = true;
        }
        let end = self.end.map_or(chain.len(), |end| end.min(chain.len()));
        // A block at a time: a piece stays near `at_least` even when blocks are large
        // (a mining request's data may be a MiB).
        while out.len() < target && self.next < end {
            chain
                .blocks()
                .write_items(self.next..self.next + 1, dialect, self.first, out);
            self.next += 1;
        }
        if self.next >= end {
            out.extend_from_slice(close);
            self.closed = true;
        }
    }
}

/// Whether `bytes` is exactly `form` of `chain` but its last `cut` bytes. Writes it a
/// piece at a time and stops at the first difference.
pub fn matches(chain: &ValidChain, form: Form, bytes: &[u8], cut: usize) -> bool {
    let mut cursor = Cursor::default();
    let mut piece = Vec::with_capacity(PIECE_BYTES + 4096);
    let mut at = 0;
    while !cursor.is_done() {
        piece.clear();
        cursor.fill(chain, form, &mut piece, PIECE_BYTES);
        if cursor.is_done() {
            let Some(keep) = piece.len().checked_sub(cut) else {
                return false;
            };
            piece.truncate(keep);
        }
        match bytes.get(at..at + piece.len()) {
            Some(part) if part == piece.as_slice() => at += piece.len(),
            _ => return false,
        }
    }
    at == bytes.len()
}

/// The next piece of a body that `fill` writes with `cursor`, `None` once it is all
/// written: what [`ChainBody`] and [`PageBody`] share.
fn next_piece(cursor: &mut Cursor, fill: impl FnOnce(&mut Cursor, &mut Vec<u8>)) -> Option<Bytes> {
    if cursor.is_done() {
        return None;
    }
    let mut piece = Vec::with_capacity(PIECE_BYTES + 4096);
    fill(cursor, &mut piece);
    Some(piece.into())
}

/// `GET /api/blocks`'s body for one version of the chain (a node's snapshot, which
/// `source` keeps alive while the body is sent), written as it is sent, with its
/// exact length (so the answer carries `Content-Length`, as a cached body would).
#[derive(Debug)]
pub struct ChainBody<S> {
    source: Arc<S>,
    cursor: Cursor,
    remaining: u64,
}

impl<S: AsRef<ValidChain>> ChainBody<S> {
    /// The body of `source`'s chain, whose length `len` the caller knows (measured
    /// once per chain version: [`Form::len`]).
    pub fn new(source: Arc<S>, len: u64) -> ChainBody<S> {
        ChainBody {
            remaining: len,
            source,
            cursor: Cursor::default(),
        }
    }
}

impl<S: AsRef<ValidChain>> http_body::Body for ChainBody<S> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        let piece = next_piece(&mut this.cursor, |cursor, piece| {
            cursor.fill((*this.source).as_ref(), Form::Body, piece, PIECE_BYTES);
        });
        if let Some(piece) = &piece {
            this.remaining = this.remaining.saturating_sub(piece.len() as u64);
        }
        Poll::Ready(piece.map(|piece| Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.cursor.is_done()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// A page of `GET /api/blocks?from=&limit=`: `head` (the page's fields and `"chain":`),
/// then blocks `range` of `source`'s chain as a compact array, then `}`, written as it
/// is sent, a piece of about 64 KiB at a time.
///
/// Why not built whole: a page holds up to a thousand blocks, each as large as a mining
/// request may make it (a MiB), so a page built in one buffer could cost each request a
/// gigabyte for as long as its client takes to read it. Its length is not measured
/// beforehand (it goes out chunked).
#[derive(Debug)]
pub struct PageBody<S> {
    source: Arc<S>,
    /// The page's fields, `"chain":` and `[`: what comes before the blocks.
    open: Vec<u8>,
    cursor: Cursor,
}

impl<S: AsRef<ValidChain>> PageBody<S> {
    /// The page of blocks `range` of `source`'s chain, after `head`.
    pub fn new(source: Arc<S>, mut head: Vec<u8>, range: std::ops::Range<usize>) -> PageBody<S> {
        head.push(b'[');
        PageBody {
            source,
            open: head,
            cursor: Cursor::range(range),
        }
    }
}

impl<S: AsRef<ValidChain>> http_body::Body for PageBody<S> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        let piece = next_piece(&mut this.cursor, |cursor, piece| {
            cursor.fill_framed(
                (*this.source).as_ref(),
                Dialect::Compact,
                &this.open,
                b"]}",
                piece,
                PIECE_BYTES,
            );
        });
        Poll::Ready(piece.map(|piece| Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.cursor.is_done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::RuleSet;
    use crate::chain::validate::now_ms;
    use crate::miner::synthetic::synthetic_chain;

    /// Pieces add up to the whole JSON as the block writer writes it, and its length
    /// is known beforehand; a prefix matches as a prefix only.
    #[test]
    fn pieces_are_the_whole_json() {
        for n in [1, 2, 700, 1500] {
            let blocks = synthetic_chain(n);
            let chain =
                ValidChain::validate(blocks.clone(), RuleSet::Strict, now_ms()).expect("valid");
            let mut message = Vec::new();
            crate::chain::block::write_chain(&blocks, Dialect::Python, &mut message);
            let mut body = b"{\"chain\":".to_vec();
            crate::chain::block::write_chain(&blocks, Dialect::Compact, &mut body);
            body.push(b'}');
            for (form, whole) in [(Form::Message, &message), (Form::Body, &body)] {
                let mut cursor = Cursor::default();
                let mut out = Vec::new();
                while !cursor.is_done() {
                    cursor.fill(&chain, form, &mut out, 1000);
                }
                assert_eq!(&out, whole, "{n} {form:?}");
                assert_eq!(form.len(&chain), whole.len() as u64);
                assert!(matches(&chain, form, whole, 0));
                assert!(matches(&chain, form, &whole[..whole.len() - 1], 1));
                assert!(!matches(&chain, form, &whole[..whole.len() - 1], 0));
                let mut longer = whole.clone();
                longer.push(b' ');
                assert!(!matches(&chain, form, &longer, 0));
                let mut other = whole.clone();
                let at = other.len() / 2;
                other[at] ^= 1;
                assert!(!matches(&chain, form, &other, 0));
            }
        }
    }

    /// A page's pieces add up to the head, the blocks of its range as one compact array
    /// (as `write_chain` writes them) and `}`, over several pieces, none much over the
    /// piece size; an empty range is `[]`.
    #[test]
    fn a_page_is_streamed_in_pieces_that_add_up() {
        use http_body::Body;
        let blocks = synthetic_chain(1500);
        struct Held(ValidChain);
        impl AsRef<ValidChain> for Held {
            fn as_ref(&self) -> &ValidChain {
                &self.0
            }
        }
        let chain = Arc::new(Held(
            ValidChain::validate(blocks.clone(), RuleSet::Strict, now_ms()).expect("valid"),
        ));
        for range in [0..1500, 700..1000, 1499..1500, 1500..1500] {
            let mut expected = b"{\"head\":1,\"chain\":".to_vec();
            crate::chain::block::write_chain(
                &blocks[range.clone()],
                Dialect::Compact,
                &mut expected,
            );
            expected.push(b'}');
            let mut body = PageBody::new(
                Arc::clone(&chain),
                b"{\"head\":1,\"chain\":".to_vec(),
                range.clone(),
            );
            let mut out = Vec::new();
            let mut pieces = 0;
            let mut cx = Context::from_waker(std::task::Waker::noop());
            while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
                let data = frame.expect("infallible").into_data().expect("data");
                assert!(data.len() < PIECE_BYTES + 4096, "a piece of {}", data.len());
                out.extend_from_slice(&data);
                pieces += 1;
            }
            assert_eq!(out, expected, "{range:?}");
            assert!(body.is_end_stream());
            if range.len() == 1500 {
                assert!(pieces > 2, "{pieces} pieces");
            }
        }
    }
}
