//! SHA-256 of many short messages at once. Checking a chain hashes a few blocks of 64
//! bytes per chain block, one message after another, and one SHA-256 stream is bound by
//! its rounds' latency (SHA-NI on AMD) or by the SHA unit itself (on an Intel Ice Lake
//! Xeon `sha2`'s SHA-NI path ran 12-15 M compressions/s a core). So where the CPU has
//! AVX-512 (F and BW), [`HashMany`] hashes up to 16 messages side by side, one per
//! 32-bit lane: on that Xeon, sixteen 190-byte messages took 120-124 ns a message
//! against 354-380 ns one by one with `sha2`. Elsewhere, and for a lone message, it
//! calls `sha2` for each.
//!
//! Messages of different lengths share the lanes: each lane reads its own message's
//! blocks in place (its last one or two, with the SHA-256 padding, are written out once),
//! the sixteen blocks are transposed in registers so that each vector holds one word of
//! every lane, and a lane whose message has no more blocks keeps its state while the
//! others go on.

#![deny(unsafe_op_in_unsafe_fn)]
// Off x86-64 only the one-by-one path exists, and the lanes' constants go unused.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use sha2::{Digest, Sha256};

/// Most messages one [`HashMany::digests`] call hashes side by side.
pub const LANES: usize = 16;

/// Bytes of messages after which a [`Batch`] is full before it has [`LANES`] messages,
/// and the most a message buffer keeps between batches: a chain of large blocks then
/// holds one large preimage at a time, not sixteen.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Up to [`LANES`] messages gathered in reused buffers, then hashed together: what
/// both chain checks (from blocks and from text) fill with preimages.
#[derive(Debug, Default)]
pub struct Batch {
    buffers: [Vec<u8>; LANES],
    /// Messages taken.
    len: usize,
    /// Their bytes.
    bytes: usize,
    digests: [[u8; 32]; LANES],
    hasher: HashMany,
}

impl Batch {
    /// An empty batch that hashes with AVX-512 where the CPU has it.
    pub fn new() -> Self {
        Self::default()
    }

    /// The buffer the next message is written to (as the last message left it: the
    /// caller clears it). [`Batch::push`] takes it into the batch.
    ///
    /// # Panics
    /// When the batch holds [`LANES`] messages (hash it once [`Batch::is_full`]).
    pub fn slot(&mut self) -> &mut Vec<u8> {
        &mut self.buffers[self.len]
    }

    /// Takes the message written to [`Batch::slot`] into the batch.
    pub fn push(&mut self) {
        self.bytes += self.buffers[self.len].len();
        self.len += 1;
    }

    /// Whether the batch is to be hashed now: every lane taken, or [`BATCH_BYTES`]
    /// waiting.
    pub fn is_full(&self) -> bool {
        self.len == LANES || self.bytes >= BATCH_BYTES
    }

    /// SHA-256 of each message taken, in order; then the batch is empty, and a buffer
    /// grown past [`BATCH_BYTES`] is let go.
    pub fn hash(&mut self) -> &[[u8; 32]] {
        let count = self.len;
        let messages: [&[u8]; LANES] = std::array::from_fn(|i| &self.buffers[i][..]);
        self.hasher.digests(&messages[..count], &mut self.digests);
        for buffer in &mut self.buffers[..count] {
            if buffer.capacity() > BATCH_BYTES {
                *buffer = Vec::new();
            }
        }
        self.len = 0;
        self.bytes = 0;
        &self.digests[..count]
    }
}

/// Hashes batches of up to [`LANES`] messages, with AVX-512 where the CPU has it.
#[derive(Debug, Clone, Copy)]
pub struct HashMany {
    /// The CPU has AVX-512F (looked up once, not per batch).
    lanes: bool,
}

impl Default for HashMany {
    fn default() -> Self {
        Self::new()
    }
}

impl HashMany {
    /// A hasher that uses AVX-512 when this CPU has it.
    pub fn new() -> Self {
        Self {
            lanes: avx512_available(),
        }
    }

    /// A hasher that hashes one message at a time with `sha2`, whatever the CPU: the
    /// reference the lanes are tested against.
    pub fn one_by_one() -> Self {
        Self { lanes: false }
    }

    /// Whether [`HashMany::digests`] hashes in AVX-512 lanes.
    pub fn uses_lanes(&self) -> bool {
        self.lanes
    }

    /// Writes SHA-256 of `messages[i]` to `out[i]`.
    ///
    /// # Panics
    /// When `messages` holds more than [`LANES`] messages or `out` is shorter than
    /// `messages` (a caller's mistake, not input).
    pub fn digests(&self, messages: &[&[u8]], out: &mut [[u8; 32]]) {
        assert!(messages.len() <= LANES, "at most {LANES} messages a batch");
        assert!(out.len() >= messages.len(), "a digest for each message");
        #[cfg(target_arch = "x86_64")]
        if self.lanes && messages.len() > 1 {
            // SAFETY: `lanes` is only set where the CPU has AVX-512F and AVX-512BW.
            unsafe { avx512::digests(messages, out) };
            return;
        }
        for (message, digest) in messages.iter().zip(out.iter_mut()) {
            *digest = Sha256::digest(message).into();
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx512_available() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_available() -> bool {
    false
}

/// SHA-256's initial state (the miner's midstates start from it too).
pub(crate) const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// SHA-256's round constants (the miner's kernels read them from here too).
pub(crate) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// How many 64-byte blocks a message of `len` bytes takes once padded (the `0x80` byte
/// and the 8-byte bit length).
fn padded_blocks(len: usize) -> usize {
    (len + 8) / 64 + 1
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use core::arch::x86_64::*;

    use super::{K, LANES, SHA256_IV, padded_blocks};

    type V = __m512i;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(x: u32) -> V {
        _mm512_set1_epi32(x as i32)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn add(a: V, b: V) -> V {
        _mm512_add_epi32(a, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn xor3(a: V, b: V, c: V) -> V {
        _mm512_ternarylogic_epi32::<0x96>(a, b, c)
    }

    /// One round, with the roles named in their order for this round (`a` first): the
    /// new `e` goes into `d`'s variable and the new `a` into `h`'s, so the next round
    /// names the same variables one role on, and nothing moves between registers.
    macro_rules! round {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $kw:expr) => {{
            let sigma1 = xor3(
                _mm512_ror_epi32::<6>($e),
                _mm512_ror_epi32::<11>($e),
                _mm512_ror_epi32::<25>($e),
            );
            let ch = _mm512_ternarylogic_epi32::<0xCA>($e, $f, $g);
            let t1 = add(add($h, sigma1), add(ch, $kw));
            let sigma0 = xor3(
                _mm512_ror_epi32::<2>($a),
                _mm512_ror_epi32::<13>($a),
                _mm512_ror_epi32::<22>($a),
            );
            let maj = _mm512_ternarylogic_epi32::<0xE8>($a, $b, $c);
            $d = add($d, t1);
            $h = add(t1, add(sigma0, maj));
        }};
    }

    /// Rounds `$base + $j` to `$base + $j + 7` (`$j` 0 or 8: every index into `w` is a
    /// constant, so `w` stays in registers), computing each schedule word first when
    /// `$schedule` (past round 16).
    macro_rules! eight_rounds {
        ($s:ident, $w:ident, $base:expr, $j:literal, $schedule:literal) => {{
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = $s;
            let kw = |w: &mut [V; 16], i: usize| {
                if $schedule {
                    w[i] = next_word(w, i);
                }
                add(splat(K[$base + i]), w[i])
            };
            round!(a, b, c, d, e, f, g, h, kw(&mut $w, $j));
            round!(h, a, b, c, d, e, f, g, kw(&mut $w, $j + 1));
            round!(g, h, a, b, c, d, e, f, kw(&mut $w, $j + 2));
            round!(f, g, h, a, b, c, d, e, kw(&mut $w, $j + 3));
            round!(e, f, g, h, a, b, c, d, kw(&mut $w, $j + 4));
            round!(d, e, f, g, h, a, b, c, kw(&mut $w, $j + 5));
            round!(c, d, e, f, g, h, a, b, kw(&mut $w, $j + 6));
            round!(b, c, d, e, f, g, h, a, kw(&mut $w, $j + 7));
            $s = [a, b, c, d, e, f, g, h];
        }};
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn next_word(w: &[V; 16], t: usize) -> V {
        let w2 = w[(t + 14) % 16];
        let w15 = w[(t + 1) % 16];
        let sigma1 = xor3(
            _mm512_ror_epi32::<17>(w2),
            _mm512_ror_epi32::<19>(w2),
            _mm512_srli_epi32::<10>(w2),
        );
        let sigma0 = xor3(
            _mm512_ror_epi32::<7>(w15),
            _mm512_ror_epi32::<18>(w15),
            _mm512_srli_epi32::<3>(w15),
        );
        add(add(sigma1, w[(t + 9) % 16]), add(sigma0, w[t % 16]))
    }

    /// One compression of every lane whose bit is set in `live`, from `w` (word `t` of
    /// every lane in `w[t]`); the other lanes keep their state.
    #[target_feature(enable = "avx512f")]
    fn compress(state: &mut [V; 8], mut w: [V; 16], live: u16) {
        let mut s = *state;
        eight_rounds!(s, w, 0, 0, false);
        eight_rounds!(s, w, 0, 8, false);
        for base in [16, 32, 48] {
            eight_rounds!(s, w, base, 0, true);
            eight_rounds!(s, w, base, 8, true);
        }
        for (word, worked) in state.iter_mut().zip(s) {
            *word = _mm512_mask_add_epi32(*word, live, *word, worked);
        }
    }

    /// The 16 x 16 matrix of dwords `rows` (row `i`: lane `i`'s message block)
    /// transposed, so that vector `t` holds word `t` of every lane: dwords, then
    /// quadwords interleaved within each 128-bit lane, then the 128-bit lanes gathered
    /// across vectors (64 shuffles, against a few thousand operations of rounds).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose(rows: [V; 16]) -> [V; 16] {
        // Pairs of rows, dwords interleaved: lane L of `pairs[2i]` holds columns
        // 4L and 4L + 1 of rows 2i and 2i + 1; of `pairs[2i + 1]`, columns 4L + 2, 4L + 3.
        let mut pairs = [_mm512_setzero_si512(); 16];
        for i in 0..8 {
            pairs[2 * i] = _mm512_unpacklo_epi32(rows[2 * i], rows[2 * i + 1]);
            pairs[2 * i + 1] = _mm512_unpackhi_epi32(rows[2 * i], rows[2 * i + 1]);
        }
        // Lane L of `quads[4i + k]` holds column 4L + k of rows 4i to 4i + 3.
        let mut quads = [_mm512_setzero_si512(); 16];
        for i in 0..4 {
            let [p0, p1, p2, p3] = [0, 1, 2, 3].map(|k| pairs[4 * i + k]);
            quads[4 * i] = _mm512_unpacklo_epi64(p0, p2);
            quads[4 * i + 1] = _mm512_unpackhi_epi64(p0, p2);
            quads[4 * i + 2] = _mm512_unpacklo_epi64(p1, p3);
            quads[4 * i + 3] = _mm512_unpackhi_epi64(p1, p3);
        }
        // Column 4L + k is lane L of quads[k], quads[4 + k], quads[8 + k], quads[12 + k].
        let mut columns = [_mm512_setzero_si512(); 16];
        for k in 0..4 {
            let (a, b, c, d) = (quads[k], quads[4 + k], quads[8 + k], quads[12 + k]);
            // Lanes 0 and 2, then 1 and 3, of each pair of vectors.
            let ab_even = _mm512_shuffle_i32x4::<0x88>(a, b);
            let ab_odd = _mm512_shuffle_i32x4::<0xDD>(a, b);
            let cd_even = _mm512_shuffle_i32x4::<0x88>(c, d);
            let cd_odd = _mm512_shuffle_i32x4::<0xDD>(c, d);
            columns[k] = _mm512_shuffle_i32x4::<0x88>(ab_even, cd_even);
            columns[8 + k] = _mm512_shuffle_i32x4::<0xDD>(ab_even, cd_even);
            columns[4 + k] = _mm512_shuffle_i32x4::<0x88>(ab_odd, cd_odd);
            columns[12 + k] = _mm512_shuffle_i32x4::<0xDD>(ab_odd, cd_odd);
        }
        columns
    }

    /// SHA-256 of each of `messages` (at most [`LANES`]) into `out`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn digests(messages: &[&[u8]], out: &mut [[u8; 32]]) {
        // Each lane's blocks wholly inside its message, read in place, and its last one
        // or two blocks with the padding, written out here once.
        let mut whole = [0usize; LANES];
        let mut blocks = [0usize; LANES];
        let mut tails = [[0u8; 128]; LANES];
        for (lane, message) in messages.iter().enumerate() {
            whole[lane] = message.len() / 64;
            blocks[lane] = padded_blocks(message.len());
            let tail = &message[64 * whole[lane]..];
            let padded = &mut tails[lane][..64 * (blocks[lane] - whole[lane])];
            padded[..tail.len()].copy_from_slice(tail);
            padded[tail.len()] = 0x80;
            let bits = (message.len() as u64).wrapping_mul(8);
            let end = padded.len();
            padded[end - 8..].copy_from_slice(&bits.to_be_bytes());
        }
        let most = blocks.iter().copied().max().unwrap_or(0);
        // Bytes 3, 2, 1, 0 of each dword: SHA-256's words are big-endian.
        let swap = _mm512_set4_epi32(0x0c0d_0e0f, 0x0809_0a0b, 0x0405_0607, 0x0001_0203);
        let mut state = SHA256_IV.map(|word| splat(word));
        for block in 0..most {
            let mut live = 0u16;
            let mut rows = [_mm512_setzero_si512(); LANES];
            for (lane, message) in messages.iter().enumerate() {
                if block < blocks[lane] {
                    live |= 1 << lane;
                    let bytes: &[u8] = if block < whole[lane] {
                        &message[64 * block..64 * block + 64]
                    } else {
                        let at = 64 * (block - whole[lane]);
                        &tails[lane][at..at + 64]
                    };
                    // SAFETY: `bytes` is 64 readable bytes; `loadu` has no alignment
                    // requirement.
                    let row = unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) };
                    rows[lane] = _mm512_shuffle_epi8(row, swap);
                }
            }
            let w = transpose(rows);
            compress(&mut state, w, live);
        }
        let mut lanes = [[0u32; LANES]; 8];
        for (row, word) in lanes.iter_mut().zip(state) {
            // SAFETY: each row is 64 writable bytes; `storeu` has no alignment requirement.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), word) };
        }
        for (lane, digest) in out.iter_mut().enumerate().take(messages.len()) {
            for (i, row) in lanes.iter().enumerate() {
                digest[4 * i..4 * i + 4].copy_from_slice(&row[lane].to_be_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every length around the padding's edges (55, 56, 63, 64...) and a few blocks
    /// past, in batches of every size, against `sha2` one by one.
    #[test]
    fn lanes_agree_with_sha2_at_every_length() {
        let hasher = HashMany::new();
        let text: Vec<u8> = (0..400u32).map(|i| (i * 31 + 7) as u8).collect();
        for first in 0..=200 {
            for count in [1, 2, 7, 15, 16] {
                let messages: Vec<&[u8]> = (0..count)
                    .map(|i| &text[..(first + 13 * i) % 400])
                    .collect();
                let mut got = vec![[0u8; 32]; count];
                hasher.digests(&messages, &mut got);
                for (message, digest) in messages.iter().zip(&got) {
                    assert_eq!(*digest, <[u8; 32]>::from(Sha256::digest(message)));
                }
            }
        }
    }

    #[test]
    fn the_lanes_are_used_where_the_cpu_has_avx512() {
        assert_eq!(HashMany::new().uses_lanes(), avx512_available());
        assert!(!HashMany::one_by_one().uses_lanes());
    }

    /// A batch is full at sixteen messages or at `BATCH_BYTES`, hashes what it took in
    /// order, and lets go of a buffer grown past `BATCH_BYTES`.
    #[test]
    fn a_batch_fills_hashes_and_lets_large_buffers_go() {
        let mut batch = Batch::new();
        for i in 0..LANES {
            assert!(!batch.is_full(), "{i}");
            let slot = batch.slot();
            slot.clear();
            slot.extend_from_slice(format!("message {i}").as_bytes());
            batch.push();
        }
        assert!(batch.is_full());
        let digests = batch.hash().to_vec();
        assert_eq!(digests.len(), LANES);
        for (i, digest) in digests.iter().enumerate() {
            let want: [u8; 32] = Sha256::digest(format!("message {i}")).into();
            assert_eq!(*digest, want);
        }
        assert!(!batch.is_full());
        let slot = batch.slot();
        slot.clear();
        slot.resize(BATCH_BYTES + 1, b'z');
        batch.push();
        assert!(batch.is_full());
        let digest = batch.hash().to_vec();
        assert_eq!(
            digest,
            [<[u8; 32]>::from(Sha256::digest(vec![
                b'z';
                BATCH_BYTES + 1
            ]))]
        );
        assert_eq!(batch.slot().capacity(), 0, "the large buffer was let go");
    }

    proptest! {
        /// Any batch of messages hashes as `sha2` hashes each alone.
        #[test]
        fn any_batch_agrees_with_sha2(
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..=LANES)
        ) {
            let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let mut got = vec![[0u8; 32]; messages.len()];
            HashMany::new().digests(&messages, &mut got);
            let mut want = vec![[0u8; 32]; messages.len()];
            HashMany::one_by_one().digests(&messages, &mut want);
            prop_assert_eq!(got, want);
        }
    }
}
