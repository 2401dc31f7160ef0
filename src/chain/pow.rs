//! Proof of work: block hashes, difficulty as leading zero bits, and chain work.

use std::fmt;

use primitive_types::U512;

/// The hardest difficulty a hash can meet: a SHA-256 hash has 256 bits, so it has at
/// most 256 leading zero bits. Anything above is never met (the miner does not search
/// it; the CLI refuses to pin it).
pub const MAX_MEETABLE_DIFFICULTY: u32 = 256;

/// A SHA-256 block hash as computed (32 bytes; written as 64 lowercase hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockHash([u8; 32]);

impl BlockHash {
    /// The hash with these 32 bytes (as SHA-256 wrote them, big-endian).
    pub const fn from_bytes(bytes: [u8; 32]) -> BlockHash {
        BlockHash(bytes)
    }

    /// The hash's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Number of leading zero bits of the hash read as a big-endian 256-bit number.
    pub fn leading_zero_bits(&self) -> u32 {
        let mut bits = 0;
        for chunk in self.0.chunks_exact(8) {
            let word = u64::from_be_bytes(
                chunk
                    .try_into()
                    .expect("chunks_exact(8) yields 8-byte chunks"),
            );
            bits += word.leading_zeros();
            if word != 0 {
                break;
            }
        }
        bits
    }

    /// The hash as 64 lowercase hex digits, as blocks carry it.
    pub fn to_hex(&self) -> String {
        String::from_utf8(self.hex_digits().to_vec()).expect("hex digits are ASCII")
    }

    /// The hash's 64 lowercase hex digits as bytes, in straight-line code the compiler
    /// vectorizes: the miner writes one for every block it finds (before it can post the
    /// next block's job), and validation compares one with every block's hash.
    pub fn hex_digits(&self) -> [u8; 64] {
        let digit = |n: u8| n + if n < 10 { b'0' } else { b'a' - 10 };
        let mut out = [0u8; 64];
        for (pair, &b) in out.chunks_exact_mut(2).zip(&self.0) {
            pair[0] = digit(b >> 4);
            pair[1] = digit(b & 0xf);
        }
        out
    }

    /// Whether `text` is this hash's hex form (what the original compares).
    pub fn matches_hex(&self, text: &str) -> bool {
        self.hex_digits() == text.as_bytes()
    }
}

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlockHash({self})")
    }
}

/// A block's difficulty: the number of leading zero bits its hash must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Difficulty(u32);

impl Difficulty {
    /// A difficulty of `bits` leading zero bits. Any `u32` is a difficulty a block may
    /// claim; only those up to [`MAX_MEETABLE_DIFFICULTY`] can be met by a hash.
    pub const fn new(bits: u32) -> Difficulty {
        Difficulty(bits)
    }

    /// The number of leading zero bits a hash must have.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether `hash` has at least this many leading zero bits.
    pub fn is_met_by(self, hash: &BlockHash) -> bool {
        hash.leading_zero_bits() >= self.0
    }

    /// The expected number of attempts to meet this difficulty: 2^difficulty.
    pub fn work(self) -> Work {
        Work::of_difficulty(self)
    }
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Cumulative work of a chain: the sum of 2^difficulty over its blocks.
///
/// Held in 512 bits, so that a chain of any practical length at any difficulty a hash
/// can meet (≤ [`MAX_MEETABLE_DIFFICULTY`]) is exact; a difficulty of 512 or more (possible only under the
/// original's rules, which never check the hash against it) saturates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Work(U512);

impl Work {
    /// No work.
    pub const ZERO: Work = Work(U512::zero());

    /// 2^difficulty.
    pub fn of_difficulty(d: Difficulty) -> Work {
        if d.0 >= 512 {
            Work(U512::MAX)
        } else {
            Work(U512::one() << d.0 as usize)
        }
    }

    /// Adds, saturating.
    pub fn saturating_add(self, other: Work) -> Work {
        Work(self.0.saturating_add(other.0))
    }

    /// Reads the decimal form [`Display`](fmt::Display) writes (a peer's claimed
    /// work in a block announcement); `None` when it is not one.
    pub fn parse_decimal(text: &str) -> Option<Work> {
        if text.is_empty() || text.len() > 160 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        U512::from_dec_str(text).ok().map(Work)
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::iter::Sum for Work {
    fn sum<I: Iterator<Item = Work>>(iter: I) -> Work {
        iter.fold(Work::ZERO, Work::saturating_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hex forms are the `hex` crate's lowercase encoding, for bytes covering every
    /// nibble value.
    #[test]
    fn hex_is_lowercase_hex() {
        for seed in 0..16u8 {
            let hash = BlockHash(std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ seed));
            let expected = hex::encode(hash.0);
            assert_eq!(hash.hex_digits().to_vec(), expected.clone().into_bytes());
            assert_eq!(hash.to_hex(), expected);
            assert!(hash.matches_hex(&expected));
            assert!(
                !hash.matches_hex(&expected.to_uppercase())
                    || !expected.contains(char::is_alphabetic)
            );
        }
    }

    #[test]
    fn leading_zero_bits_counts_across_words() {
        let mut h = [0u8; 32];
        h[0] = 0x10;
        assert_eq!(BlockHash(h).leading_zero_bits(), 3);
        let mut h = [0u8; 32];
        h[9] = 0x01;
        assert_eq!(BlockHash(h).leading_zero_bits(), 79);
        assert_eq!(
            BlockHash([0; 32]).leading_zero_bits(),
            MAX_MEETABLE_DIFFICULTY
        );
        assert!(
            Difficulty(79).is_met_by(&BlockHash(h)) && !Difficulty(80).is_met_by(&BlockHash(h))
        );
    }

    #[test]
    fn work_sums_powers_of_two() {
        let w: Work = [3, 4, 4].into_iter().map(|d| Difficulty(d).work()).sum();
        assert_eq!(w.to_string(), "40");
        assert!(Difficulty(300).work() > Difficulty(299).work());
        assert_eq!(
            Difficulty(600).work().saturating_add(Difficulty(1).work()),
            Difficulty(600).work()
        );
    }

    #[test]
    fn hex_roundtrip() {
        let h = BlockHash([0xab; 32]);
        assert!(
            h.matches_hex(&"ab".repeat(32))
                && !h.matches_hex(&"AB".repeat(32))
                && !h.matches_hex("ab")
        );
    }
}
