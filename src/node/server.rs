//! The HTTP server: the node's own accept loop over hyper's HTTP/1 connections, so that
//! a slow client cannot hold a connection, and many cannot hold them all.
//!
//! Why not `axum::serve`: it gives hyper no timer, so hyper's header-read timeout is
//! off, and a client that sends half a request head keeps its connection forever
//! (axum#2741). Here every connection gets `header_timeout` to send each request head;
//! hyper restarts that clock when a keep-alive connection goes idle,
//! so an idle connection is closed after the same time. hyper has no write timeout:
//! a client that asks for the chain and stops reading would hold its connection (and
//! the snapshot it reads) for good, so each connection's writes are wrapped in one
//! ([`super::write_timeout`]): a write that makes no progress for `write` is an error,
//! and the connection closes. The number of connections is capped by a semaphore
//! taken before `accept`: past the cap, new connections wait in the kernel's listen
//! backlog while the node serves the ones it has. While fewer than a quarter of the
//! slots are free, a connection accepted then gets a short header timeout
//! ([`PRESSED_HEADER_TIMEOUT`]), and any connection's write that has waited
//! [`PRESSED_WRITE_TIMEOUT`] is cut: otherwise a client that opens connections and
//! sends nothing (or asks for the chain and does not read it) could hold the last
//! slots (those event streams leave, say) a whole header (or write) timeout each,
//! reopen them at once, and keep honest clients waiting in the backlog. A request head
//! is at most 32 KiB, so stalled connections hold little memory each. Shutdown stops
//! accepting and lets every open connection finish its request (graceful drain).
//!
//! One client address (an IPv4 address, or an IPv6 /64, which one host may hold
//! whole) may hold at most `max_per_address` of the slots: past that its new
//! connections get a 503 (a client still sending may see a reset instead) and are
//! closed at once, so one client cannot take every slot however it paces its
//! connections (slowly reading answers, say, each kept until its write timeout).
//!
//! HTTP/1 only, as the original's uvicorn serves: HTTP/2 would bring multiplexed
//! streams whose headers have no read timeout.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::address_count::{AddressCounts, ClientAddress};
use super::write_timeout::{Pressure, WriteTimeout};

/// How long the loop pauses after an accept error that is not the client's (such as
/// running out of file descriptors), so that it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The header timeout (time to send each request head, and the longest idle time
/// between requests) of a connection accepted while fewer than a quarter of the slots
/// are free, when the configured one is longer: a request head is a few hundred bytes,
/// which any client sends in far less.
pub const PRESSED_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The write timeout (longest a write may wait with no progress) while fewer than a
/// quarter of the slots are free, when the configured one is longer, for every
/// connection however long it has been open: a client that asks for the chain and
/// stops reading would otherwise hold one of the last slots a whole write timeout, and
/// one that reads now and then, indefinitely. A client that reads at all makes
/// progress well within it (see [`super::write_timeout`]).
pub const PRESSED_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest request head (request line and headers) read; a larger one gets 431. The
/// API's requests carry a few hundred bytes of head; without this cap hyper buffers up
/// to its read buffer's 400 KB per connection, which a thousand stalled connections
/// turn into 400 MB held until their header timeout.
const MAX_HEAD_BYTES: usize = 32 * 1024;

/// Send buffer for client connections: a whole `GET /api/blocks` body of a
/// thousand-block chain (about 300 KB) fits, so hyper hands it to the kernel in one
/// write instead of waiting for the client to drain 16 KB at a time.
const SEND_BUFFER_BYTES: usize = 1024 * 1024;

/// Open client connections, shared with `/api/status` and tests.
#[derive(Debug, Clone)]
pub struct ConnectionCount {
    slots: Arc<Semaphore>,
    max: usize,
    per_address: Arc<AddressCounts>,
}

impl ConnectionCount {
    /// Room for `max` connections (at least one), at most `max_per_address` (at least
    /// one, at most `max`) from one client address.
    pub fn new(max: usize, max_per_address: usize) -> ConnectionCount {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        ConnectionCount {
            slots: Arc::new(Semaphore::new(max)),
            max,
            per_address: AddressCounts::new(max_per_address.clamp(1, max)),
        }
    }

    /// The cap per client address.
    pub fn max_per_address(&self) -> usize {
        self.per_address.max()
    }

    /// Connections refused because their address had its share open.
    pub fn refused_per_address(&self) -> u64 {
        self.per_address.refused()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// Fewer than a quarter of the slots are free: new connections get the short header
/// timeout, and every waiting write the short write timeout.
impl Pressure for ConnectionCount {
    fn is_pressed(&self) -> bool {
        self.slots.available_permits() * 4 < self.max
    }
}

/// The time limits on each client connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time to send each request head, and the longest idle time between requests.
    pub header: Duration,
    /// Longest a write may wait without progress (a client that does not read).
    pub write: Duration,
}

/// Serves `app` on `listener` until `shutdown` turns true, then drains the open
/// connections (the caller bounds how long it waits for that). Each connection has
/// `timeouts.header` to send each request head, and may stay idle between requests as
/// long (at most [`PRESSED_HEADER_TIMEOUT`] when it is accepted with fewer than a
/// quarter of the slots free), and its writes may wait `timeouts.write` on a client
/// that does not read (at most [`PRESSED_WRITE_TIMEOUT`] while fewer than a quarter
/// are free); at most `connections`' cap are open at once, and at most its share per
/// client address.
///
/// # Errors
/// None today: accept errors are logged and the loop goes on, as a listening socket
/// outlives a full file table or a client that resets early.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    connections: ConnectionCount,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let builder = |header_timeout: Duration| {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_header_size(MAX_HEAD_BYTES)
            .keep_alive(true);
        http
    };
    let http = builder(timeouts.header);
    let pressed = builder(timeouts.header.min(PRESSED_HEADER_TIMEOUT));
    let refusal = too_many_from_address(connections.max_per_address());
    let graceful = GracefulShutdown::new();
    loop {
        // The slot is taken before accepting: past the cap, connections wait in the
        // kernel's backlog and cost the node nothing.
        let slot = tokio::select! {
            slot = Arc::clone(&connections.slots).acquire_owned() => {
                slot.expect("the connection semaphore is never closed")
            }
            () = stopped(&mut shutdown) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    if !is_connection_error(&err) {
                        tracing::error!(%err, "accept failed; pausing");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let Some(address_slot) = connections.per_address.admit(peer.ip()) else {
            refuse(stream, &refusal);
            tracing::debug!(peer = %peer.ip(), "refused a connection: its address has its share open");
            continue;
        };
        tune_socket(&stream);
        let short_of_slots = connections.is_pressed();
        // The write timeout follows the slots left (see `super::write_timeout`).
        let stream = WriteTimeout::new(
            stream,
            timeouts.write,
            PRESSED_WRITE_TIMEOUT,
            connections.clone(),
        );
        let http = if short_of_slots { &pressed } else { &http };
        // Each request carries its client's address, for the caps per address that
        // handlers keep (event streams).
        let client = ClientAddress(peer.ip());
        let service = tower::ServiceExt::map_request(
            app.clone(),
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(client);
                request
            },
        );
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                // Timeouts and clients that go away: theirs, not ours.
                tracing::debug!(%err, "connection closed with an error");
            }
            // The address's place first: a slot freed before it could let the next
            // connection from the same address be counted against a share that still
            // holds this one (and refused, with the cap per address at the cap).
            drop(address_slot);
            drop(slot);
        });
    }
    drop(listener);
    tracing::debug!(open = connections.open(), "draining connections");
    graceful.shutdown().await;
    Ok(())
}

/// Tells a connection past its address's share why, and closes it, never waiting on
/// it: the answer goes into a fresh socket's empty buffer, and whatever the client sent
/// already is read off first, so that the close is a clean end rather than a reset that
/// could discard the answer. A client still sending may see a reset all the same.
/// (A std socket: tokio's own writes wait for a readiness event that a socket just
/// accepted has not had yet, and std's send never raises SIGPIPE.)
fn refuse(stream: TcpStream, refusal: &[u8]) {
    let Ok(mut stream) = stream.into_std() else {
        return;
    };
    let _ = std::io::Write::write(&mut stream, refusal);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 4096];
    // A request head is at most MAX_HEAD_BYTES; the rest, if any, is not waited for.
    for _ in 0..MAX_HEAD_BYTES / sink.len() {
        match std::io::Read::read(&mut stream, &mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// The answer to a connection past its address's share: 503, with the JSON error
/// every other refusal has, and the connection closed.
fn too_many_from_address(max_per_address: usize) -> Vec<u8> {
    let body = format!(
        r#"{{"error":"too many connections from this address: at most {max_per_address} at once"}}"#
    );
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Completes once the shutdown flag is set (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, not in the caller.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Errors that concern one client's connection, not the listener.
fn is_connection_error(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Per-connection socket options: no Nagle delay on small answers, a large send
/// buffer for the chain. Failures only cost speed, so they are ignored.
fn tune_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(stream).set_send_buffer_size(SEND_BUFFER_BYTES);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The connection cap's share per address is at most the cap itself.
    #[test]
    fn the_share_per_address_is_within_the_cap() {
        let count = ConnectionCount::new(8, 2);
        let ip: std::net::IpAddr = "192.0.2.7".parse().expect("an address");
        let held = [count.per_address.admit(ip), count.per_address.admit(ip)];
        assert!(held.iter().all(Option::is_some));
        assert!(count.per_address.admit(ip).is_none());
        assert_eq!(count.refused_per_address(), 1);
        assert_eq!(count.max_per_address(), 2);
        assert_eq!(ConnectionCount::new(8, 100).max_per_address(), 8);
    }
}
