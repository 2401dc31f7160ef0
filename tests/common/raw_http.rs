//! Raw HTTP/1.1 over plain sockets, for clients no HTTP library would be: half a
//! header, a body that trickles, a declared length never sent. And the node as a child
//! process, whose memory the test reads from `/proc`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Child;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How a connection ended, seen from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The node answered with this status (and may have closed after).
    Answered(u16),
    /// The node closed (or reset) the connection without an answer.
    Closed,
    /// Still open, with nothing received, when the test stopped waiting.
    Open,
}

/// Connects to `addr`.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

/// Connects to `addr` from the loopback address `from` (the loopback takes all of
/// 127/8): a second client address, for the caps per address.
pub async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    let local = format!("{from}:0").parse().expect("an IPv4 address");
    socket.bind(local).expect("a loopback address");
    socket.connect(addr).await.expect("connect")
}

/// Everything the node sends until it closes the connection, as text; panics when it
/// is still open after `within`.
pub async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut answer))
        .await
        .expect("the node closes the connection")
        .expect("what the node sent is read");
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends `bytes`, ignoring a node that closed first (that is what some tests expect).
pub async fn send(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    stream.write_all(bytes).await.is_ok()
}

/// Waits up to `within` for the node's answer or its close: the status line's code if
/// an answer came (interim `1xx` answers are skipped), `Closed` on EOF or reset, `Open`
/// if nothing happened. `within` only bounds the test; the outcome is what is checked.
pub async fn ending(stream: &mut TcpStream, within: Duration) -> Ending {
    ending_of(stream, within).await
}

/// [`ending`] on any reader (such as the read half of a split stream).
pub async fn ending_of<R: AsyncRead + Unpin>(read: &mut R, within: Duration) -> Ending {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, read.read(&mut buf)).await {
            Err(_) => return final_status(&mut got).map_or(Ending::Open, Ending::Answered),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return final_status(&mut got).map_or(Ending::Closed, Ending::Answered);
            }
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if let Some(code) = final_status(&mut got) {
                    return Ending::Answered(code);
                }
            }
        }
    }
}

/// The status of the first final answer in `got`, dropping interim `1xx` answers
/// (such as `100 Continue`) from its front.
fn final_status(got: &mut Vec<u8>) -> Option<u16> {
    loop {
        let code = status_of(got)?;
        if !(100..200).contains(&code) {
            return Some(code);
        }
        let end = got.windows(4).position(|w| w == b"\r\n\r\n")?;
        got.drain(..end + 4);
    }
}

/// Waits up to `within` for the node to close the connection, reading (and
/// discarding) whatever it sends first; true if it closed.
pub async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// The status code of a response whose status line has arrived.
pub fn status_of(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response).ok()?;
    let line = text.split("\r\n").next()?;
    if !text.contains("\r\n") {
        return None;
    }
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// A request head for `method path` with `extra` header lines (each ending `\r\n`).
pub fn head(method: &str, path: &str, extra: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: node\r\n{extra}\r\n").into_bytes()
}

/// A whole POST with a JSON body and its length.
pub fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = head(
        "POST",
        path,
        &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ),
    );
    out.extend_from_slice(body);
    out
}

/// `{"data": [0,0,...]}` of about `bytes` bytes: the cheapest text with the costliest
/// tree.
pub fn zeros_request(bytes: usize) -> Vec<u8> {
    let n = bytes.saturating_sub(12) / 2;
    let mut out = b"{\"data\": [".to_vec();
    for i in 0..n {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'0');
    }
    out.extend_from_slice(b"]}");
    out
}

/// A `minichain node` child process.
pub struct NodeProcess {
    pub child: Child,
    pub addr: SocketAddr,
    /// The node's own data directory, removed with it (never the user's default).
    _data: tempfile::TempDir,
}

impl NodeProcess {
    /// Starts `minichain node` alone (no Redis, no root) on a free port, one mining
    /// thread at a pinned difficulty no search reaches (a block that never comes),
    /// with `extra` flags.
    pub fn start(extra: &[&str]) -> NodeProcess {
        let data = tempfile::tempdir().expect("a temporary data directory");
        let mut command = super::process::unreachable_node_command(data.path());
        let (child, addr, lines) = super::process::spawn_until_listening(command.args(extra));
        // Keep draining the log so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        NodeProcess {
            child,
            addr: addr.parse().expect("a socket address"),
            _data: data,
        }
    }

    /// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`).
    pub fn memory_kb(&self, field: &str) -> u64 {
        super::process::status_kb(self.child.id(), field)
    }

    /// `http://ADDR`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
