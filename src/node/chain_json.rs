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
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
        self.fill_until_large(chain, dialect, open, close, out, at_least, None);
    }

    /// The estimated JSON size ([`BlockView::json_estimate`]) of the block written
    /// next, `None` when every block is written.
    ///
    /// [`BlockView::json_estimate`]: crate::chain::compact::BlockView::json_estimate
    pub fn next_estimate(&self, chain: &ValidChain, dialect: Dialect) -> Option<usize> {
        let end = self.end.map_or(chain.len(), |end| end.min(chain.len()));
        if self.closed || self.next >= end {
            return None;
        }
        chain
            .blocks()
            .get(self.next)
            .map(|view| view.json_estimate(dialect))
    }

    /// [`Cursor::fill_framed`], but stopping before a block estimated at `large` bytes
    /// or more unless it is the first this call writes: such a block goes out in a
    /// piece of its own.
    #[allow(clippy::too_many_arguments)]
    fn fill_until_large(
        &mut self,
        chain: &ValidChain,
        dialect: Dialect,
        open: &[u8],
        close: &[u8],
        out: &mut Vec<u8>,
        at_least: usize,
        large: Option<usize>,
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
        let mut wrote = false;
        while out.len() < target && self.next < end {
            if wrote
                && large.is_some_and(|large| {
                    self.next_estimate(chain, dialect)
                        .is_some_and(|size| size >= large)
                })
            {
                break;
            }
            chain
                .blocks()
                .write_items(self.next..self.next + 1, dialect, self.first, out);
            self.next += 1;
            wrote = true;
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

/// The most bytes of large blocks ([`LARGE_BLOCK_BYTES`] and up) that the node's
/// readers hold written at once, across every connection: past it, a reader waits for
/// bytes already sent to others before its next large block is written.
///
/// Why: a body is written a piece at a time, but a block is never cut, so each reader
/// of a large block holds a copy of it until its client has read it. A chain may hold
/// blocks of tens of MiB (a peer's message may be 32 MiB), and a review's 32 clients
/// that asked for one 24 MiB block and never read took a node from 233 MB to 1 GB; a
/// thousand would have taken 24 GB.
pub const SEND_BUDGET_BYTES: usize = 128 * 1024 * 1024;

/// A block estimated at this many bytes or more (in the answer's dialect) is written
/// in a piece of its own, with its bytes taken from the [`SendBudget`].
pub const LARGE_BLOCK_BYTES: usize = 256 * 1024;

/// The byte budget of large blocks being sent (see [`SEND_BUDGET_BYTES`]); cheap to
/// clone, shared by every body of one node.
#[derive(Debug, Clone)]
pub struct SendBudget {
    permits: Arc<Semaphore>,
    total: usize,
}

impl SendBudget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> SendBudget {
        let total = total.clamp(1, u32::MAX as usize);
        SendBudget {
            permits: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Bytes not taken now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Waits for `bytes` of the budget (all of it, for more than it holds).
    pub fn take(
        &self,
        bytes: usize,
    ) -> impl Future<Output = Option<OwnedSemaphorePermit>> + Send + 'static {
        let wanted = u32::try_from(bytes.clamp(1, self.total)).unwrap_or(u32::MAX);
        let permits = Arc::clone(&self.permits);
        async move { permits.acquire_many_owned(wanted).await.ok() }
    }
}

/// A written piece and the budget it holds until the connection has sent it and drops
/// it.
struct Held {
    piece: Vec<u8>,
    _taken: Option<OwnedSemaphorePermit>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.piece
    }
}

/// A wait for budget.
type Taking = Pin<Box<dyn Future<Output = Option<OwnedSemaphorePermit>> + Send>>;

/// The pieces of one answer: blocks of `source`'s chain under a [`Cursor`], between an
/// opening and a closing, large blocks each alone and in the budget.
struct Pieces<S> {
    source: Arc<S>,
    cursor: Cursor,
    dialect: Dialect,
    open: Vec<u8>,
    close: &'static [u8],
    budget: SendBudget,
    taking: Option<Taking>,
}

impl<S> std::fmt::Debug for Pieces<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pieces")
            .field("cursor", &self.cursor)
            .field("waiting", &self.taking.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: AsRef<ValidChain>> Pieces<S> {
    /// The next piece; pending while a large block waits for budget.
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.cursor.is_done() {
            return Poll::Ready(None);
        }
        let chain = (*self.source).as_ref();
        let large = self
            .cursor
            .next_estimate(chain, self.dialect)
            .filter(|&size| size >= LARGE_BLOCK_BYTES);
        let mut taken = None;
        if let Some(size) = large {
            let taking = self
                .taking
                .get_or_insert_with(|| Box::pin(self.budget.take(size)));
            match taking.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(permit) => {
                    self.taking = None;
                    taken = permit;
                }
            }
        }
        let mut piece = Vec::with_capacity(if large.is_some() {
            0
        } else {
            PIECE_BYTES + 4096
        });
        // A large block alone (`at_least` 1 writes one block); else blocks up to the
        // piece size, stopping before a large one.
        let at_least = if large.is_some() { 1 } else { PIECE_BYTES };
        self.cursor.fill_until_large(
            chain,
            self.dialect,
            &self.open,
            self.close,
            &mut piece,
            at_least,
            Some(LARGE_BLOCK_BYTES),
        );
        Poll::Ready(Some(Bytes::from_owner(Held {
            piece,
            _taken: taken,
        })))
    }
}

/// `GET /api/blocks`'s body for one version of the chain (a node's snapshot, which
/// `source` keeps alive while the body is sent), written as it is sent, with its
/// exact length (so the answer carries `Content-Length`, as a cached body would).
#[derive(Debug)]
pub struct ChainBody<S> {
    pieces: Pieces<S>,
    remaining: u64,
}

impl<S: AsRef<ValidChain>> ChainBody<S> {
    /// The body of `source`'s chain, whose length `len` the caller knows (measured
    /// once per chain version: [`Form::len`]); its large blocks take from `budget`.
    pub fn new(source: Arc<S>, len: u64, budget: SendBudget) -> ChainBody<S> {
        ChainBody {
            remaining: len,
            pieces: Pieces {
                source,
                cursor: Cursor::default(),
                dialect: Form::Body.dialect(),
                open: Form::Body.open().to_vec(),
                close: Form::Body.close(),
                budget,
                taking: None,
            },
        }
    }
}

impl<S: AsRef<ValidChain>> http_body::Body for ChainBody<S> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        this.pieces.poll_piece(cx).map(|piece| {
            piece.map(|piece| {
                this.remaining = this.remaining.saturating_sub(piece.len() as u64);
                Ok(Frame::data(piece))
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.cursor.is_done()
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
    pieces: Pieces<S>,
}

impl<S: AsRef<ValidChain>> PageBody<S> {
    /// The page of blocks `range` of `source`'s chain, after `head`; its large blocks
    /// take from `budget`.
    pub fn new(
        source: Arc<S>,
        mut head: Vec<u8>,
        range: std::ops::Range<usize>,
        budget: SendBudget,
    ) -> PageBody<S> {
        head.push(b'[');
        PageBody {
            pieces: Pieces {
                source,
                cursor: Cursor::range(range),
                dialect: Dialect::Compact,
                open: head,
                close: b"]}",
                budget,
                taking: None,
            },
        }
    }
}

impl<S: AsRef<ValidChain>> http_body::Body for PageBody<S> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.pieces
            .poll_piece(cx)
            .map(|piece| piece.map(|piece| Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.cursor.is_done()
    }
}

/// One block as compact JSON (`GET /api/blocks/{n}`), with the budget it holds while it
/// is sent when it is large (see [`SEND_BUDGET_BYTES`]).
pub async fn block_bytes(
    view: &crate::chain::compact::BlockView<'_>,
    budget: &SendBudget,
) -> Bytes {
    let size = view.json_estimate(Dialect::Compact);
    let taken = if size >= LARGE_BLOCK_BYTES {
        budget.take(size).await
    } else {
        None
    };
    let mut piece = Vec::with_capacity(size.min(LARGE_BLOCK_BYTES));
    view.write(Dialect::Compact, &mut piece);
    Bytes::from_owner(Held {
        piece,
        _taken: taken,
    })
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

    /// A chain with large blocks (one of them spelled so that it is written again, not
    /// copied) is written whole, each large block in a piece of its own; while one
    /// reader holds a large block it has not sent, another waits for the budget, and
    /// goes on once the first piece is dropped.
    #[test]
    fn large_blocks_go_out_alone_and_within_the_budget() {
        use crate::chain::{Difficulty, RawJson};
        use http_body::Body;
        struct Held(ValidChain);
        impl AsRef<ValidChain> for Held {
            fn as_ref(&self) -> &ValidChain {
                &self.0
            }
        }
        let mut blocks = synthetic_chain(3);
        let texts = [
            format!("\"{}\"", "a".repeat(600_000)),
            // Spaces the compact answer drops: written again, not copied.
            format!("[{}1]", "1, ".repeat(200_000)),
        ];
        for i in 0..7 {
            let prev = blocks.last().expect("a block").clone();
            let text = texts.get(i).map_or("null", String::as_str);
            let data = RawJson::parse(text).expect("JSON");
            let mut block = crate::miner::reference::mine_reference(
                &prev,
                data.to_json(),
                prev.timestamp + 1000,
                Difficulty::new(if prev.difficulty.bits() > 1 { 1 } else { 2 }),
            );
            // The same value spelled as given: the hash (of its str()) stands.
            block.data = data;
            blocks.push(block);
        }
        let chain = Arc::new(Held(
            ValidChain::validate(blocks.clone(), RuleSet::Strict, now_ms()).expect("valid"),
        ));
        let mut whole = b"{\"chain\":".to_vec();
        crate::chain::block::write_chain(&blocks, Dialect::Compact, &mut whole);
        whole.push(b'}');
        let budget = SendBudget::new(1024 * 1024);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let len = Form::Body.len(&chain.0);
        let mut first = ChainBody::new(Arc::clone(&chain), len, budget.clone());
        let mut second = ChainBody::new(Arc::clone(&chain), len, budget.clone());
        let mut next = |body: &mut ChainBody<Held>| match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(Some(frame)) => Some(frame.expect("infallible").into_data().expect("data")),
            Poll::Ready(None) => panic!("ended early"),
            Poll::Pending => None,
        };
        // The small blocks before the first large one, then the large one alone.
        let small = next(&mut first).expect("a piece");
        let large = next(&mut first).expect("the large block");
        assert!(
            large.len() > 600_000 && large.len() < 600_600,
            "{}",
            large.len()
        );
        assert!(budget.available() < 1024 * 1024 - 600_000);
        assert_eq!(next(&mut second).as_deref(), Some(&small[..]));
        assert!(
            next(&mut second).is_none(),
            "waits while the budget is held"
        );
        drop(large);
        assert!(next(&mut second).is_some(), "goes on once it is given back");
        drop(first);
        // The whole answer, piece by piece.
        let mut out = Vec::new();
        let mut third = ChainBody::new(Arc::clone(&chain), len, budget.clone());
        let mut pieces = Vec::new();
        while !third.is_end_stream() {
            let piece = next(&mut third).expect("budget is free");
            out.extend_from_slice(&piece);
            pieces.push(piece.len());
        }
        assert_eq!(out, whole);
        assert_eq!(out.len() as u64, len);
        assert!(
            pieces.iter().filter(|&&n| n > LARGE_BLOCK_BYTES).count() == 2,
            "{pieces:?}"
        );
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
                SendBudget::new(SEND_BUDGET_BYTES),
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
