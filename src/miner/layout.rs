//! Where the nonce's digits sit in the preimage, so that one attempt costs exactly one
//! SHA-256 compression, whatever the prefix length.
//!
//! A block's preimage is `prefix ++ nonce ++ suffix` (see docs/PROTOCOL.md, "The preimage and the hash"), where
//! the nonce is written in canonical decimal. SHA-256 eats the preimage in 64-byte blocks,
//! so everything before the last 64-byte boundary that the varying digits do not touch can
//! be absorbed once into a *midstate*, and each attempt then costs a single compression
//! of the final block.
//!
//! # The layout
//!
//! The nonce is `head ++ low`:
//!
//! - `low` is [`DIGITS_LEN`] digits, zero-padded: the counter the kernels step through.
//! - `head` is a run of digits, first digit nonzero (so the nonce is canonical), that
//!   (a) encodes the template's `variant`, (b) puts the low digits, the suffix and the
//!   SHA-256 padding (`0x80`, zeros, the 64-bit bit length) all in one final 64-byte
//!   block, and (c) of the lengths that do both, up to [`MAX_NONCE_DIGITS`] less
//!   [`DIGITS_LEN`] digits, puts the low digits as late in that block as it can, with
//!   their last four in one message word where a place at most three bytes earlier does
//!   that. Late digits are cheap digits: the kernels do every round before the first
//!   varying message word once per 10^4 counters, so the digits at the end of the block
//!   save about a fifth of each attempt's rounds against digits at its start, and four
//!   fast digits in one word leave more of the schedule constant than four across two.
//!   About half of all prefix lengths get byte 43 (the fast digits fill word 12, the
//!   suffix and padding follow), most others an earlier word-aligned place; a prefix
//!   that ends late in its block gets a head that fills it and spills into the final
//!   block.
//!
//! With `H` head digits the head's value is `10^(H-1) + variant`, and `H` depends only on
//! the prefix length, the suffix length and the variant, and always holds the variant
//! (`variant < 9 * 10^(H-1)`). The low-digit count is the same for every variant, so two
//! templates on the same prefix and suffix either have heads of different lengths
//! (different nonce lengths, so different numbers) or different head values: distinct
//! `(variant, counter)` pairs never give the same nonce. The nonce never exceeds
//! [`MAX_NONCE_DIGITS`] digits; [`MiningTemplate::new`] refuses a variant that would need
//! more.
//!
//! # The midstate contract
//!
//! A SHA-256 midstate exists only at a 64-byte boundary: it is the chaining value after
//! whole blocks, and nothing of a partial block can be folded into it. So
//! [`MiningTemplate::midstate`] is the state after the first `k * 64` bytes of
//! `prefix ++ head`, and [`MiningTemplate::last_block`] holds everything after that: the
//! prefix's and head's tail, the low digits, the suffix and the padding.

use sha2::block_api::compress256;
use thiserror::Error;

use crate::chain::BlockHash;
use crate::chain::block::MAX_NONCE_DIGITS;
use crate::chain::hash_many::SHA256_IV;

/// How many low (varying) digits a template has: the counter space is `10^DIGITS_LEN`.
///
/// Nine digits keep the nonce short while giving a billion attempts per template; the
/// search moves to the next variant when they run out.
pub const DIGITS_LEN: usize = 9;

/// The longest suffix (the difficulty's decimal digits) a template accepts.
pub const MAX_SUFFIX_LEN: usize = 3;

/// How many of the low digits, the last and fastest-changing ones, the kernels step
/// through with table look-ups; the layout prefers to put them in one message word.
pub(crate) const INNER_DIGITS: usize = 4;

/// Bytes of message a final block can hold: 64 less the `0x80` marker and the 8-byte length.
const LAST_BLOCK_PAYLOAD: usize = 64 - 1 - 8;

/// The latest byte of the final block where a template's low digits can start: before
/// them the shortest suffix (one digit) and the padding.
pub(crate) const MAX_DIGITS_AT: usize = LAST_BLOCK_PAYLOAD - DIGITS_LEN - 1;

/// Why a mining template cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayoutError {
    /// The suffix is not 1 to 3 ASCII decimal digits.
    #[error(
        "suffix must be 1 to {MAX_SUFFIX_LEN} ASCII decimal digits, got {len} bytes {suffix:?}"
    )]
    InvalidSuffix {
        /// Length of the rejected suffix.
        len: usize,
        /// The rejected suffix, lossily decoded.
        suffix: String,
    },
    /// The variant needs a head so long that the nonce would exceed 40 digits.
    #[error(
        "variant {variant} would need a {digits}-digit nonce, more than the {MAX_NONCE_DIGITS} allowed; use a smaller variant"
    )]
    VariantTooLarge {
        /// The rejected variant.
        variant: u64,
        /// The nonce length it would need.
        digits: usize,
    },
}

/// A block's preimage laid out for mining: the midstate, the pre-padded final block and
/// where the varying digits sit in it. See the module docs for why it looks like this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiningTemplate {
    prefix: Vec<u8>,
    /// The suffix's digits, in the first `suffix_len` bytes (a template is built for
    /// every block, so it holds its short parts inline rather than allocating them).
    suffix: [u8; MAX_SUFFIX_LEN],
    suffix_len: u8,
    variant: u64,
    /// The head digits (first digit nonzero), in the first `head_len` bytes.
    head: [u8; MAX_NONCE_DIGITS],
    head_len: u8,
    midstate: [u32; 8],
    last_block: [u8; 64],
    digits_at: usize,
}

impl MiningTemplate {
    /// Lays out `prefix ++ nonce ++ suffix` for mining, with `variant` encoded in the
    /// nonce's head digits.
    ///
    /// # Errors
    ///
    /// [`LayoutError::InvalidSuffix`] when `suffix` is not 1 to 3 ASCII digits;
    /// [`LayoutError::VariantTooLarge`] when the nonce would need more than 40 digits.
    pub fn new(prefix: &[u8], suffix: &[u8], variant: u64) -> Result<Self, LayoutError> {
        if suffix.is_empty()
            || suffix.len() > MAX_SUFFIX_LEN
            || !suffix.iter().all(u8::is_ascii_digit)
        {
            return Err(LayoutError::InvalidSuffix {
                len: suffix.len(),
                suffix: String::from_utf8_lossy(suffix).into_owned(),
            });
        }
        let head_len = head_len(prefix.len(), suffix.len(), variant)?;
        let mut head = [0u8; MAX_NONCE_DIGITS];
        write_head(variant, &mut head[..head_len]);

        // Absorb every whole block of prefix ++ head; the rest starts the final block.
        let fixed = Joined(prefix, &head[..head_len]);
        let fixed_len = prefix.len() + head_len;
        let absorbed_len = fixed_len / 64 * 64;
        let mut midstate = SHA256_IV;
        let mut block = [0u8; 64];
        for at in (0..absorbed_len).step_by(64) {
            fixed.copy_to(at, &mut block);
            compress256(&mut midstate, &[block]);
        }

        let mut last_block = [0u8; 64];
        let mut at = fixed_len - absorbed_len;
        fixed.copy_to(absorbed_len, &mut last_block[..at]);
        let digits_at = at;
        last_block[at..at + DIGITS_LEN].fill(b'0');
        at += DIGITS_LEN;
        last_block[at..at + suffix.len()].copy_from_slice(suffix);
        at += suffix.len();
        last_block[at] = 0x80;
        let bit_len = ((fixed_len + DIGITS_LEN + suffix.len()) as u64) * 8;
        last_block[56..].copy_from_slice(&bit_len.to_be_bytes());

        let mut suffix_digits = [0u8; MAX_SUFFIX_LEN];
        suffix_digits[..suffix.len()].copy_from_slice(suffix);
        Ok(Self {
            prefix: prefix.to_vec(),
            suffix: suffix_digits,
            suffix_len: suffix.len() as u8,
            variant,
            head,
            head_len: head_len as u8,
            midstate,
            last_block,
            digits_at,
        })
    }

    /// A template over a made-up prefix of `prefix_len` bytes (suffix `20`, variant 0):
    /// what the kernel calibration and `examples/kernel_positions` measure kernels on.
    pub fn sample(prefix_len: usize) -> MiningTemplate {
        let prefix: Vec<u8> = (0..prefix_len).map(|i| b'a' + (i % 26) as u8).collect();
        MiningTemplate::new(&prefix, b"20", 0)
            .expect("variant 0 and a two-digit suffix fit after any prefix")
    }

    /// The first [`Self::sample`] (prefix lengths 0 to 63, one of each length mod 64)
    /// whose low digits start at byte `digits_at` of the final block, if one does.
    pub fn sample_at(digits_at: usize) -> Option<MiningTemplate> {
        (0..64)
            .map(Self::sample)
            .find(|template| template.digits_at() == digits_at)
    }

    /// The SHA-256 state after every whole 64-byte block before the final one. It exists
    /// only at a 64-byte boundary: the final block's bytes are not in it.
    pub fn midstate(&self) -> [u32; 8] {
        self.midstate
    }

    /// The final 64-byte block, already padded, with every low digit `'0'` (counter 0).
    pub fn last_block(&self) -> &[u8; 64] {
        &self.last_block
    }

    /// Offset of the first low digit inside [`Self::last_block`].
    pub fn digits_at(&self) -> usize {
        self.digits_at
    }

    /// How many low digits vary (`L`, always [`DIGITS_LEN`]).
    pub fn digits_len(&self) -> usize {
        DIGITS_LEN
    }

    /// The number of counters this template offers: `10^L`. Counters run `0..limit`.
    pub fn counter_limit(&self) -> u64 {
        10u64.pow(DIGITS_LEN as u32)
    }

    /// The variant this template encodes in its head.
    pub fn variant(&self) -> u64 {
        self.variant
    }

    /// The prefix the template was built from.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The suffix (difficulty digits) the template was built from.
    pub fn suffix(&self) -> &[u8] {
        &self.suffix[..usize::from(self.suffix_len)]
    }

    /// Appends the full canonical decimal nonce for `counter` to `out`.
    ///
    /// # Panics
    ///
    /// When `counter >= self.counter_limit()`.
    pub fn nonce_digits(&self, counter: u64, out: &mut Vec<u8>) {
        let mut digits = [0u8; MAX_NONCE_DIGITS];
        out.extend_from_slice(self.nonce_str(counter, &mut digits).as_bytes());
    }

    /// The full canonical decimal nonce for `counter`, written into `buf` (no allocation:
    /// the miner writes one for every block it finds).
    ///
    /// # Panics
    ///
    /// When `counter >= self.counter_limit()`.
    pub fn nonce_str<'a>(&self, counter: u64, buf: &'a mut [u8; MAX_NONCE_DIGITS]) -> &'a str {
        self.check_counter(counter);
        let head_len = usize::from(self.head_len);
        buf[..head_len].copy_from_slice(&self.head[..head_len]);
        write_digits(counter, &mut buf[head_len..head_len + DIGITS_LEN]);
        std::str::from_utf8(&buf[..head_len + DIGITS_LEN]).expect("decimal digits are ASCII")
    }

    /// The full canonical decimal nonce for `counter`.
    ///
    /// # Panics
    ///
    /// When `counter >= self.counter_limit()`.
    pub fn nonce_string(&self, counter: u64) -> String {
        let mut digits = [0u8; MAX_NONCE_DIGITS];
        self.nonce_str(counter, &mut digits).to_owned()
    }

    /// Panics unless `counter` is below [`Self::counter_limit`].
    fn check_counter(&self, counter: u64) {
        assert!(
            counter < self.counter_limit(),
            "counter {counter} out of range 0..{}",
            self.counter_limit()
        );
    }

    /// SHA-256 of the preimage for `counter`, from the midstate: one compression of the
    /// final block with the counter's digits written in (what the kernels compute, taken
    /// to the end). This is how the miner gets a found block's hash without hashing its
    /// whole preimage again.
    ///
    /// # Panics
    ///
    /// When `counter >= self.counter_limit()`.
    pub fn hash(&self, counter: u64) -> BlockHash {
        self.check_counter(counter);
        let mut block = self.last_block;
        write_digits(
            counter,
            &mut block[self.digits_at..self.digits_at + DIGITS_LEN],
        );
        let mut state = self.midstate;
        compress256(&mut state, &[block]);
        let mut bytes = [0u8; 32];
        for (out, word) in bytes.chunks_exact_mut(4).zip(state) {
            out.copy_from_slice(&word.to_be_bytes());
        }
        BlockHash::from_bytes(bytes)
    }

    /// The whole preimage `prefix ++ nonce ++ suffix` for `counter` (for tests and
    /// verification; the kernels never build it).
    ///
    /// # Panics
    ///
    /// When `counter >= self.counter_limit()`.
    pub fn preimage(&self, counter: u64) -> Vec<u8> {
        let mut preimage =
            Vec::with_capacity(self.prefix.len() + MAX_NONCE_DIGITS + MAX_SUFFIX_LEN);
        preimage.extend_from_slice(&self.prefix);
        self.nonce_digits(counter, &mut preimage);
        preimage.extend_from_slice(self.suffix());
        preimage
    }
}

/// Writes the head `10^(head.len() - 1) + variant` in decimal into `head`: a one, zeros,
/// and the variant's digits added at the end. (Dividing the sum as a `u128` costs a few
/// nanoseconds a digit, heads run to 31 digits, and a template is built for every block.)
/// The caller ensures `variant < 9 * 10^(head.len() - 1)`, so no carry leaves the head.
fn write_head(variant: u64, head: &mut [u8]) {
    head.fill(b'0');
    if let Some(first) = head.first_mut() {
        *first = b'1';
    }
    let mut rest = variant;
    let mut carry = 0;
    for digit in head.iter_mut().rev() {
        if rest == 0 && carry == 0 {
            break;
        }
        let sum = u64::from(*digit - b'0') + rest % 10 + carry;
        *digit = b'0' + (sum % 10) as u8;
        carry = sum / 10;
        rest /= 10;
    }
    debug_assert!(rest == 0 && carry == 0, "the head holds the variant");
}

/// Two byte strings read as their concatenation, without building it.
struct Joined<'a>(&'a [u8], &'a [u8]);

impl Joined<'_> {
    /// Copies the concatenation's bytes from offset `at` into `out` (which must fit).
    fn copy_to(&self, at: usize, out: &mut [u8]) {
        let Joined(first, second) = *self;
        let from_first = first.len().saturating_sub(at).min(out.len());
        out[..from_first].copy_from_slice(&first[at.min(first.len())..][..from_first]);
        let second_at = at + from_first - first.len().min(at + from_first);
        let rest = out.len() - from_first;
        out[from_first..].copy_from_slice(&second[second_at..second_at + rest]);
    }
}

/// Writes `value` zero-padded into `out` (ASCII digits), most significant first; the
/// value must fit `out.len()` digits.
pub(crate) fn write_digits(mut value: u64, out: &mut [u8]) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    debug_assert_eq!(value, 0, "value wider than the digit field");
}

/// The head length that holds `variant`, puts the low digits, suffix and padding into one
/// final block, and of those gives the kernels the cheapest place for the low digits (the
/// shortest such head on a tie); [`LayoutError::VariantTooLarge`] when no head of at most
/// [`MAX_HEAD_LEN`] digits does both.
///
/// Later digits are cheaper to mine: every SHA-256 round before the first varying message
/// word is done once per 10^4 counters instead of once per attempt, so the kernels run
/// about 12 rounds fewer with the digits at the end of the block than at its start (12 %
/// more attempts per second for SHA-NI and 18 % for AVX2 at byte 44 against byte 0,
/// measured on Zen 3). And the four fastest digits ([`INNER_DIGITS`]) are cheapest when
/// they fill one message word: one varying word instead of two leaves more schedule
/// words constant. On a Zen 4 the two-stream AVX-512 kernel ran 3 % faster with them in
/// word 12 (low digits at byte 43) than across words 12 and 13 (byte 44), and faster
/// with them in word 11 (byte 39) than across 11 and 12 (bytes 40 to 42); SHA-NI was
/// level. So the head puts the digits at the latest word-aligned place within three bytes
/// of the latest place it can reach, and at that latest place when there is none. A
/// longer nonce costs nothing else: it is still one compression per attempt and the same
/// number of absorbed blocks.
fn head_len(prefix_len: usize, suffix_len: usize, variant: u64) -> Result<usize, LayoutError> {
    // Largest offset of the first low digit inside the final block.
    let max_digits_at = LAST_BLOCK_PAYLOAD - DIGITS_LEN - suffix_len;
    // Closed forms, not loops over the candidates: this runs for every block mined, and
    // at low difficulties a search over the 31 lengths was a tenth of a block's time.
    let mut shortest = 1;
    while u128::from(variant) >= 9 * 10u128.pow(shortest as u32 - 1) {
        shortest += 1;
    }
    // Where the digits would start in their block; past the latest place, the head
    // grows until they wrap to the next block's start.
    let at = (prefix_len + shortest) % 64;
    if at > max_digits_at {
        shortest += 64 - at;
    }
    if shortest > MAX_HEAD_LEN {
        return Err(LayoutError::VariantTooLarge {
            variant,
            digits: shortest + DIGITS_LEN,
        });
    }
    // The shortest head now puts the digits at or before the latest place, and each
    // extra head digit moves them one byte later without wrapping (the latest place is
    // below 63), so the reachable places are `at..=latest`.
    let at = (prefix_len + shortest) % 64;
    let latest = max_digits_at.min(at + (MAX_HEAD_LEN - shortest));
    let best = latest
        .checked_sub((latest + INNER_AT) % 4)
        .filter(|&aligned| aligned >= at)
        .unwrap_or(latest);
    Ok(shortest + (best - at))
}

/// How many bytes the fast digits ([`INNER_DIGITS`]) sit after the low digits' start:
/// the rest of the low digits come first.
pub(crate) const INNER_AT: usize = DIGITS_LEN - INNER_DIGITS;

/// The longest head: the nonce may have at most [`MAX_NONCE_DIGITS`] digits.
const MAX_HEAD_LEN: usize = MAX_NONCE_DIGITS - DIGITS_LEN;

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples have the prefix length asked for; `sample_at` finds the digits' offset
    /// asked for, or says there is none.
    #[test]
    fn samples_put_the_digits_where_asked() {
        for len in [0, 1, 63, 64, 200] {
            assert_eq!(MiningTemplate::sample(len).prefix().len(), len);
        }
        for at in [39, 44] {
            let template = MiningTemplate::sample_at(at).expect("a prefix length puts them here");
            assert_eq!(template.digits_at(), at);
        }
        assert_eq!(
            MiningTemplate::sample_at(60),
            None,
            "no room before the padding"
        );
    }

    /// A short prefix cannot reach the latest place: the longest head (31 digits) would
    /// put the digits at byte 34, across two words, so the head stops three digits
    /// short, at byte 31, where the fast digits fill word 9; there is no absorbed block.
    #[test]
    fn short_prefix_gets_an_aligned_head() {
        let template = MiningTemplate::new(b"abc", b"5", 0).expect("valid");
        let head = format!("1{}", "0".repeat(MAX_HEAD_LEN - 4));
        assert_eq!(template.nonce_string(0), format!("{head}000000000"));
        assert_eq!(template.nonce_string(42), format!("{head}000000042"));
        assert_eq!(template.digits_at(), 31);
        assert_eq!((template.digits_at() + INNER_AT) % 4, 0);
        assert_eq!(template.midstate(), SHA256_IV);
    }

    /// A mid-length prefix gets the head that puts the fast digits in word 12, the last
    /// word they can fill whatever the suffix's length (the suffix and padding follow).
    #[test]
    fn mid_prefix_puts_the_fast_digits_in_word_12() {
        for suffix in [&b"7"[..], b"17", b"255"] {
            let template = MiningTemplate::new(&[b'x'; 20], suffix, 3).expect("valid");
            assert_eq!(template.digits_at(), 43);
            assert_eq!(template.digits_at() + INNER_AT, 12 * 4);
            assert_eq!(template.nonce_string(0).len(), 43 - 20 + DIGITS_LEN);
            assert!(template.nonce_string(0).starts_with('1'));
        }
    }

    /// A prefix ending near a block boundary gets a head that fills the block and
    /// spills into the final one as far as the nonce's 40 digits allow.
    #[test]
    fn long_prefix_head_spills_over_the_boundary() {
        let prefix = [b'x'; 60];
        let template = MiningTemplate::new(&prefix, b"123", 0).expect("valid");
        assert_eq!(template.digits_at(), 60 + MAX_HEAD_LEN - 64);
        assert_eq!(template.nonce_string(7).len(), MAX_NONCE_DIGITS);
    }

    /// For every prefix length mod 64 and several variants, the head is the one the
    /// docs name: it holds the variant, the digits, suffix and padding fit one block, and
    /// of the heads of at most 31 digits that do both, it puts the digits at the latest
    /// word-aligned place within three bytes of the latest, or else at the latest.
    #[test]
    fn head_puts_the_digits_in_the_cheapest_place() {
        for suffix_len in 1..=MAX_SUFFIX_LEN {
            let suffix = &b"123"[..suffix_len];
            let latest = LAST_BLOCK_PAYLOAD - DIGITS_LEN - suffix_len;
            for len in 64..128 {
                for variant in [0, 7, 123, 99_999_999, u64::MAX / 7, u64::MAX] {
                    // Every head length that holds the variant and fits, by brute force:
                    // the latest digits, then the shortest head.
                    let brute = (1..=MAX_HEAD_LEN)
                        .filter(|&h| u128::from(variant) < 9 * 10u128.pow(h as u32 - 1))
                        .map(|h| ((len + h) % 64, h))
                        .filter(|&(at, _)| at <= latest)
                        .collect::<Vec<_>>();
                    let reach = brute.iter().map(|&(at, _)| at).max();
                    let brute = brute.into_iter().max_by_key(|&(at, h)| {
                        let aligned = (at + INNER_AT).is_multiple_of(4)
                            && reach.is_some_and(|reach| at + 3 >= reach);
                        (aligned, at, core::cmp::Reverse(h))
                    });
                    let made = MiningTemplate::new(&vec![b'p'; len], suffix, variant);
                    let Some((best, shortest_head)) = brute else {
                        assert!(
                            matches!(made, Err(LayoutError::VariantTooLarge { .. })),
                            "len {len}, variant {variant}"
                        );
                        continue;
                    };
                    let template = made.expect("valid");
                    let head = template.nonce_string(0).len() - DIGITS_LEN;
                    assert!(template.digits_at() <= latest, "len {len}");
                    assert_eq!((len + head) % 64, template.digits_at());
                    assert_eq!(template.digits_at(), best, "len {len}, variant {variant}");
                    assert_eq!(head, shortest_head, "len {len}, variant {variant}");
                    assert_eq!(template.variant(), variant);
                }
            }
        }
    }

    /// The hash from the midstate is SHA-256 of the whole preimage, for prefixes of every
    /// length mod 64 (digits in either block position) and several counters.
    #[test]
    fn hash_from_the_midstate_is_the_preimage_hash() {
        for len in 0..140 {
            let prefix: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let template = MiningTemplate::new(&prefix, b"17", len as u64).expect("valid");
            for counter in [
                0,
                1,
                9_999,
                10_000,
                123_456_789,
                template.counter_limit() - 1,
            ] {
                assert_eq!(
                    template.hash(counter),
                    crate::chain::hash::sha256(&template.preimage(counter)),
                    "prefix length {len}, counter {counter}"
                );
            }
        }
    }

    /// Each error variant.
    #[test]
    fn rejects_bad_suffix_and_huge_variant() {
        assert!(matches!(
            MiningTemplate::new(b"", b"", 0),
            Err(LayoutError::InvalidSuffix { .. })
        ));
        assert!(matches!(
            MiningTemplate::new(b"", b"12a", 0),
            Err(LayoutError::InvalidSuffix { .. })
        ));
        assert!(matches!(
            MiningTemplate::new(b"", b"1234", 0),
            Err(LayoutError::InvalidSuffix { .. })
        ));
        assert!(matches!(
            MiningTemplate::new(&[b'x'; 26], b"1", u64::MAX),
            Err(LayoutError::VariantTooLarge { .. })
        ));
    }

    /// The head is `10^(len - 1) + variant` in decimal, the first digit nonzero, for
    /// every head length and variants up to the largest each length holds.
    #[test]
    fn heads_are_one_then_the_variant() {
        for len in 1..=31usize {
            let room = 9 * 10u128.pow(len as u32 - 1);
            let largest = u64::try_from(room - 1).unwrap_or(u64::MAX);
            let variants = [0, 1, 9, 10, 99, 12_345, largest / 3, largest - 1, largest];
            for variant in variants.into_iter().filter(|&v| u128::from(v) < room) {
                let mut head = vec![0u8; len];
                write_head(variant, &mut head);
                let expected = (10u128.pow(len as u32 - 1) + u128::from(variant)).to_string();
                assert_eq!(head, expected.as_bytes(), "length {len}, variant {variant}");
            }
        }
    }
}
