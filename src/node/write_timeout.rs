//! A connection's write timeout, shorter while the server is short of slots.
//!
//! Why: a client that asks for the chain and stops reading holds its connection's slot
//! until a write times out. While slots are plenty that may take the configured write
//! timeout (30 s by default); once fewer than a quarter are free, honest clients wait
//! in the backlog behind such connections, so a write that has waited
//! [`PRESSED_WRITE_TIMEOUT`](super::server::PRESSED_WRITE_TIMEOUT) (2 s) is cut then,
//! whenever its connection was accepted: one accepted while slots were plenty, and
//! stalled since, is cut within [`PRESSURE_LOOK`] of the slots running short. A client
//! that reads at all makes progress well within the short timeout, and a write that
//! waited through a short spike of connections is judged by the configured timeout
//! again once it has passed.
//!
//! Hand-written rather than `tokio-io-timeout`'s fixed timeout, which cannot follow the
//! pressure: one timer per connection, armed when a write starts to wait and moved
//! as it goes on waiting.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How often a write that has waited past the short timeout, while slots are plenty,
/// looks again whether they have run short.
pub const PRESSURE_LOOK: Duration = Duration::from_secs(1);

/// Says whether the server is short of slots now (cheap: an atomic load or two).
pub trait Pressure {
    /// Whether the connections' slots are short now.
    fn is_pressed(&self) -> bool;
}

/// `stream` whose writes fail with [`io::ErrorKind::TimedOut`] once one has waited on
/// its client `normal` without progress, or `pressed` (when shorter) while `pressure`
/// is on.
pub struct WriteTimeout<S, P> {
    inner: S,
    normal: Duration,
    pressed: Duration,
    pressure: P,
    /// When the write now waiting started to wait; `None` when none waits.
    waiting_since: Option<Instant>,
    /// Wakes the connection to judge a waiting write again.
    timer: Pin<Box<Sleep>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin, P: Pressure> WriteTimeout<S, P> {
    /// Wraps `stream` (see [`WriteTimeout`]).
    pub fn new(stream: S, normal: Duration, pressed: Duration, pressure: P) -> Self {
        WriteTimeout {
            inner: stream,
            normal,
            pressed: pressed.min(normal),
            pressure,
            waiting_since: None,
            timer: Box::pin(tokio::time::sleep_until(Instant::now())),
        }
    }

    /// Judges a write that waits on its client: the error once it has waited too
    /// long, else `None` with the timer set for the next judgement.
    fn judge(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        loop {
            let now = Instant::now();
            let waited = now.saturating_duration_since(since);
            let limit = if self.pressure.is_pressed() {
                self.pressed
            } else {
                self.normal
            };
            if waited >= limit {
                return Some(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client read nothing for the write timeout",
                ));
            }
            // Before the short timeout nothing can cut the write; past it, only the
            // pressure can, before the configured timeout.
            let look = now + PRESSURE_LOOK;
            let next = if waited < self.pressed {
                since + self.pressed
            } else {
                // A configured timeout too far off to add is never reached.
                since
                    .checked_add(self.normal)
                    .map_or(look, |end| end.min(look))
            };
            if self.timer.deadline() != next {
                self.timer.as_mut().reset(next);
            }
            match self.timer.as_mut().poll(cx) {
                Poll::Pending => return None,
                // Due already (the clock moved on while judging): judge again.
                Poll::Ready(()) => {}
            }
        }
    }

    /// Runs `op` (a write, flush or shutdown) on the stream: progress ends the wait,
    /// a wait is judged.
    fn write_op<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match op(Pin::new(&mut self.inner), cx) {
            Poll::Ready(done) => {
                self.waiting_since = None;
                Poll::Ready(done)
            }
            Poll::Pending => match self.judge(cx) {
                Some(err) => Poll::Ready(Err(err)),
                None => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin, P: Pressure + Unpin> AsyncRead for WriteTimeout<S, P> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin, P: Pressure + Unpin> AsyncWrite for WriteTimeout<S, P> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_op(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write_op(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .write_op(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .write_op(cx, |inner, cx| inner.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::io::AsyncWriteExt;

    use super::*;

    #[derive(Clone)]
    struct Switch(Arc<AtomicBool>);

    impl Pressure for Switch {
        fn is_pressed(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }

    const NORMAL: Duration = Duration::from_secs(300);
    const SHORT: Duration = Duration::from_secs(2);

    /// A stream whose peer never reads, under `switch`.
    fn stalled(switch: &Switch) -> WriteTimeout<tokio::io::DuplexStream, Switch> {
        let (ours, theirs) = tokio::io::duplex(4096);
        // The peer stays open (and never reads) for the test's life.
        std::mem::forget(theirs);
        WriteTimeout::new(ours, NORMAL, SHORT, switch.clone())
    }

    /// Writes to `stream` until a write fails: how long after `from` it failed.
    async fn fails_after(
        stream: &mut WriteTimeout<tokio::io::DuplexStream, Switch>,
        from: Instant,
    ) -> Duration {
        let chunk = [0u8; 1024];
        loop {
            if let Err(err) = stream.write_all(&chunk).await {
                assert_eq!(err.kind(), io::ErrorKind::TimedOut);
                return from.elapsed();
            }
        }
    }

    /// Sets `switch` to `on` at `at`.
    fn switch_at(switch: &Switch, at: Instant, on: bool) -> tokio::task::JoinHandle<()> {
        let switch = switch.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            switch.0.store(on, Ordering::SeqCst);
        })
    }

    /// A write stalled since before the slots ran short is cut within a look of their
    /// running short, having waited longer than the short timeout (paused clock: no
    /// real waiting, and exact times).
    #[tokio::test(start_paused = true)]
    async fn a_write_stalled_before_the_pressure_is_cut_soon_after_it() {
        let switch = Switch(Arc::new(AtomicBool::new(false)));
        let mut stream = stalled(&switch);
        let start = Instant::now();
        let pressure_at = start + Duration::from_secs(60);
        let press = switch_at(&switch, pressure_at, true);
        let failed = fails_after(&mut stream, start).await;
        let after_pressure = failed - (pressure_at - start);
        assert!(
            failed >= Duration::from_secs(60) && after_pressure <= PRESSURE_LOOK,
            "cut {failed:?} in, {after_pressure:?} after the pressure"
        );
        press.await.expect("the switch task ends");
    }

    /// Without pressure the configured timeout holds; with pressure from the start,
    /// the short one; and a write that waited through a spike of pressure shorter than
    /// the short timeout is judged by the configured one again.
    #[tokio::test(start_paused = true)]
    async fn the_timeout_follows_the_pressure() {
        let off = Switch(Arc::new(AtomicBool::new(false)));
        let start = Instant::now();
        assert_eq!(fails_after(&mut stalled(&off), start).await, NORMAL);

        let on = Switch(Arc::new(AtomicBool::new(true)));
        let start = Instant::now();
        assert_eq!(fails_after(&mut stalled(&on), start).await, SHORT);

        let spike = Switch(Arc::new(AtomicBool::new(false)));
        let start = Instant::now();
        let rises = switch_at(&spike, start + Duration::from_millis(500), true);
        let falls = switch_at(&spike, start + Duration::from_millis(1500), false);
        assert_eq!(fails_after(&mut stalled(&spike), start).await, NORMAL);
        rises.await.expect("the switch task ends");
        falls.await.expect("the switch task ends");
    }
}
