//! Per-job facts every kernel shares (safe code): where the digits sit in the final block's
//! words, the lookup tables for the four fastest digits, the constant rounds, and the
//! scalar check used to confirm a hit past the first state word.
//!
//! A counter `c` splits into `hi = c / 10^4` and `inner = c % 10^4`. The four inner digits
//! end the low digits, so they touch at most two message words (`w_a`, `w_b`), both late
//! in the block when the digits are. Everything else in the block, and so every SHA-256
//! round before `w_a` and every schedule word that does not depend on `w_a`/`w_b`, is
//! constant for `10^4` consecutive counters: a kernel recomputes it once per `hi` (see
//! [`HiBlock`]) and spends per attempt only the work that really varies.

// Off x86-64 only the portable kernel exists, and it needs little of this.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use std::sync::OnceLock;

use sha2::block_api::compress256;

use crate::miner::layout::{DIGITS_LEN, INNER_AT, INNER_DIGITS, MiningTemplate, write_digits};

/// SHA-256 round constants (kept beside the chain's own SHA-256 lanes).
pub(crate) use crate::chain::hash_many::K;

/// `10^INNER_DIGITS`: the counters one [`HiBlock`] covers.
pub(crate) const INNER_SPAN: u64 = 10_000;
/// Zero entries after the `INNER_SPAN` real ones in each digit table, so that a batch of
/// up to this many lanes may start at any inner value and read past the block's end
/// (those lanes hash garbage and the kernels drop their hits).
pub(crate) const TABLE_PAD: usize = 64;

/// The per-job geometry shared by the kernels.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub(crate) midstate: [u32; 8],
    /// The final block with every low digit `'0'`.
    pub(crate) block: [u8; 64],
    pub(crate) digits_at: usize,
    pub(crate) digits_len: usize,
    pub(crate) limit: u64,
    pub(crate) difficulty: u32,
    /// The first message word an inner digit touches.
    pub(crate) w_a: usize,
    /// The last message word an inner digit touches (`w_a` or `w_a + 1`).
    pub(crate) w_b: usize,
    /// Inner digits' bytes in word `w_a`, by inner value (other bytes zero), then
    /// [`TABLE_PAD`] zeros.
    pub(crate) table_a: &'static [u32],
    /// Inner digits' bytes in word `w_b` when it differs from `w_a`, else all zero.
    pub(crate) table_b: &'static [u32],
    /// Bit `t` set when schedule word `t` depends on an inner digit.
    pub(crate) varying_schedule: u64,
    /// Bit `t` (`t >= 16`) set when `sigma0(W[t-15]) + W[t-16]` does not.
    pub(crate) constant_low_terms: u64,
    /// Which terms of the words that depend on an inner digit do not (see
    /// [`ConstantTerms`]): a vector kernel adds those once per `hi`, not per attempt.
    pub(crate) constant_terms: ConstantTerms,
}

/// For each schedule word `W[t]` that depends on an inner digit, which of its four terms
/// `sigma1(W[t-2])`, `W[t-7]`, `sigma0(W[t-15])` and `W[t-16]` do not: bit `t` of each
/// mask (only the varying words' bits are ever set). The vector kernels add a word's
/// constant terms once per `hi` and, per batch, only the varying ones, each one vector add
/// (and 4 operations for a varying `sigma`). With the digits at byte 43 that spares 17 of
/// the schedule's roughly 450 operations per batch and stream over taking
/// `sigma0(W[t-15]) + W[t-16]` as one term (`W[28]`, `W[35]`, `W[37]` and `W[39]` have a
/// constant `sigma0` beside a varying `W[t-16]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ConstantTerms {
    /// `sigma1(W[t-2])` is constant.
    pub(crate) sigma1: u64,
    /// `W[t-7]` is constant.
    pub(crate) w7: u64,
    /// `sigma0(W[t-15])` is constant.
    pub(crate) sigma0: u64,
    /// `W[t-16]` is constant.
    pub(crate) w16: u64,
}

impl ConstantTerms {
    /// Bit `t` set when varying word `t` has any constant term.
    pub(crate) const fn any(&self) -> u64 {
        self.sigma1 | self.w7 | self.sigma0 | self.w16
    }
}

/// `(varying_schedule, constant_low_terms, constant_terms)` of [`Geometry`] for inner
/// digits starting at each byte of the final block: they depend on nothing else, so they
/// are worked out at compile time instead of for every job.
const SCHEDULE_MASKS: [(u64, u64, ConstantTerms); 64] = {
    const NONE: ConstantTerms = ConstantTerms {
        sigma1: 0,
        w7: 0,
        sigma0: 0,
        w16: 0,
    };
    let mut masks = [(0u64, 0u64, NONE); 64];
    let mut inner_at = 0;
    while inner_at < 64 {
        let w_a = inner_at / 4;
        let w_b = if (inner_at + INNER_DIGITS - 1) / 4 < 16 {
            (inner_at + INNER_DIGITS - 1) / 4
        } else {
            w_a
        };
        let mut varying: u64 = (1 << w_a) | (1 << w_b);
        let mut t = 16;
        while t < 64 {
            let deps = (1 << (t - 2)) | (1 << (t - 7)) | (1 << (t - 15)) | (1 << (t - 16));
            if varying & deps != 0 {
                varying |= 1 << t;
            }
            t += 1;
        }
        let mut constant_low = 0;
        let mut terms = NONE;
        let mut t = 16;
        while t < 64 {
            if varying & ((1 << (t - 15)) | (1 << (t - 16))) == 0 {
                constant_low |= 1 << t;
            }
            if varying & (1 << t) != 0 {
                // Bit t when word t - back does not vary.
                terms.sigma1 |= (varying >> (t - 2) & 1 ^ 1) << t;
                terms.w7 |= (varying >> (t - 7) & 1 ^ 1) << t;
                terms.sigma0 |= (varying >> (t - 15) & 1 ^ 1) << t;
                terms.w16 |= (varying >> (t - 16) & 1 ^ 1) << t;
            }
            t += 1;
        }
        masks[inner_at] = (varying, constant_low, terms);
        inner_at += 1;
    }
    masks
};

/// Schedule words from here on always depend on the inner digits, wherever they sit: a
/// kernel need not keep constants for them.
pub(crate) const CONSTANT_WORDS_END: usize = 26;
/// `sigma0(W[t-15]) + W[t-16]` never is constant from here on.
pub(crate) const CONSTANT_LOW_END: usize = 40;
/// No schedule word from here on has a constant term (its `W[t-16]` is past
/// [`CONSTANT_WORDS_END`], and so are its other terms' words).
pub(crate) const CONSTANT_TERMS_END: usize = CONSTANT_WORDS_END + 16;

// The bounds above hold for every position of the inner digits.
const _: () = {
    let mut inner_at = 0;
    while inner_at + INNER_DIGITS <= 64 {
        let (varying, constant_low, terms) = SCHEDULE_MASKS[inner_at];
        assert!(varying >> CONSTANT_WORDS_END == u64::MAX >> CONSTANT_WORDS_END);
        assert!(constant_low >> CONSTANT_LOW_END == 0);
        assert!(terms.any() >> CONSTANT_TERMS_END == 0);
        assert!(varying >> CONSTANT_TERMS_END == u64::MAX >> CONSTANT_TERMS_END);
        // A varying word has a varying term.
        assert!(terms.sigma1 & terms.w7 & terms.sigma0 & terms.w16 == 0);
        inner_at += 1;
    }
};

/// What is constant for one `hi` (10^4 consecutive counters).
#[derive(Debug, Clone)]
pub(crate) struct HiBlock {
    /// Message words with the `hi` digits written and the inner digits' bytes zeroed.
    pub(crate) words: [u32; 16],
    /// The schedule words that do not depend on the inner digits (those not in
    /// `varying_schedule`, all before [`CONSTANT_WORDS_END`]); zero for the others,
    /// which the kernels compute per batch.
    pub(crate) schedule: [u32; CONSTANT_WORDS_END],
    /// At `t - 16`, `sigma0(W[t-15]) + W[t-16]` for the `t` that `constant_low_terms`
    /// names (all before [`CONSTANT_LOW_END`]); zero elsewhere.
    pub(crate) low_terms: [u32; CONSTANT_LOW_END - 16],
    /// Working variables `a..h` after the first `rounds_done` rounds.
    pub(crate) state: [u32; 8],
}

/// Rounds `w_a` to `w_a + 3` in scalar parts: every input of round `w_a` but `W[w_a]` is
/// the same for a whole `hi`, so its new `a` and `e` are each one add per attempt
/// (`first_a + W[w_a]`, `first_e + W[w_a]`); and the three rounds after it still read
/// `h` and `d` from before round `w_a`, so `h + K[t] (+ W[t] when constant)` and
/// `d + h + K[t] (+ W[t])` are constants too. That is most of a round, and two adds of
/// each of the next three (one where `W[t]` varies), saved per attempt; the kernels
/// enter their round loop at `w_a + 4` with every working variable varying.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    /// New `a` of round `w_a`, less `W[w_a]`.
    pub(crate) first_a: u32,
    /// New `e` of round `w_a`, less `W[w_a]`.
    pub(crate) first_e: u32,
    /// For round `w_a + 1 + j`: `h + K[t]`, plus `W[t]` when that word is constant (the
    /// lanes add a varying one).
    pub(crate) hkw: [u32; 3],
    /// For round `w_a + 1 + j`: `d` plus [`Head::hkw`].
    pub(crate) dhkw: [u32; 3],
}

impl Geometry {
    pub(crate) fn new(template: &MiningTemplate, difficulty: u32) -> Self {
        Self::from_parts(
            template.midstate(),
            *template.last_block(),
            template.digits_at(),
            difficulty,
        )
    }

    /// The geometry of a template given by its parts: the midstate, the final block and
    /// where its low digits start (there are always [`DIGITS_LEN`] of them).
    pub(crate) fn from_parts(
        midstate: [u32; 8],
        block: [u8; 64],
        digits_at: usize,
        difficulty: u32,
    ) -> Self {
        let digits_len = DIGITS_LEN;
        assert!(
            digits_len >= INNER_DIGITS,
            "templates have at least {INNER_DIGITS} low digits"
        );
        let inner_at = digits_at + INNER_AT;
        let w_a = inner_at / 4;
        let w_b = (inner_at + INNER_DIGITS - 1) / 4;
        let (table_a, table_b) = digit_tables(inner_at % 4);
        let (varying, constant_low_terms, constant_terms) = SCHEDULE_MASKS[inner_at];
        Self {
            midstate,
            block,
            digits_at,
            digits_len,
            limit: 10u64.pow(DIGITS_LEN as u32),
            difficulty,
            w_a,
            w_b,
            table_a,
            table_b,
            varying_schedule: varying,
            constant_low_terms,
            constant_terms,
        }
    }

    /// The block for counter `hi * 10^4` with the inner digits' bytes zeroed.
    fn hi_words(&self, hi: u64) -> [u32; 16] {
        let mut block = self.block;
        let hi_len = INNER_AT;
        let at = self.digits_at;
        write_digits(hi, &mut block[at..at + hi_len]);
        block[at + hi_len..at + self.digits_len].fill(0);
        words_of(&block)
    }

    /// Constant work for one `hi`: rounds before `rounds_done` (at most `w_a`), and the
    /// schedule words that do not depend on the inner digits.
    pub(crate) fn hi_block(&self, hi: u64, rounds_done: usize) -> HiBlock {
        debug_assert!(rounds_done <= self.w_a);
        let words = self.hi_words(hi);
        let mut schedule = [0u32; CONSTANT_WORDS_END];
        schedule[..16].copy_from_slice(&words);
        let mut low_terms = [0u32; CONSTANT_LOW_END - 16];
        // Only what the kernels read: a word that depends on the inner digits is
        // recomputed per batch (and every word it needs is either such a word or one
        // computed here), so most of the schedule past the digits is skipped.
        for t in 16..CONSTANT_LOW_END {
            let constant_low = self.constant_low_terms >> t & 1 == 1;
            let constant_word = self.varying_schedule >> t & 1 == 0;
            if !constant_low && !constant_word {
                continue;
            }
            // W[t-15] and W[t-16] are constant words here, so before CONSTANT_WORDS_END.
            let low = small_sigma0(schedule[t - 15]).wrapping_add(schedule[t - 16]);
            if constant_low {
                low_terms[t - 16] = low;
            }
            if constant_word {
                schedule[t] = small_sigma1(schedule[t - 2])
                    .wrapping_add(schedule[t - 7])
                    .wrapping_add(low);
            }
        }
        let mut state = self.midstate;
        for (t, &w) in words.iter().enumerate().take(rounds_done) {
            round(&mut state, K[t].wrapping_add(w));
        }
        HiBlock {
            words,
            schedule,
            low_terms,
            state,
        }
    }

    /// The scalar parts of rounds `w_a` to `w_a + 3` for the vector kernels, from
    /// `fixed` (computed with `rounds_done == w_a`); see [`Head`].
    pub(crate) fn head(&self, fixed: &HiBlock) -> Head {
        let w_a = self.w_a;
        let [a, b, c, _, e, f, g, _] = fixed.state;
        // Round w_a with W[w_a] taken as zero: the lanes add their own word to its new
        // `a` and `e`.
        let mut first = fixed.state;
        round(&mut first, K[w_a]);
        // In rounds w_a + 1 to w_a + 3, `h` and `d` are still working variables that
        // entered round w_a (`g`, `f`, `e` and `c`, `b`, `a` in turn).
        let mut hkw = [0; 3];
        let mut dhkw = [0; 3];
        for (j, (h, d)) in [(g, c), (f, b), (e, a)].into_iter().enumerate() {
            let t = w_a + 1 + j;
            let constant_w = if self.varying_schedule >> t & 1 == 0 {
                fixed.schedule[t]
            } else {
                0
            };
            hkw[j] = h.wrapping_add(K[t]).wrapping_add(constant_w);
            dhkw[j] = d.wrapping_add(hkw[j]);
        }
        Head {
            first_a: first[0],
            first_e: first[4],
            hkw,
            dhkw,
        }
    }

    /// The full final block for `counter`.
    pub(crate) fn block_for(&self, counter: u64) -> [u8; 64] {
        let mut block = self.block;
        let at = self.digits_at;
        write_digits(counter, &mut block[at..at + self.digits_len]);
        block
    }

    /// Whether `counter`'s hash meets the job's difficulty (one full compression).
    pub(crate) fn meets(&self, counter: u64) -> bool {
        let mut state = self.midstate;
        compress256(&mut state, &[self.block_for(counter)]);
        leading_zero_bits(&state) >= self.difficulty
    }

    /// The largest first state word (feed-forward added) that can still meet the
    /// difficulty; a hit on it is final when `difficulty <= 32`.
    pub(crate) fn first_word_max(&self) -> u32 {
        if self.difficulty >= 32 {
            0
        } else {
            u32::MAX >> self.difficulty
        }
    }

    /// Whether a first-word hit needs the full check.
    pub(crate) fn needs_full_check(&self) -> bool {
        self.difficulty > 32
    }
}

/// The digit tables (`table_a`, `table_b`) for inner digits starting at byte
/// `alignment` (0 to 3) of a message word. They depend on nothing else, so the four
/// pairs are built once per process and shared: preparing a job does no table work,
/// which matters when blocks come every few hundred microseconds.
fn digit_tables(alignment: usize) -> (&'static [u32], &'static [u32]) {
    type Tables = (Box<[u32]>, Box<[u32]>);
    static TABLES: OnceLock<[Tables; 4]> = OnceLock::new();
    let (a, b) = &TABLES.get_or_init(|| core::array::from_fn(build_digit_tables))[alignment % 4];
    (a, b)
}

/// Builds the digit tables for inner digits starting at byte `alignment` of word 0.
fn build_digit_tables(alignment: usize) -> (Box<[u32]>, Box<[u32]>) {
    let mut table_a = vec![0u32; INNER_SPAN as usize + TABLE_PAD].into_boxed_slice();
    let mut table_b = vec![0u32; INNER_SPAN as usize + TABLE_PAD].into_boxed_slice();
    let mut digits = [0u8; INNER_DIGITS];
    for inner in 0..INNER_SPAN {
        write_digits(inner, &mut digits);
        for (i, &digit) in digits.iter().enumerate() {
            let pos = alignment + i;
            let bits = u32::from(digit) << (8 * (3 - pos % 4));
            if pos < 4 {
                table_a[inner as usize] |= bits;
            } else {
                table_b[inner as usize] |= bits;
            }
        }
    }
    (table_a, table_b)
}

/// Leading zero bits of a hash given as its eight big-endian state words.
pub(crate) fn leading_zero_bits(state: &[u32; 8]) -> u32 {
    let mut bits = 0;
    for &word in state {
        bits += word.leading_zeros();
        if word != 0 {
            break;
        }
    }
    bits
}

/// The block's sixteen big-endian message words.
pub(crate) fn words_of(block: &[u8; 64]) -> [u32; 16] {
    core::array::from_fn(|i| {
        u32::from_be_bytes([
            block[4 * i],
            block[4 * i + 1],
            block[4 * i + 2],
            block[4 * i + 3],
        ])
    })
}

pub(crate) fn small_sigma0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}

pub(crate) fn small_sigma1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}

/// One SHA-256 round on `[a, b, c, d, e, f, g, h]` with `kw = K[t] + W[t]`.
pub(crate) fn round(s: &mut [u32; 8], kw: u32) {
    let [a, b, c, d, e, f, g, h] = *s;
    let big_sigma1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
    let ch = (e & f) ^ (!e & g);
    let t1 = h.wrapping_add(big_sigma1).wrapping_add(ch).wrapping_add(kw);
    let big_sigma0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
    let maj = (a & b) ^ (a & c) ^ (b & c);
    let t2 = big_sigma0.wrapping_add(maj);
    *s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
}
