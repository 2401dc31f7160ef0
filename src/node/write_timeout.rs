//! A connection's write timeout, shortened once the server runs short of slots.
//!
//! Why: a connection accepted while fewer than a quarter of the slots are free gets a
//! short write timeout ([`PRESSED_WRITE_TIMEOUT`](super::server::PRESSED_WRITE_TIMEOUT))
//! from the start. One accepted earlier, while slots were plenty, had the configured
//! one (30 s by default): a client that asked for the chain and stopped reading before
//! the slots ran short kept its slot that long, or, reading a little now and then,
//! indefinitely, while honest clients waited in the backlog. So a write that waits on
//! its client looks at the slots every [`PRESSURE_LOOK`] too, and once they are short
//! the timeout of that connection drops to the short one for good, counted afresh from
//! then (a client that reads at all makes progress well within it).
//!
//! The timing itself is `tokio-io-timeout`'s: this only changes its setting.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_io_timeout::TimeoutStream;

/// How often a write waiting on its client looks whether the slots have run short.
pub const PRESSURE_LOOK: Duration = Duration::from_secs(1);

/// Says whether the server is short of slots now (cheap: an atomic load or two).
pub trait Pressure {
    /// Whether the connections' slots are short now.
    fn is_pressed(&self) -> bool;
}

/// `stream` with a write timeout of `normal`, or of at most `pressed` once `pressure`
/// says the slots are short while a write waits (or from the start, when they are short
/// already).
pub struct PressedWriteTimeout<S, P> {
    inner: Pin<Box<TimeoutStream<S>>>,
    pressure: P,
    pressed_timeout: Duration,
    /// The timeout is the short one.
    pressed: bool,
    /// When a waiting write looks at the pressure next.
    look: Pin<Box<Sleep>>,
}

impl<S: AsyncRead + AsyncWrite, P: Pressure> PressedWriteTimeout<S, P> {
    /// Wraps `stream`: writes that make no progress fail after `normal`, or after
    /// `pressed` (when shorter) once `pressure` is on.
    pub fn new(stream: S, normal: Duration, pressed: Duration, pressure: P) -> Self {
        let pressed_timeout = pressed.min(normal);
        let is_pressed = pressure.is_pressed();
        let mut inner = TimeoutStream::new(stream);
        inner.set_write_timeout(Some(if is_pressed { pressed_timeout } else { normal }));
        PressedWriteTimeout {
            inner: Box::pin(inner),
            pressure,
            pressed_timeout,
            pressed: is_pressed || pressed_timeout == normal,
            look: Box::pin(tokio::time::sleep(PRESSURE_LOOK)),
        }
    }

    /// Whether this connection's write timeout is the short one.
    pub fn is_pressed(&self) -> bool {
        self.pressed
    }

    /// After a write that waits on its client: arranges to look at the pressure again
    /// soon, and once it is on, shortens the timeout. Returns whether the write should
    /// be tried again at once (the timeout just changed, and the new one must be armed
    /// by a poll).
    fn watch(&mut self, cx: &mut Context<'_>) -> bool {
        if self.pressed {
            return false;
        }
        loop {
            if self.pressure.is_pressed() {
                self.pressed = true;
                // The new timeout counts from the next poll, which arms it.
                self.inner
                    .as_mut()
                    .set_write_timeout_pinned(Some(self.pressed_timeout));
                return true;
            }
            if self.look.is_elapsed() {
                self.look.as_mut().reset(Instant::now() + PRESSURE_LOOK);
            }
            match self.look.as_mut().poll(cx) {
                Poll::Pending => return false,
                // Elapsed between the two lines above: look again.
                Poll::Ready(()) => {}
            }
        }
    }

    /// Runs `op` on the inner stream; while it waits on the client, watches the
    /// pressure (see [`PressedWriteTimeout::watch`]).
    fn waiting<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(Pin<&mut TimeoutStream<S>>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match op(self.inner.as_mut(), cx) {
            Poll::Pending if self.watch(cx) => op(self.inner.as_mut(), cx),
            other => other,
        }
    }
}

impl<S: AsyncRead + AsyncWrite, P: Pressure + Unpin> AsyncRead for PressedWriteTimeout<S, P> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().inner.as_mut().poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite, P: Pressure + Unpin> AsyncWrite for PressedWriteTimeout<S, P> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .waiting(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .waiting(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().waiting(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .waiting(cx, |inner, cx| inner.poll_shutdown(cx))
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

    /// Writes zeros to `stream` (whose peer never reads) until a write fails: the
    /// error.
    async fn write_until_error(
        stream: &mut PressedWriteTimeout<tokio::io::DuplexStream, Switch>,
    ) -> io::Error {
        let chunk = [0u8; 1024];
        loop {
            if let Err(err) = stream.write_all(&chunk).await {
                return err;
            }
        }
    }

    /// A write that waits on a client that never reads keeps the long timeout while
    /// the slots are plenty, and times out on the short one once they run short, even
    /// though the connection was wrapped before (paused clock: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn a_waiting_write_takes_the_short_timeout_once_slots_run_short() {
        let switch = Switch(Arc::new(AtomicBool::new(false)));
        let (ours, _theirs) = tokio::io::duplex(4096);
        let normal = Duration::from_secs(300);
        let short = Duration::from_secs(2);
        let mut stream = PressedWriteTimeout::new(ours, normal, short, switch.clone());
        assert!(!stream.is_pressed());
        let pressure_at = Instant::now() + Duration::from_secs(60);
        let press = {
            let switch = switch.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(pressure_at).await;
                switch.0.store(true, Ordering::SeqCst);
            })
        };
        let err = write_until_error(&mut stream).await;
        let failed_at = Instant::now();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(stream.is_pressed());
        assert!(
            failed_at >= pressure_at + short,
            "timed out {:?} after the pressure, before the short timeout",
            failed_at.saturating_duration_since(pressure_at)
        );
        assert!(
            failed_at <= pressure_at + PRESSURE_LOOK + short,
            "kept {:?} past the pressure",
            failed_at - pressure_at
        );
        press.await.expect("the switch task ends");
    }

    /// Without pressure the configured timeout holds; with pressure from the start,
    /// the short one.
    #[tokio::test(start_paused = true)]
    async fn without_pressure_the_configured_timeout_holds() {
        let (ours, _theirs) = tokio::io::duplex(4096);
        let started = Instant::now();
        let switch = Switch(Arc::new(AtomicBool::new(false)));
        let normal = Duration::from_secs(30);
        let mut stream = PressedWriteTimeout::new(ours, normal, Duration::from_secs(2), switch);
        let err = write_until_error(&mut stream).await;
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= normal);
        assert!(!stream.is_pressed());

        let (ours, _theirs) = tokio::io::duplex(4096);
        let started = Instant::now();
        let switch = Switch(Arc::new(AtomicBool::new(true)));
        let mut stream = PressedWriteTimeout::new(ours, normal, Duration::from_secs(2), switch);
        assert!(stream.is_pressed());
        let err = write_until_error(&mut stream).await;
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < normal);
    }
}
