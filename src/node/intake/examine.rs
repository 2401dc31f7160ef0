//! The examination: one chain's bytes against our snapshot, to an [`Examined`]
//! (ours again, or a valid candidate the fork-choice rule prefers) or a
//! [`Rejection`]. Blocking, and a function of the bytes, our snapshot and the clock
//! only: no queue, no writer, no runtime.
//!
//! Two shortcuts keep the common case fast:
//! - a chain's preferability is estimated from its parsed blocks by the fork-choice
//!   rule itself ([`ForkChoice::compare`] on their [`ChainWeight`]) *before*
//!   validation, so a chain that would lose costs no hashing;
//! - a Redis message whose text starts with our own message (the usual case: a peer
//!   mined one more block on our chain) has only its new blocks parsed and validated.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::verdict::{Rejection, Source};
use crate::chain::block::parse_chain;
use crate::chain::json::Dialect;
use crate::chain::validate::now_ms;
use crate::chain::{Block, ChainWeight, ForkChoice, RuleSet, ValidChain};
use crate::node::job_slot::IntakeTimings;
use crate::node::state::{Candidate, Snapshot};

/// The result of examining a message against our snapshot.
#[derive(Debug)]
pub enum Examined {
    /// Exactly our chain.
    Current,
    /// A valid chain the fork-choice rule prefers to the snapshot's.
    Candidate(Candidate),
}

/// Parses and validates `bytes` against `ours` (blocking: call off the runtime).
///
/// # Errors
/// The [`Rejection`] saying why the chain cannot be adopted.
pub fn examine(
    bytes: &[u8],
    source: Source,
    ours: &Arc<Snapshot>,
    fork_choice: ForkChoice,
    max_bytes: usize,
    received_at: Instant,
) -> Result<Examined, Rejection> {
    let started = Instant::now();
    // Our `{"chain": [...]}` body is not a valid message on the channel (see below).
    if ours.is_message(bytes) || (source != Source::Redis && ours.is_body(bytes)) {
        return Ok(Examined::Current);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Rejection::NotUtf8)?;
    if source == Source::Redis && !text.trim_start().starts_with('[') {
        // parse_chain also reads `{"chain": [...]}`, but on the channel only a bare
        // array is the protocol: anything else kills a Python node's listener.
        // One walk that builds nothing: not JSON, or JSON of another kind.
        return Err(match crate::chain::json::describe_text(text) {
            Err(err) => Rejection::from_json(err),
            Ok(found) => Rejection::NotAnArray(format!(
                "a message on the channel must be a JSON array of blocks, found {found}"
            )),
        });
    }
    let chain = match ours.message_extension_tail(text) {
        Some(tail) => examine_extension(tail, ours, fork_choice)?,
        None => match examine_whole(text, ours, fork_choice)? {
            Some(chain) => chain,
            None => return Ok(Examined::Current),
        },
    };
    if source == Source::Http {
        check_publishable(&chain, max_bytes)?;
    }
    let examined_at = Instant::now();
    Ok(Examined::Candidate(Candidate {
        chain,
        timings: IntakeTimings {
            received_at,
            started_at: started,
            validate_time: examined_at.duration_since(started),
            examined_at,
        },
    }))
}

/// Parses and validates the blocks `tail` appends to our chain: only they are hashed.
fn examine_extension(
    tail: &str,
    ours: &Snapshot,
    fork_choice: ForkChoice,
) -> Result<ValidChain, Rejection> {
    let mut tail_text = String::with_capacity(tail.len() + 1);
    tail_text.push('[');
    tail_text.push_str(tail);
    let blocks =
        parse_chain(&tail_text).map_err(|err| Rejection::from_chain_error(&tail_text, err))?;
    let current = ours.chain();
    check_nan(&blocks, current.len())?;
    check_preferred(
        fork_choice,
        current,
        ChainWeight::of_chain(current).extended_by(&blocks),
    )?;
    let mut chain = current.clone();
    chain
        .extend(blocks, RuleSet::Strict, now_ms())
        .map_err(Rejection::Invalid)?;
    Ok(chain)
}

/// Parses and validates a whole chain; `None` when it is ours, written differently
/// (another dialect, spacing, or wrapped in `{"chain": ...}`).
fn examine_whole(
    text: &str,
    ours: &Snapshot,
    fork_choice: ForkChoice,
) -> Result<Option<ValidChain>, Rejection> {
    let blocks = parse_chain(text).map_err(|err| Rejection::from_chain_error(text, err))?;
    // Not a chain at all, rather than one that loses to ours.
    if blocks.is_empty() {
        return Err(Rejection::NotAChain(
            "an empty array: a chain holds at least its genesis block".to_owned(),
        ));
    }
    let current = ours.chain();
    if current.blocks().equals_blocks(&blocks) {
        return Ok(None);
    }
    check_preferred(fork_choice, current, ChainWeight::of_blocks(&blocks))?;
    check_nan(&blocks, 0)?;
    ValidChain::validate(blocks, RuleSet::Strict, now_ms())
        .map(Some)
        .map_err(Rejection::Invalid)
}

/// Refuses a pushed chain whose Redis message (Python's dialect: wider separators,
/// non-ASCII escaped) would be over `max_bytes`, the limit every node reads: it could
/// be adopted here but never reach a peer. (Pushes are rare; the trial serialization
/// costs about a millisecond per thousand blocks.)
fn check_publishable(chain: &ValidChain, max_bytes: usize) -> Result<(), Rejection> {
    let len = chain
        .blocks()
        .json_lens()
        .chain_len(chain.len(), Dialect::Python);
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > max_bytes {
        return Err(Rejection::TooLargeToPublish {
            len,
            limit: max_bytes,
        });
    }
    Ok(())
}

/// The cheap pre-check, before any hashing: the fork-choice rule itself on the weight
/// the parsed blocks would have as a valid chain (the weight the writer will compare),
/// so a chain that would lose even if valid is refused unvalidated.
pub(crate) fn check_preferred(
    fork_choice: ForkChoice,
    current: &ValidChain,
    candidate: ChainWeight,
) -> Result<(), Rejection> {
    let ordering = fork_choice.compare(ChainWeight::of_chain(current), candidate);
    if ordering == Ordering::Greater {
        return Ok(());
    }
    Err(Rejection::not_preferred(
        candidate.len,
        current.len(),
        fork_choice,
        ordering == Ordering::Less,
    ))
}

/// Refuses a chain holding NaN in a block's data (`first_index` is the first block's
/// index in the chain).
pub(crate) fn check_nan(blocks: &[Block], first_index: usize) -> Result<(), Rejection> {
    match blocks.iter().position(|b| b.data.has_nan()) {
        Some(i) => Err(Rejection::Nan(first_index + i)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::json::Dialect;
    use crate::chain::{Difficulty, Json};
    use crate::miner::reference::mine_reference;

    /// Genesis and `n` more blocks: the synthetic benchmark chain.
    fn chain_of(n: usize) -> ValidChain {
        crate::miner::synthetic::synthetic_valid_chain(n + 1)
    }

    fn message(chain: &ValidChain) -> Vec<u8> {
        let mut out = Vec::new();
        chain
            .blocks()
            .write_array(0..chain.len(), Dialect::Python, &mut out);
        out
    }

    fn run(bytes: &[u8], ours: &Arc<Snapshot>) -> Result<Examined, Rejection> {
        examine(
            bytes,
            Source::Redis,
            ours,
            ForkChoice::Work,
            usize::MAX,
            Instant::now(),
        )
    }

    /// A message extending ours takes the fast path and gives the same snapshot as a
    /// full validation.
    #[test]
    fn extension_equals_whole() {
        let long = chain_of(4);
        let mut other = ValidChain::genesis();
        let tip = other.tip().clone();
        let block = mine_reference(
            &tip,
            Json::String("other".into()),
            now_ms(),
            Difficulty::new(3),
        );
        other.push(block, RuleSet::Strict, now_ms()).expect("valid");
        let other = Arc::new(Snapshot::of_chain(other));
        let ours = Arc::new(Snapshot::of_chain(long.truncated(3)));
        let text = message(&long);
        assert!(
            ours.message_extension_tail(std::str::from_utf8(&text).expect("utf8"))
                .is_some()
        );
        let Ok(Examined::Candidate(c)) = run(&text, &ours) else {
            panic!("expected a candidate")
        };
        let snapshot = c.into_snapshot();
        assert_eq!(snapshot.message().as_ref(), text.as_slice());
        assert_eq!(snapshot.body_bytes(), Snapshot::of_chain(long).body_bytes());
        // A chain that forks from another is validated whole.
        let Ok(Examined::Candidate(c)) = run(&text, &other) else {
            panic!("expected a candidate")
        };
        assert_eq!(c.into_snapshot().message().as_ref(), text.as_slice());
    }

    /// Each kind of bad message maps to its reason.
    #[test]
    fn rejections_by_reason() {
        let ours = Arc::new(Snapshot::of_chain(chain_of(2)));
        let reason = |bytes: &[u8]| match run(bytes, &ours) {
            Err(r) => r.reason(),
            Ok(_) => "ok",
        };
        assert_eq!(reason(b"\xff"), "not_utf8");
        assert_eq!(reason(b"[{"), "not_json");
        assert_eq!(reason(b"{\"chain\": []}"), "not_a_chain");
        assert_eq!(reason(b"[1, 2]"), "not_a_chain");
        assert_eq!(
            reason(format!("[{{\"data\": {}", "[".repeat(600)).as_bytes()),
            "too_deep"
        );
        assert_eq!(reason(&message(&chain_of(1))), "not_preferred");
        assert_eq!(reason(ours.message()), "ok");
        // Our own `{"chain": [...]}` body is still no message for the channel.
        assert_eq!(reason(&ours.body_bytes()), "not_a_chain");
        let mut forged = chain_of(3).into_blocks();
        forged[3].nonce = crate::chain::Nonce::from(0u128);
        let mut text = Vec::new();
        crate::chain::block::write_chain(&forged, Dialect::Python, &mut text);
        assert_eq!(reason(&text), "invalid");
    }
}
