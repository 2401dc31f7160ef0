//! Every available kernel against a brute-force `sha2::Sha256` reference, on random
//! templates (every prefix length mod 64, arbitrary bytes), counter ranges across decimal
//! carries and difficulties 0..12; plus the template's nonce and preimage rules.
//!
//! Run with `cargo test --test kernel_proptest` (add `--release` for more cases per second).

use minichain::chain::block::MAX_NONCE_DIGITS;
use minichain::miner::kernel::{KernelKind, available_kernels};
use minichain::miner::layout::MiningTemplate;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// Leading zero bits of a big-endian hash.
fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for &byte in hash {
        bits += byte.leading_zeros();
        if byte != 0 {
            break;
        }
    }
    bits
}

/// The smallest counter in `start..end` meeting `difficulty`, by hashing whole preimages.
fn reference_search(
    template: &MiningTemplate,
    start: u64,
    end: u64,
    difficulty: u32,
) -> Option<u64> {
    (start..end.min(template.counter_limit()))
        .find(|&c| leading_zero_bits(&Sha256::digest(template.preimage(c))) >= difficulty)
}

/// Counter starts near decimal carries (…999 → …000) and at the ends of the space.
fn counter_start() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..2_000,
        (1u32..9).prop_flat_map(|digits| {
            let carry = 10u64.pow(digits);
            carry.saturating_sub(300)..(carry + 50).min(1_000_000_000)
        }),
        (999_999_000u64..1_000_000_000),
        any::<u64>().prop_map(|c| c % 1_000_000_000),
    ]
}

fn suffix() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(b'0'..=b'9', 1..=3)
}

fn variant() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..20, 0u64..1_000_000, 0u64..90_000_000_000]
}

fn is_canonical_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Each kernel finds exactly the smallest counter that the reference finds.
    #[test]
    fn kernels_match_reference(
        prefix in proptest::collection::vec(any::<u8>(), 0..300),
        suffix in suffix(),
        variant in variant(),
        start in counter_start(),
        count in 0u64..400,
        difficulty in 0u32..12,
    ) {
        let template = MiningTemplate::new(&prefix, &suffix, variant).expect("valid template");
        let expected = reference_search(&template, start, start + count, difficulty);
        for kind in available_kernels() {
            let job = kind.prepare(&template, difficulty);
            prop_assert_eq!(job.search(start, count), expected, "kernel {}", kind);
        }
    }

    /// The preimage is prefix ++ nonce ++ suffix, the nonce canonical and at most 40
    /// digits, and the midstate and last block hash to the same as the whole preimage.
    #[test]
    fn template_lays_out_preimage(
        prefix in proptest::collection::vec(any::<u8>(), 0..300),
        suffix in suffix(),
        variant in variant(),
        counter in counter_start(),
    ) {
        let template = MiningTemplate::new(&prefix, &suffix, variant).expect("valid template");
        let nonce = template.nonce_string(counter);
        prop_assert!(is_canonical_decimal(&nonce), "nonce {nonce}");
        prop_assert!(nonce.len() <= MAX_NONCE_DIGITS);
        let mut expected = prefix.clone();
        expected.extend_from_slice(nonce.as_bytes());
        expected.extend_from_slice(&suffix);
        prop_assert_eq!(template.preimage(counter), expected.clone());

        // One compression of the last block, with the counter's digits, on the midstate.
        let mut block = *template.last_block();
        let at = template.digits_at();
        let low = &nonce.as_bytes()[nonce.len() - template.digits_len()..];
        block[at..at + template.digits_len()].copy_from_slice(low);
        let mut state = template.midstate();
        sha2::block_api::compress256(&mut state, &[block]);
        let hash: Vec<u8> = state.iter().flat_map(|w| w.to_be_bytes()).collect();
        prop_assert_eq!(hash, Sha256::digest(&expected).to_vec());
    }

    /// Distinct (variant, counter) pairs on one prefix and suffix give distinct nonces.
    #[test]
    fn variants_give_disjoint_nonces(
        prefix_len in 0usize..300,
        suffix in suffix(),
        variants in (variant(), variant()),
        counters in (counter_start(), counter_start()),
    ) {
        let prefix = vec![b'p'; prefix_len];
        let first = MiningTemplate::new(&prefix, &suffix, variants.0).expect("valid");
        let second = MiningTemplate::new(&prefix, &suffix, variants.1).expect("valid");
        let same = variants.0 == variants.1 && counters.0 == counters.1;
        prop_assert_eq!(
            first.nonce_string(counters.0) == second.nonce_string(counters.1),
            same
        );
    }
}

/// Every prefix length mod 64 (and across a few blocks), with difficulty 0 (the first
/// counter hits) and a difficulty of 8 over a carry, for each kernel.
#[test]
fn every_prefix_length_mod_64() {
    for len in 0..200usize {
        let prefix: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
        let template = MiningTemplate::new(&prefix, b"17", len as u64).expect("valid template");
        for (start, count, difficulty) in [(5, 10, 0), (9_990, 300, 8), (99_999_950, 200, 6)] {
            let expected = reference_search(&template, start, start + count, difficulty);
            for kind in available_kernels() {
                let job = kind.prepare(&template, difficulty);
                assert_eq!(
                    job.search(start, count),
                    expected,
                    "kernel {kind}, prefix {len}"
                );
            }
        }
    }
}

/// Difficulty above 32 checks further state words: a search over a range whose first word
/// hits are rare still agrees with the reference (here: none found), and an unavailable
/// kernel is refused rather than run.
#[test]
fn high_difficulty_and_availability() {
    let template = MiningTemplate::new(b"abc", b"40", 3).expect("valid template");
    for kind in KernelKind::ALL {
        if kind.is_available() {
            let job = kind.prepare(&template, 40);
            assert_eq!(job.search(0, 20_000), None, "kernel {kind}");
        } else {
            assert!(kind.try_prepare(&template, 40).is_err());
        }
    }
}

/// The stop flag: raised before the search, nothing is tried; raised by another thread
/// during a search no counter can end (an unmeetable difficulty over the whole space),
/// the kernel gives up inside its range instead of running it out; never raised, the
/// search is the plain one.
#[test]
fn the_stop_flag_ends_a_search_within_its_range() {
    use std::sync::atomic::{AtomicBool, Ordering};

    use minichain::miner::kernel::SearchEnd;

    let template = MiningTemplate::new(b"stop flag", b"9", 0).expect("valid template");
    for kind in available_kernels() {
        let job = kind.prepare(&template, 256);
        assert_eq!(
            job.search_until(1_234, 100_000, &AtomicBool::new(true)),
            SearchEnd::Stopped(1_234),
            "kernel {kind}"
        );
        let easy = kind.prepare(&template, 4);
        let plain = easy.search(777, 5_000);
        assert_eq!(
            easy.search_until(777, 5_000, &AtomicBool::new(false)),
            plain.map_or(SearchEnd::Exhausted, SearchEnd::Hit),
            "kernel {kind}"
        );

        let stop = AtomicBool::new(false);
        let end = template.counter_limit();
        let ended = std::thread::scope(|scope| {
            let search = scope.spawn(|| job.search_until(0, end, &stop));
            std::thread::sleep(std::time::Duration::from_millis(20));
            stop.store(true, Ordering::Relaxed);
            search.join().expect("the search does not panic")
        });
        match ended {
            SearchEnd::Stopped(at) => assert!(at > 0 && at < end, "kernel {kind}: {at}"),
            other => panic!("kernel {kind}: {other:?} instead of a stop"),
        }
    }
}

/// A job sent as words ([`JobParts`]) and prepared again on the other side searches
/// exactly as the original, for every kernel and prefix length mod 64; the parts taken
/// straight from the template are the prepared job's; words it cannot have written are
/// refused.
#[test]
fn a_job_travels_as_words() {
    use minichain::miner::kernel::JobParts;

    for len in (0..130usize).step_by(3) {
        let prefix: Vec<u8> = (0..len).map(|i| (i * 13 + len) as u8).collect();
        let template = MiningTemplate::new(&prefix, b"9", len as u64).expect("valid template");
        for kind in available_kernels() {
            let job = kind.prepare(&template, 7);
            let words = job.parts().to_words();
            let parts = JobParts::from_words(&words).expect("our own words");
            assert_eq!(parts, job.parts());
            // The parts the miner posts before it prepares its own copy are the same.
            assert_eq!(JobParts::new(kind, &template, 7), job.parts());
            let again = parts.prepare().expect("the same CPU runs it");
            assert_eq!(again.kind(), kind);
            assert_eq!(
                again.search(9_000, 3_000),
                job.search(9_000, 3_000),
                "kernel {kind}"
            );
        }
    }
    assert_eq!(JobParts::from_words(&[0; JobParts::WORDS]), None);
    let mut bad_kind = [1u64; JobParts::WORDS];
    bad_kind[0] = 1 | 200 << 8;
    assert_eq!(JobParts::from_words(&bad_kind), None);
    // Low digits that would run into the padding: no template puts them there.
    let template = MiningTemplate::new(b"p", b"9", 0).expect("valid template");
    let mut words = KernelKind::Portable
        .prepare(&template, 7)
        .parts()
        .to_words();
    for (digits_at, fits) in [(45u64, true), (46, false), (200, false)] {
        words[0] = words[0] & !(0xff << 16) | digits_at << 16;
        assert_eq!(
            JobParts::from_words(&words).is_some(),
            fits,
            "digits at {digits_at}"
        );
    }
}

/// Every place the low digits can start in the final block (0 to 45), not only those the
/// layout gives: every kernel agrees with a `compress256` reference over a decimal carry,
/// on a job whose parts travel as words with the place rewritten: this keeps the kernels
/// proven at places the layout gives rarely or never (most unaligned ones).
#[test]
fn every_digit_position() {
    use minichain::miner::kernel::JobParts;
    use sha2::block_api::compress256;

    let template = MiningTemplate::new(b"position", b"9", 0).expect("valid template");
    let difficulty = 7u64;
    // Arbitrary block bytes: the kernels hash whatever is around the digits.
    let block: [u8; 64] = core::array::from_fn(|i| (i as u8).wrapping_mul(151).wrapping_add(7));
    let midstate = template.midstate();
    for kind in available_kernels() {
        let mut words = kind.prepare(&template, 7).parts().to_words();
        for (word, chunk) in words[5..].iter_mut().zip(block.chunks_exact(8)) {
            *word = u64::from_le_bytes(chunk.try_into().expect("chunks of eight bytes"));
        }
        for digits_at in 0..=45u64 {
            words[0] = words[0] & 0xffff | digits_at << 16 | difficulty << 32;
            let parts = JobParts::from_words(&words).expect("a place the kernels accept");
            let job = parts.prepare().expect("the same CPU runs it");
            let meets = |counter: u64| {
                let mut preimage = block;
                let digits = format!("{counter:09}");
                let at = digits_at as usize;
                preimage[at..at + 9].copy_from_slice(digits.as_bytes());
                let mut state = midstate;
                compress256(&mut state, &[preimage]);
                let hash: Vec<u8> = state.iter().flat_map(|w| w.to_be_bytes()).collect();
                leading_zero_bits(&hash) >= difficulty as u32
            };
            for (start, count) in [(3u64, 700u64), (129_990, 900)] {
                let expected = (start..start + count).find(|&c| meets(c));
                assert_eq!(
                    job.search(start, count),
                    expected,
                    "kernel {kind}, digits at {digits_at}"
                );
            }
        }
    }
}
