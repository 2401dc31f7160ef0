//! The start-up sync: at start a node brings its chain to its root's, in pages, from
//! where its own chain leaves the root's (see [`gap_fill`](super::gap_fill)).
//!
//! Why pages and not the whole chain in one answer: one answer grows with the chain
//! until it passes the message limit and no node can join; and a node stopped half-way
//! would start again from nothing. In pages, each batch is stored as it is adopted, so
//! a restarted node resumes from its store's tip (its chain is on the root's, so the
//! first request finds the fork point at that tip). Progress is in the log and in
//! `/api/status` (`sync.startup`).
//!
//! A root that does not page (the original Python node answers its whole chain to any
//! `GET /api/blocks`) is recognized by its first answer, which then goes to the intake
//! as the whole chain it is, as before.

use std::sync::Arc;

use tokio::sync::Notify;

use super::gap_fill::{FillOutcome, RangeSync};
use super::intake::{IntakeSender, Source, Verdict};
use crate::clip::{MESSAGE_CHARS, clip, clip_to};

/// Syncs from `root` (not this node), then asks for the publish the original makes
/// once at start. An unreachable or failing root is logged, not fatal: the node keeps
/// what it has (and what it adopted).
pub async fn run(root: String, sync: RangeSync, intake: IntakeSender, publish: Arc<Notify>) {
    let progress = &sync.stats.startup;
    let result = match sync.client(&root) {
        Ok(client) => sync.fill_from(&client, "start-up sync", progress).await,
        Err(err) => Err(err.into()),
    };
    let root = clip(&root);
    match result {
        Ok(FillOutcome::Adopted { adopted }) => {
            progress.end(None);
            tracing::info!(%root, adopted, "start-up sync: done, our chain is the root's");
        }
        Ok(FillOutcome::Kept) => {
            progress.end(None);
            tracing::info!(%root, "start-up sync: done, kept our chain (the root's is not better)");
        }
        Ok(FillOutcome::WholeChain(bytes)) => {
            tracing::info!(%root, bytes = bytes.len(), "start-up sync: the root does not serve pages; offering its whole chain");
            match intake.submit(bytes, Source::Root).await {
                Some(Verdict::Adopted) => {
                    progress.end(None);
                    tracing::info!(%root, "start-up sync: adopted the root's chain");
                }
                Some(Verdict::Current) => {
                    progress.end(None);
                    tracing::info!(%root, "start-up sync: the root has our chain");
                }
                Some(Verdict::Rejected(why)) => {
                    let why = why.to_string();
                    progress.end(None);
                    tracing::info!(%root, "start-up sync: kept our chain: {}", clip_to(&why, MESSAGE_CHARS));
                }
                None => progress.end(Some("the node is shutting down")),
            }
        }
        Err(err) => {
            let why = err.to_string();
            progress.end(Some(&why));
            tracing::warn!(%root, "start-up sync: stopped ({}); going on with our chain", clip_to(&why, MESSAGE_CHARS));
        }
    }
    // The original publishes once at start, after its start-up sync.
    publish.notify_one();
}
