//! `minichain node` as a real process on a data directory: started, read until it
//! listens (or exits), killed with SIGKILL or stopped with SIGTERM.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Lines};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A node process and its base URL.
pub struct NodeProcess {
    pub child: Child,
    pub base: String,
    /// Its stderr so far (kept by a reader thread).
    pub log: Arc<Mutex<String>>,
}

/// The command line of a lone test node on `data_dir` with `flags`: a free port, no
/// root, one mining thread, its log (stderr) piped.
fn lone_node_command(data_dir: &Path, flags: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_minichain"));
    command
        .args(["node", "--port", "0", "--root", "none", "--threads", "1"])
        .args(flags)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// The command line of a lone test node on `data_dir`: a free port, no root, one
/// portable-kernel thread (no start-up calibration: it takes seconds unoptimized),
/// and a mine rate that keeps the difficulty at its floor of 1.
pub fn node_command(data_dir: &Path, redis: Option<&str>) -> Command {
    lone_node_command(
        data_dir,
        &[
            "--kernel",
            "portable",
            "--mine-rate-ms",
            "0",
            "--miner-nice",
            "0",
            "--redis",
            redis.unwrap_or("none"),
        ],
    )
}

/// The command line of a lone node on `data_dir` that never finds a block: no Redis, no
/// root, one mining thread at a pinned difficulty no search reaches.
pub fn unreachable_node_command(data_dir: &Path) -> Command {
    lone_node_command(data_dir, &["--redis", "none", "--difficulty", "60"])
}

/// Spawns `command` (whose stderr is piped) and reads its log until the node listens:
/// the child, the address it listens on, and the rest of its log lines, which the
/// caller must drain so that the node never blocks on a full pipe.
pub fn spawn_until_listening(
    command: &mut Command,
) -> (Child, String, Lines<BufReader<ChildStderr>>) {
    let mut child = command.spawn().expect("start minichain node");
    let stderr = child.stderr.take().expect("a piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = read_until_listening(&mut lines);
    (child, addr, lines)
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`).
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The address in a node's "node listening addr=..." log line, if `line` is that line.
pub fn listening_addr(line: &str) -> Option<&str> {
    line.split("node listening addr=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
}

/// Reads a node's stderr `lines` until it logs where it listens, and returns that
/// address; the lines after it are left for the caller to drain.
pub fn read_until_listening(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> String {
    loop {
        let line = lines
            .next()
            .expect("the node logs before it exits")
            .expect("a log line");
        if let Some(addr) = listening_addr(&line) {
            return addr.to_owned();
        }
    }
}

/// What became of a started node.
pub enum Started {
    /// It listens.
    Listening(NodeProcess),
    /// It exited first: its status and stderr.
    Exited(ExitStatus, String),
}

/// Starts `command` and waits until the node logs "node listening" or exits.
pub fn start(mut command: Command) -> Started {
    let mut child = command.spawn().expect("start minichain node");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_addr(&line) {
                    let _ = tx.send(addr.to_owned());
                }
                let mut log = log.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => Started::Listening(NodeProcess {
            child,
            base: format!("http://{addr}"),
            log,
        }),
        Err(_) => {
            // The log closed (the node exited) or it never listened.
            let status = wait_exit(&mut child, Duration::from_secs(30));
            let text = log.lock().expect("log lock").clone();
            Started::Exited(status, text)
        }
    }
}

/// Starts `command`, which must listen.
pub fn start_listening(command: Command) -> NodeProcess {
    match start(command) {
        Started::Listening(node) => node,
        Started::Exited(status, log) => panic!("the node exited ({status}) instead:\n{log}"),
    }
}

impl NodeProcess {
    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        wait_exit(&mut self.child, Duration::from_secs(20))
    }

    /// The stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }
}

/// Waits for `child` to exit; panics after `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `python3 -c script` with `input` on stdin; its stdout.
pub fn python(script: &str, input: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to python3");
    let output = child.wait_with_output().expect("python3 finishes");
    assert!(
        output.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// What a Python node makes of a published chain message: `json.loads` must read it
/// and `json.dumps` give it back byte for byte; prints the chain's length and its tip's
/// `data["from"]`.
pub fn python_reads_back(message: &[u8]) -> String {
    python(
        "import json, sys\n\
         m = sys.stdin.buffer.read().decode('utf-8')\n\
         chain = json.loads(m)\n\
         assert json.dumps(chain) == m, 'not in json.dumps form'\n\
         print(len(chain), chain[-1]['data']['from'])",
        message,
    )
}
