//! The range fetch client: a peer's chain read in pages over HTTP
//! (`GET {peer}/api/blocks?from=N&limit=M`), each answer bounded in bytes and time.
//!
//! Why pages: a whole chain in one answer grows without end (15 MB at 100,000 blocks)
//! and must be held, parsed and validated at once; a page of at most
//! [`MAX_PAGE`] blocks costs the same at any chain length,
//! and a node that stops half-way keeps the pages it applied.
//!
//! Everything a peer sends is hostile: an answer over the byte limit is cut off (the
//! caller asks again for fewer blocks), a slow one times out, one with a status other
//! than 200 is an error naming the status only (not its body), a malformed one is an
//! error with the peer's text clipped. A peer address is a base URL only (no query,
//! fragment or user info). A peer that does not page (the original Python
//! node ignores the query and answers its whole chain) is recognized by its answer,
//! which has no `total`: [`Answer::WholeChain`].

use std::time::Duration;

use bytes::Bytes;

use crate::chain::Block;
use crate::chain::block::parse_chain;
use crate::chain::json::{FieldError, Parser};
use crate::clip::{MESSAGE_CHARS, clip, clip_to, clipped};

/// Largest page `GET /api/blocks?from=N&limit=M` serves, and the most a page client
/// asks for: both ends of the paged protocol read it here.
pub const MAX_PAGE: usize = 1000;

/// Why a page could not be had from the peer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    /// The peer's address is not an `http://` base URL: another scheme (`https`
    /// among them: the client has no TLS), no host, or a query, a fragment or user
    /// info (which would turn the page request into some other request on that host).
    #[error(
        "peer address {0:?} is not an http:// URL without query, fragment or user info (peers are fetched over plain HTTP)"
    )]
    BadPeer(String),
    /// No answer: connection refused, reset, or the time limit passed.
    #[error("no answer from the peer: {0}")]
    Unreachable(String),
    /// An answer with a status other than 200. Its body is not kept: a peer address
    /// may name any host (one inside our network too), and what it answers must not
    /// reach `/api/status` or the log.
    #[error("the peer answered {0}")]
    Status(u16),
    /// The answer is over the byte limit (it was cut off there).
    #[error("the answer is over the limit of {0} bytes")]
    TooLarge(usize),
    /// The answer is not a page (nor a whole chain).
    #[error("the answer is not a page of blocks: {0}")]
    Malformed(String),
}

/// One answer to a page request.
#[derive(Debug)]
pub enum Answer {
    /// A page: blocks `from..from + blocks.len()` of a chain of `total` blocks.
    Page(Page),
    /// A whole chain (`{"chain": [...]}` with no `total`): a peer that does not page.
    /// Its bytes, unparsed, for the intake.
    WholeChain(Bytes),
}

/// A page of a peer's chain.
#[derive(Debug)]
pub struct Page {
    /// The first block's index.
    pub from: u64,
    /// The peer's chain length when it answered.
    pub total: u64,
    /// The blocks (parsed, not validated).
    pub blocks: Vec<Block>,
    /// The answer's size in bytes.
    pub bytes: usize,
}

/// A client for one peer's pages.
#[derive(Debug, Clone)]
pub struct PageClient {
    client: reqwest::Client,
    base: String,
    max_bytes: usize,
}

impl PageClient {
    /// A client for the peer at `base` (`http://host:port`, or with a path prefix for a
    /// peer behind a reverse proxy), each request limited to `timeout` and each answer
    /// to `max_bytes`.
    ///
    /// A peer address comes from an announcement anyone may publish, and the page
    /// request is `{base}/api/blocks?from=..`: a query (`?`), a fragment (`#`, which
    /// would cut our own query off) or user info in `base` would make that some other
    /// request, so they are refused. The base kept is the parsed URL's own spelling.
    ///
    /// # Errors
    /// [`FetchError::BadPeer`] when `base` is not such a URL.
    pub fn new(base: &str, timeout: Duration, max_bytes: usize) -> Result<PageClient, FetchError> {
        let bad = || FetchError::BadPeer(clipped(base));
        let url = reqwest::Url::parse(base).map_err(|_| bad())?;
        if url.scheme() != "http"
            || url.host_str().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(bad());
        }
        let trimmed = url.as_str().trim_end_matches('/');
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A peer's address is all it may name: no redirects elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        Ok(PageClient {
            client,
            base: trimmed.to_owned(),
            max_bytes,
        })
    }

    /// The peer's base address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Fetches blocks `from..from + limit` (fewer at the chain's end). The answer's
    /// bytes only: parse them off the async workers with [`parse_answer`].
    ///
    /// # Errors
    /// [`FetchError`] when the peer does not answer 200 within the time and byte
    /// limits.
    pub async fn fetch(&self, from: u64, limit: usize) -> Result<Bytes, FetchError> {
        let url = format!("{}/api/blocks?from={from}&limit={limit}", self.base);
        fetch_limited(&self.client, &url, self.max_bytes).await
    }
}

/// GETs `url` and reads its body, refusing a status other than 200 and a body over
/// `max_bytes` (read no further than the limit).
///
/// # Errors
/// [`FetchError`] saying which.
pub async fn fetch_limited(
    client: &reqwest::Client,
    url: &str,
    max_bytes: usize,
) -> Result<Bytes, FetchError> {
    let unreachable = |e: reqwest::Error| FetchError::Unreachable(clipped(&e.to_string()));
    let mut response = client.get(url).send().await.map_err(unreachable)?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        // The body is not read: it is the peer's (or some internal host's) text.
        return Err(FetchError::Status(status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// Reads an answer to a page request (blocking: it parses up to a page of blocks).
///
/// A page is minichain's `{"from":N,"limit":M,"total":T,"chain":[...]}`, keys in any
/// order with `chain` last; an object with `chain` and no `total` is a whole chain
/// from a peer that does not page (returned unparsed).
///
/// # Errors
/// [`FetchError::Malformed`] for anything else, with the peer's text clipped.
pub fn parse_answer(bytes: Bytes) -> Result<Answer, FetchError> {
    let malformed = |why: String| FetchError::Malformed(clip_to(&why, MESSAGE_CHARS).into_owned());
    let size = bytes.len();
    let text = std::str::from_utf8(&bytes).map_err(|_| malformed("not UTF-8".into()))?;
    let mut p = Parser::new(text);
    p.expect(b'{', "'{'")
        .map_err(|e| malformed(e.to_string()))?;
    let mut from = None;
    let mut total = None;
    loop {
        let key = p.key().map_err(|e| malformed(e.to_string()))?;
        p.expect(b':', "':'")
            .map_err(|e| malformed(e.to_string()))?;
        let field = |p: &mut Parser<'_>| {
            p.u64_field().map_err(|e| match e {
                FieldError::Json(e) => malformed(e.to_string()),
                FieldError::NotInteger(_, found) => {
                    malformed(format!("{key:?} is not an integer: {found}"))
                }
                FieldError::Negative(n) | FieldError::OutOfRange(n) => {
                    malformed(format!("{key:?} is out of range: {n}"))
                }
            })
        };
        match key.as_ref() {
            "from" => from = Some(field(&mut p)?),
            "total" => total = Some(field(&mut p)?),
            "limit" => {
                field(&mut p)?;
            }
            "chain" => {
                let (Some(from), Some(total)) = (from, total) else {
                    // A whole chain, as the original answers any GET /api/blocks.
                    return Ok(Answer::WholeChain(bytes));
                };
                p.skip_ws();
                let rest = text[p.offset()..].trim_end();
                let chain = rest
                    .strip_suffix('}')
                    .ok_or_else(|| malformed("\"chain\" must be the last key".into()))?;
                let blocks = parse_chain(chain).map_err(|e| malformed(e.to_string()))?;
                return Ok(Answer::Page(Page {
                    from,
                    total,
                    blocks,
                    bytes: size,
                }));
            }
            other => return Err(malformed(format!("unknown key {:?}", clip(other)))),
        }
        if !p
            .comma_or(b'}', "',' or '}'")
            .map_err(|e| malformed(e.to_string()))?
        {
            return Err(malformed("no \"chain\" key".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::json::Dialect;

    fn page_text(from: u64, total: u64, blocks: &[Block]) -> Bytes {
        let mut out =
            format!("{{\"from\":{from},\"limit\":1000,\"total\":{total},\"chain\":").into_bytes();
        crate::chain::block::write_chain(blocks, Dialect::Compact, &mut out);
        out.push(b'}');
        out.into()
    }

    /// A page reads back as written; a whole chain is recognized by its missing
    /// `total`; malformed answers say what is wrong, with the peer's text clipped.
    #[test]
    fn reads_pages_and_whole_chains() {
        let blocks = crate::miner::synthetic::synthetic_chain(5);
        let Ok(Answer::Page(page)) = parse_answer(page_text(2, 5, &blocks[2..])) else {
            panic!("a page")
        };
        assert_eq!((page.from, page.total), (2, 5));
        assert_eq!(page.blocks, blocks[2..].to_vec());
        let mut whole = b"{\"chain\": ".to_vec();
        crate::chain::block::write_chain(&blocks, Dialect::Python, &mut whole);
        whole.push(b'}');
        assert!(matches!(
            parse_answer(whole.into()),
            Ok(Answer::WholeChain(_))
        ));
        let bad = |text: &str| match parse_answer(Bytes::from(text.to_owned())) {
            Err(FetchError::Malformed(why)) => why,
            other => panic!("{text}: {other:?}"),
        };
        assert!(bad("[]").contains("expected '{'"));
        assert!(bad("{\"from\":-1,\"total\":1,\"chain\":[]}").contains("out of range"));
        assert!(bad("{\"from\":0,\"total\":1,\"chain\":[],\"x\":1}").contains("trailing"));
        assert!(bad("{\"from\":0,\"total\":1}").contains("no \"chain\""));
        let long = format!("{{\"{}\":1}}", "k".repeat(10_000));
        assert!(bad(&long).len() < 300, "clipped");
    }

    /// Only http URLs with a host are peers, and only as a base: a path prefix is
    /// kept (a peer behind a reverse proxy), a query, a fragment or user info, which
    /// would turn the page request into another request, is refused, and so is https,
    /// which the client (built without TLS) could never fetch.
    #[test]
    fn peers_are_http_base_urls() {
        let t = Duration::from_secs(1);
        let base = |peer: &str| PageClient::new(peer, t, 1).map(|c| c.base().to_owned());
        assert_eq!(
            base("http://127.0.0.1:8000/").ok().as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(
            base("http://node.example/minichain/").ok().as_deref(),
            Some("http://node.example/minichain")
        );
        for bad in [
            "https://node.example/minichain/",
            "file:///etc/passwd",
            "not a url",
            "redis://127.0.0.1:6379",
            "http://internal/x#",
            "http://internal/admin#frag",
            "http://internal/x?",
            "http://internal/delete?all=1&",
            "http://user@internal",
            "http://user:secret@internal:8000/",
            "http://:secret@internal/",
        ] {
            assert!(
                matches!(PageClient::new(bad, t, 1), Err(FetchError::BadPeer(_))),
                "{bad} is refused"
            );
        }
    }
}
