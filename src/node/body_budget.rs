//! Request bodies read under three bounds: a per-request size limit (413), one byte
//! budget shared by every connection (503), and a total time to send the whole body
//! (408).
//!
//! Why a shared budget: a per-request limit alone lets a few hundred slow uploads of
//! `POST /api/chain` (32 MiB each) hold gigabytes before any later check sees them. A
//! body reserves its declared `Content-Length` before a byte is read (so a declared
//! size that does not fit is refused at once), or grows its reservation as it arrives
//! when it declares none; the reservation lasts as long as the handler holds the
//! [`ReadBody`].
//!
//! Why uploads get only a share of it ([`BodyBudget::capped`]): a pushed chain may
//! declare up to the Redis message limit (32 MiB), so four connections that send only
//! their headers would hold the whole default budget for the body timeout, and every
//! mining request would get 503 meanwhile. Pushed chains draw on at most
//! [`UPLOAD_SHARE`] of the budget; the rest is always there for mining requests.
//!
//! Why a total time and not a per-chunk one: a body that sends one byte just before
//! each per-chunk deadline would hold its connection and its reservation forever.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body (declared or sent) is over the route's limit.
    #[error("request body is over the limit of {0} bytes")]
    TooLarge(usize),
    /// The bodies being read already hold the budget.
    #[error(
        "the node is reading too many request bodies at once ({needed} more bytes do not fit in its budget of {budget}); try again later"
    )]
    Busy {
        /// Bytes this body needed reserved.
        needed: usize,
        /// The whole budget.
        budget: usize,
    },
    /// The client did not send the whole body in time.
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    /// The connection failed while the body was read (or the client sent a malformed
    /// body).
    #[error("cannot read the request body: {0}")]
    Read(String),
}

/// The part of the budget that pushed chains may hold at once, in quarters: the last
/// quarter is kept for mining requests.
pub const UPLOAD_SHARE: (usize, usize) = (3, 4);

/// The shared budget and the time limit; cheap to clone.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    budget: usize,
    /// A second, smaller pool that this user's bodies also draw on, when it gets only
    /// part of the budget ([`BodyBudget::capped`]).
    cap: Option<Arc<Semaphore>>,
    timeout: Duration,
}

/// A body read whole, with its share of the budget: the share returns when this is
/// dropped.
#[derive(Debug)]
pub struct ReadBody {
    /// The body.
    pub bytes: Bytes,
    _reserved: Reservation,
}

/// Bytes reserved from the budget (none, or one merged permit), and as many from the
/// cap when there is one.
#[derive(Debug, Default)]
struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    capped: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    fn len(&self) -> usize {
        self.permit
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits)
    }
}

/// Adds `permit` to the one held in `held`, if any.
fn merge(held: &mut Option<OwnedSemaphorePermit>, permit: OwnedSemaphorePermit) {
    match held {
        Some(held) => held.merge(permit),
        None => *held = Some(permit),
    }
}

impl BodyBudget {
    /// A budget of `budget` bytes, and `timeout` to send a body.
    pub fn new(budget: usize, timeout: Duration) -> BodyBudget {
        let budget = budget.min(Semaphore::MAX_PERMITS);
        BodyBudget {
            bytes: Arc::new(Semaphore::new(budget)),
            budget,
            cap: None,
            timeout,
        }
    }

    /// The same budget for a user that may hold at most [`UPLOAD_SHARE`] of it at once
    /// (at least one byte): what it holds counts in the whole budget as well, and the
    /// rest of the budget stays free for the others.
    pub fn capped(&self) -> BodyBudget {
        let (part, whole) = UPLOAD_SHARE;
        let cap = (self.budget / whole).saturating_mul(part).max(1);
        BodyBudget {
            cap: Some(Arc::new(Semaphore::new(cap))),
            ..self.clone()
        }
    }

    /// Bytes of the budget free now (tests and `/api/status`).
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// The whole budget.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Reads `body` whole, at most `limit` bytes, within the time limit, reserving its
    /// bytes from the budget as it goes.
    ///
    /// # Errors
    /// [`BodyError`] saying which bound the body broke.
    pub async fn read(
        &self,
        headers: &HeaderMap,
        body: Body,
        limit: usize,
    ) -> Result<ReadBody, BodyError> {
        // hyper has refused a malformed Content-Length already; one we cannot read as
        // a number here is only not a hint.
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(BodyError::TooLarge(limit));
        }
        let declared = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit));
        let mut reserved = Reservation::default();
        self.reserve(&mut reserved, declared)?;
        let read = self.collect(body, limit, declared, &mut reserved);
        let bytes = tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| BodyError::TimedOut(self.timeout))??;
        Ok(ReadBody {
            bytes,
            _reserved: reserved,
        })
    }

    /// Grows `reserved` to `total` bytes, or fails without waiting.
    fn reserve(&self, reserved: &mut Reservation, total: usize) -> Result<(), BodyError> {
        let more = total.saturating_sub(reserved.len());
        if more == 0 {
            return Ok(());
        }
        let busy = BodyError::Busy {
            needed: more,
            budget: self.budget,
        };
        let n = u32::try_from(more).map_err(|_| busy.clone())?;
        // The cap first: a body over its share takes nothing from the whole budget. A
        // cap permit taken for a body the whole budget then refuses is dropped here.
        let capped = match &self.cap {
            Some(cap) => Some(
                Arc::clone(cap)
                    .try_acquire_many_owned(n)
                    .map_err(|_| busy.clone())?,
            ),
            None => None,
        };
        let permit = Arc::clone(&self.bytes)
            .try_acquire_many_owned(n)
            .map_err(|_| busy)?;
        merge(&mut reserved.permit, permit);
        if let Some(capped) = capped {
            merge(&mut reserved.capped, capped);
        }
        Ok(())
    }

    /// Reads the frames into one buffer, keeping its capacity within `reserved`.
    async fn collect(
        &self,
        body: Body,
        limit: usize,
        declared: usize,
        reserved: &mut Reservation,
    ) -> Result<Bytes, BodyError> {
        let mut stream = body.into_data_stream();
        // A body in one chunk (the usual case) is kept as hyper gave it, with no copy.
        let mut first: Option<Bytes> = None;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| BodyError::Read(cut(&e.to_string())))?;
            let held = first.as_ref().map_or(buf.len(), Bytes::len);
            let total = held.saturating_add(chunk.len());
            if total > limit {
                return Err(BodyError::TooLarge(limit));
            }
            if first.is_none() && buf.is_empty() {
                self.reserve(reserved, total)?;
                first = Some(chunk);
                continue;
            }
            if let Some(earlier) = first.take() {
                // The second chunk: from now on, one buffer sized for the declared
                // body (already reserved) or grown as chunks come.
                let size = declared.max(total);
                self.reserve(reserved, size)?;
                buf.reserve_exact(size);
                buf.extend_from_slice(&earlier);
            }
            if buf.capacity() < total {
                // Doubling, as a Vec grows, but within the limit; the reservation
                // covers the capacity, not only the bytes in it.
                let grown = total.max(buf.capacity().saturating_mul(2)).min(limit);
                self.reserve(reserved, grown)?;
                buf.reserve_exact(grown - buf.len());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(match first {
            Some(only) => only,
            None => Bytes::from(buf),
        })
    }
}

/// The first 200 characters of an error from the connection, which may echo what the
/// client sent.
fn cut(text: &str) -> String {
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(length: Option<usize>) -> HeaderMap {
        let mut map = HeaderMap::new();
        if let Some(n) = length {
            map.insert(header::CONTENT_LENGTH, n.into());
        }
        map
    }

    fn chunked(chunks: Vec<&'static [u8]>) -> Body {
        let stream = futures_util::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))),
        );
        Body::from_stream(stream)
    }

    /// A body is read whole; its bytes stay reserved until the [`ReadBody`] goes.
    #[tokio::test]
    async fn reserves_while_held_and_returns_after() {
        let budget = BodyBudget::new(100, Duration::from_secs(5));
        let body = budget
            .read(&headers(Some(5)), Body::from("hello"), 50)
            .await
            .expect("fits");
        assert_eq!(&body.bytes[..], b"hello");
        assert_eq!(budget.available(), 95);
        let chunks = budget
            .read(&headers(None), chunked(vec![b"ab", b"cd", b"ef"]), 50)
            .await
            .expect("fits");
        assert_eq!(&chunks.bytes[..], b"abcdef");
        assert!(budget.available() <= 89);
        drop((body, chunks));
        assert_eq!(budget.available(), 100);
    }

    /// Over the route's limit: 413, declared or sent; over what is left: 503.
    #[tokio::test]
    async fn refuses_what_does_not_fit() {
        let budget = BodyBudget::new(100, Duration::from_secs(5));
        let too_large = budget
            .read(&headers(Some(51)), Body::from("x"), 50)
            .await
            .err();
        assert_eq!(too_large, Some(BodyError::TooLarge(50)));
        let sent_too_much = budget
            .read(&headers(None), chunked(vec![&[0; 30], &[0; 30]]), 50)
            .await
            .err();
        assert_eq!(sent_too_much, Some(BodyError::TooLarge(50)));
        assert_eq!(budget.available(), 100);
        let held = budget
            .read(&headers(Some(80)), Body::from(vec![0u8; 80]), 100)
            .await
            .expect("fits");
        let busy = budget
            .read(&headers(Some(30)), Body::from(vec![0u8; 30]), 100)
            .await
            .err();
        assert!(
            matches!(busy, Some(BodyError::Busy { needed: 30, .. })),
            "{busy:?}"
        );
        drop(held);
        assert_eq!(budget.available(), 100);
    }

    /// Reads an `n`-byte body that declares its length through `budget`.
    async fn upload(budget: &BodyBudget, n: usize) -> Result<ReadBody, BodyError> {
        budget
            .read(&headers(Some(n)), Body::from(vec![0u8; n]), 100)
            .await
    }

    /// A capped user holds at most its share, counted in the whole budget too: the
    /// uncapped user still finds the rest, and the capped one is refused both past its
    /// share and when the whole budget is taken.
    #[tokio::test]
    async fn a_capped_user_leaves_the_rest_of_the_budget() {
        let budget = BodyBudget::new(100, Duration::from_secs(5));
        let uploads = budget.capped();
        let first = upload(&uploads, 50).await.expect("within the share");
        let second = upload(&uploads, 25).await.expect("within the share");
        let busy = upload(&uploads, 1).await.err();
        assert!(
            matches!(busy, Some(BodyError::Busy { needed: 1, .. })),
            "{busy:?}"
        );
        assert_eq!(budget.available(), 25);
        let mining = budget
            .read(&headers(Some(25)), Body::from(vec![0u8; 25]), 100)
            .await
            .expect("the quarter kept for the uncapped user");
        drop(first);
        // The share has room again, the whole budget only 50 bytes.
        let busy = upload(&uploads, 60).await.err();
        assert!(
            matches!(busy, Some(BodyError::Busy { needed: 60, .. })),
            "{busy:?}"
        );
        assert_eq!(budget.available(), 50, "a refused body holds nothing");
        let third = upload(&uploads, 50)
            .await
            .expect("the share's room and the budget's");
        assert_eq!(budget.available(), 0);
        drop((second, third, mining));
        assert_eq!(budget.available(), 100);
        assert_eq!(upload(&uploads, 75).await.map(|b| b.bytes.len()), Ok(75));
    }

    /// A body that never ends is cut after the total time, and its bytes return.
    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let budget = BodyBudget::new(100, Duration::from_millis(50));
        let stream = futures_util::stream::once(async {
            Ok::<_, std::io::Error>(Bytes::from_static(b"ab"))
        })
        .chain(futures_util::stream::pending());
        let err = budget
            .read(&headers(Some(10)), Body::from_stream(stream), 50)
            .await
            .err();
        assert_eq!(err, Some(BodyError::TimedOut(Duration::from_millis(50))));
        assert_eq!(budget.available(), 100);
    }
}
