//! The node's parts that must run for as long as it does, and how it learns that one
//! has stopped.
//!
//! Why: a node runs for days under a supervisor. If the chain writer, the mining
//! coordinator or the HTTP server stopped early (a panic: a bug), the rest of the node
//! would go on half-alive, serving a chain that never moves again, with nothing to say
//! so but a line in a log. So [`PartsWatch::stopped`] resolves as soon as a critical
//! part has stopped: `node::run` then shuts the node down and fails with
//! [`PartsStopped`], which the binary turns into a non-zero exit, and the supervisor
//! starts it again on its stored chain (each store write is one transaction).
//!
//! What counts: a thread (the writer, the coordinator) or the server that has ended
//! before shutdown, whatever the cause (they end only when the node stops), and a task
//! that ended in a panic (some tasks end early by design, such as the start-up sync).

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinHandle};

/// How often the threads and the server are looked at: a thread can only be asked
/// whether it has finished, not awaited. A stopped part is noticed within this.
pub const PART_POLL: Duration = Duration::from_millis(250);

/// The node's parts that stopped before it was told to stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the node stopped because a part of it stopped ({}); a panic's message is in the log \
     above; its stored chain is intact, start it again",
    .parts.join(", ")
)]
pub struct PartsStopped {
    /// Each part's name and what it is (`chain writer thread`, `gap filler task`, ...).
    pub parts: Vec<String>,
}

/// The node's tasks, handed to [`PartsWatch::new`]: each with its name.
pub type NamedTasks = Vec<(&'static str, JoinHandle<()>)>;

/// Watches the node's critical threads, server and tasks (see the module docs).
#[derive(Debug)]
pub struct PartsWatch {
    threads: Vec<(&'static str, std::thread::JoinHandle<()>)>,
    /// Names of tasks that panicked, from the task that awaits them.
    panicked: watch::Receiver<Vec<&'static str>>,
    /// What stops the tasks at shutdown (their join handles are with the watcher).
    aborts: Vec<AbortHandle>,
    watcher: JoinHandle<()>,
}

impl PartsWatch {
    /// Takes the node's threads and tasks: the tasks are awaited by a task of its own,
    /// which notes those that panic.
    pub fn new(
        threads: Vec<(&'static str, std::thread::JoinHandle<()>)>,
        tasks: NamedTasks,
    ) -> PartsWatch {
        let aborts = tasks.iter().map(|(_, task)| task.abort_handle()).collect();
        let (noted, panicked) = watch::channel(Vec::new());
        let watcher = tokio::spawn(note_panics(tasks, noted));
        PartsWatch {
            threads,
            panicked,
            aborts,
            watcher,
        }
    }

    /// Resolves once a critical part has stopped: a thread, or the server (`server`
    /// says whether it has finished), that ended, or a task that panicked. Never
    /// resolves while they all run.
    pub async fn stopped(&self, server: impl Fn() -> bool) -> PartsStopped {
        let mut panicked = self.panicked.clone();
        // Until the watcher has ended (every task did): then only the poll remains, and
        // what it noted stays readable.
        let mut noting = true;
        let mut poll = tokio::time::interval(PART_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut parts: Vec<String> = self
                .threads
                .iter()
                .filter(|(_, thread)| thread.is_finished())
                .map(|(name, _)| format!("{name} thread"))
                .collect();
            if server() {
                parts.push("HTTP server".into());
            }
            parts.extend(
                panicked
                    .borrow_and_update()
                    .iter()
                    .map(|name| format!("{name} task")),
            );
            if !parts.is_empty() {
                return PartsStopped { parts };
            }
            tokio::select! {
                _ = poll.tick() => {}
                changed = panicked.changed(), if noting => noting = changed.is_ok(),
            }
        }
    }

    /// Stops the tasks (at shutdown) and hands back the threads to join.
    pub fn stop_tasks(self) -> Vec<(&'static str, std::thread::JoinHandle<()>)> {
        for abort in &self.aborts {
            abort.abort();
        }
        self.watcher.abort();
        self.threads
    }
}

/// Awaits every task; notes the name of each that panicked.
async fn note_panics(tasks: NamedTasks, noted: watch::Sender<Vec<&'static str>>) {
    let mut running: FuturesUnordered<_> = tasks
        .into_iter()
        .map(|(name, task)| async move { (name, task.await) })
        .collect();
    while let Some((name, ended)) = running.next().await {
        if let Err(err) = ended
            && err.is_panic()
        {
            tracing::error!(task = name, "a node task panicked (its message is above)");
            noted.send_modify(|names| names.push(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing stopped, nothing to report: `stopped` is still waiting after several polls.
    async fn still_running(watch: &PartsWatch, server: impl Fn() -> bool) {
        let waited = tokio::time::timeout(PART_POLL * 3, watch.stopped(server)).await;
        assert!(waited.is_err(), "reported {waited:?} while every part runs");
    }

    fn parked_thread(
        name: &'static str,
    ) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _ = rx.recv();
            })
            .expect("a test thread starts");
        (tx, thread)
    }

    /// A task that ends on its own is not a failure; one that panics is, by its name,
    /// while the other parts still run.
    #[tokio::test]
    async fn a_panicking_task_is_reported_and_a_finished_one_is_not() {
        let (release, thread) = parked_thread("writer");
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let tasks: NamedTasks = vec![
            ("start-up sync", tokio::spawn(async {})),
            (
                "gap filler",
                tokio::spawn(async move {
                    let _ = wait.await;
                    panic!("a bug in the gap filler");
                }),
            ),
            ("meter", tokio::spawn(std::future::pending::<()>())),
        ];
        let watch = PartsWatch::new(vec![("chain writer", thread)], tasks);
        still_running(&watch, || false).await;
        go.send(()).expect("the task waits");
        let stopped = tokio::time::timeout(Duration::from_secs(10), watch.stopped(|| false))
            .await
            .expect("a panicked task is reported");
        assert_eq!(stopped.parts, vec!["gap filler task".to_owned()]);
        assert!(stopped.to_string().contains("gap filler task"), "{stopped}");
        for (_, thread) in watch.stop_tasks() {
            release.send(()).expect("the test thread waits");
            thread.join().expect("the test thread ends cleanly");
        }
    }

    /// Once every task has ended (the watcher with them), a panic it noted is still
    /// reported, and with none `stopped` waits on the poll rather than spinning.
    #[tokio::test]
    async fn tasks_that_all_ended_leave_their_panics_and_no_busy_loop() {
        let (release, thread) = parked_thread("writer");
        let quiet = PartsWatch::new(
            vec![("chain writer", thread)],
            vec![("start-up sync", tokio::spawn(async {}))],
        );
        tokio::time::sleep(PART_POLL).await;
        assert!(
            quiet.watcher.is_finished(),
            "the watcher ends with its tasks"
        );
        let polls = std::sync::atomic::AtomicU32::new(0);
        let waited = tokio::time::timeout(
            PART_POLL * 3,
            quiet.stopped(|| {
                polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                false
            }),
        )
        .await;
        assert!(waited.is_err(), "reported {waited:?}");
        let polls = polls.load(std::sync::atomic::Ordering::Relaxed);
        // Three at the start (entry, the first tick, the ended watcher), one a poll,
        // and one more where the poll and the timeout fall due together.
        assert!(polls <= 10, "{polls} looks in three polls: a busy loop");
        release.send(()).expect("the test thread waits");
        for (_, thread) in quiet.stop_tasks() {
            thread.join().expect("the test thread ends cleanly");
        }

        let panicked = PartsWatch::new(
            Vec::new(),
            vec![("gap filler", tokio::spawn(async { panic!("a bug") }))],
        );
        let stopped = tokio::time::timeout(Duration::from_secs(10), panicked.stopped(|| false))
            .await
            .expect("a panic noted before the watcher ended is reported");
        assert_eq!(stopped.parts, vec!["gap filler task".to_owned()]);
    }

    /// A thread that ends before shutdown (here by a panic, as the writer's would) is
    /// reported within a poll or two, and so is a finished server.
    #[tokio::test]
    async fn a_thread_or_the_server_that_ended_is_reported() {
        let (keep, running) = parked_thread("mining");
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let dying = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                let _ = wait.recv();
                panic!("a bug in the chain writer");
            })
            .expect("a test thread starts");
        let watch = PartsWatch::new(
            vec![("chain writer", dying), ("mining coordinator", running)],
            vec![("meter", tokio::spawn(std::future::pending::<()>()))],
        );
        still_running(&watch, || false).await;
        go.send(()).expect("the thread waits");
        let stopped = tokio::time::timeout(Duration::from_secs(10), watch.stopped(|| false))
            .await
            .expect("a finished thread is reported");
        assert_eq!(stopped.parts, vec!["chain writer thread".to_owned()]);
        let server_done = tokio::time::timeout(Duration::from_secs(10), watch.stopped(|| true))
            .await
            .expect("a finished server is reported");
        assert!(server_done.parts.contains(&"HTTP server".to_owned()));
        let threads = watch.stop_tasks();
        assert_eq!(threads.len(), 2);
        drop(keep);
        for (name, thread) in threads {
            assert_eq!(thread.join().is_err(), name == "chain writer", "{name}");
        }
    }
}
