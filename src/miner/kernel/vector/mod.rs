//! The software-SHA-256 vector kernels (AVX2: 8 lanes, AVX-512: 16 lanes, two or three
//! AVX-512 streams: 32 or 48 lanes), one attempt per lane, sharing one search loop written once as a
//! macro over each module's lane helpers (`splat`, `add`, `or`, the sigmas, `ch`, `maj`,
//! `load`, `hit_mask`).
//!
//! Per `hi` block (10^4 counters, see `geometry`):
//! - the rounds before the first inner-digit word `w_a` run once, in scalar code, and so
//!   do the constant parts of the next four (the [`Head`](super::geometry::Head)): round
//!   `w_a`'s new `a` and `e` are then one add each per batch, and rounds `w_a + 1` to
//!   `w_a + 3` two adds short of a full round (one where their word varies);
//! - every schedule word that does not depend on the inner digits is computed once and
//!   broadcast, and so is the sum of the terms (`sigma1(W[t-2])`, `W[t-7]`,
//!   `sigma0(W[t-15])`, `W[t-16]`) that do not of each word that does;
//! - per batch of lanes, the inner digits' words are an `or` of a broadcast base and a
//!   vector load from the digit tables (lane `i` holds counter `batch + i`), the
//!   dependent schedule words are computed, and the rounds start at `w_a`.
//!
//! The rounds after the head run in blocks of eight with the working variables renamed,
//! not moved; the first block is entered at round `w_a + 4`, skipping that block's first
//! rounds, in one compiled copy of the loop per place in the block. Only the first state
//! word is needed for the hit test: the last round's constant carries the midstate's
//! first word, so its new `a` is the hash's first word, and the compiler drops the last
//! rounds' unused outputs.

pub(crate) mod avx2;
pub(crate) mod avx512;
pub(crate) mod avx512x2;
pub(crate) mod avx512x3;
mod streams;

/// One SHA-256 round on renamed working variables.
macro_rules! sha_round {
    ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $kw:expr) => {
        let t1 = add(add($h, bsig1($e)), add(ch($e, $f, $g), $kw));
        $d = add($d, t1);
        $h = add(t1, add(bsig0($a), maj($a, $b, $c)));
    };
}

/// Rounds `8 * block + i` for the `i` in `0..8` that `$run(i)` allows.
macro_rules! eight_rounds {
    ([$v0:ident, $v1:ident, $v2:ident, $v3:ident, $v4:ident, $v5:ident, $v6:ident, $v7:ident],
     $sched:expr, $k:expr, $run:expr) => {{
        let sched: &[V; 8] = $sched;
        let k: &[u32; 8] = $k;
        let run = $run;
        if run(0) {
            sha_round!(
                $v0,
                $v1,
                $v2,
                $v3,
                $v4,
                $v5,
                $v6,
                $v7,
                add(sched[0], splat(k[0]))
            );
        }
        if run(1) {
            sha_round!(
                $v7,
                $v0,
                $v1,
                $v2,
                $v3,
                $v4,
                $v5,
                $v6,
                add(sched[1], splat(k[1]))
            );
        }
        if run(2) {
            sha_round!(
                $v6,
                $v7,
                $v0,
                $v1,
                $v2,
                $v3,
                $v4,
                $v5,
                add(sched[2], splat(k[2]))
            );
        }
        if run(3) {
            sha_round!(
                $v5,
                $v6,
                $v7,
                $v0,
                $v1,
                $v2,
                $v3,
                $v4,
                add(sched[3], splat(k[3]))
            );
        }
        if run(4) {
            sha_round!(
                $v4,
                $v5,
                $v6,
                $v7,
                $v0,
                $v1,
                $v2,
                $v3,
                add(sched[4], splat(k[4]))
            );
        }
        if run(5) {
            sha_round!(
                $v3,
                $v4,
                $v5,
                $v6,
                $v7,
                $v0,
                $v1,
                $v2,
                add(sched[5], splat(k[5]))
            );
        }
        if run(6) {
            sha_round!(
                $v2,
                $v3,
                $v4,
                $v5,
                $v6,
                $v7,
                $v0,
                $v1,
                add(sched[6], splat(k[6]))
            );
        }
        if run(7) {
            sha_round!(
                $v1,
                $v2,
                $v3,
                $v4,
                $v5,
                $v6,
                $v7,
                $v0,
                add(sched[7], splat(k[7]))
            );
        }
    }};
}

/// Rounds `w_a + 1` to `w_a + 3` (see [`Head`](super::geometry::Head)): `h + K (+ W)`
/// and `d + h + K (+ W)` come in whole, and a varying `W` (`Some`) is added once to the
/// part both share, so a round is two adds short of [`sha_round`] (one with a varying
/// `W`). Gives the new `(a, e)`.
macro_rules! head_round {
    ($a:expr, $b:expr, $c:expr, $e:expr, $f:expr, $g:expr, $kw:expr) => {{
        let (a, e) = ($a, $e);
        let (hkw, dhkw, w): (V, V, Option<V>) = $kw;
        let s = add(bsig1(e), ch(e, $f, $g));
        let s = match w {
            Some(w) => add(s, w),
            None => s,
        };
        (
            add(add(hkw, s), add(bsig0(a), maj(a, $b, $c))),
            add(dhkw, s),
        )
    }};
}

/// The kernel's job type `$job` and its search loop, compiled for `$features` with the
/// enclosing module's helpers (and its `is_available`).
macro_rules! define_vector_search {
    ($job:ident, $features:literal) => {
        /// A job for this kernel: the geometry, on a CPU known to run it.
        #[derive(Debug, Clone)]
        pub(crate) struct $job {
            geometry: Geometry,
        }

        impl $job {
            /// # Panics
            ///
            /// When the CPU lacks the kernel's features (callers check [`is_available`]
            /// first).
            pub(crate) fn new(geometry: Geometry) -> Self {
                assert!(
                    is_available(),
                    concat!("the kernel needs the CPU features ", $features)
                );
                Self { geometry }
            }

            pub(crate) fn geometry(&self) -> &Geometry {
                &self.geometry
            }

            pub(crate) fn search(&self, start: u64, end: u64, stop: &impl StopSignal) -> SearchEnd {
                // SAFETY: `new` checked that the CPU has the features `search_lanes` is
                // compiled for, and a job only exists after `new`.
                unsafe { search_lanes(&self.geometry, start, end, stop) }
            }
        }

        /// One thread's schedule vectors, kept from call to call: a call writes only the
        /// entries it reads (the constants of its job, and per batch the words that vary),
        /// so nothing needs zeroing first, which at low difficulties every block's first
        /// call would pay (11 KB on the two-stream kernel, 17 KB on the three-stream one).
        struct Scratch {
            sched: [V; 64],
            /// At `t - 16`, the sum of varying word `t`'s constant terms.
            constants: [V; CONSTANT_TERMS_END - 16],
        }

        // SAFETY: the vector types are plain integers, for which all zero bits are a value.
        const ZERO: V = unsafe { core::mem::zeroed() };

        thread_local! {
            static SCRATCH: core::cell::RefCell<Scratch> = const {
                core::cell::RefCell::new(Scratch {
                    sched: [ZERO; 64],
                    constants: [ZERO; CONSTANT_TERMS_END - 16],
                })
            };
        }

        #[target_feature(enable = $features)]
        fn search_lanes(
            geometry: &Geometry,
            start: u64,
            end: u64,
            stop: &impl StopSignal,
        ) -> SearchEnd {
            // The closure inherits this function's target features.
            SCRATCH.with_borrow_mut(|scratch| {
                // The round loop's entry, one copy per place in a block of eight: with
                // the place known when the loop is compiled, the head's values go
                // straight into registers (a copy that also knew which words vary, for
                // the layout's usual place, measured no faster on a Zen 4).
                match (geometry.w_a + 4) % 8 {
                    0 => search_in::<0>(geometry, start, end, stop, scratch),
                    1 => search_in::<1>(geometry, start, end, stop, scratch),
                    2 => search_in::<2>(geometry, start, end, stop, scratch),
                    3 => search_in::<3>(geometry, start, end, stop, scratch),
                    4 => search_in::<4>(geometry, start, end, stop, scratch),
                    5 => search_in::<5>(geometry, start, end, stop, scratch),
                    6 => search_in::<6>(geometry, start, end, stop, scratch),
                    _ => search_in::<7>(geometry, start, end, stop, scratch),
                }
            })
        }

        /// The loop for a geometry whose round loop starts `SKIP` rounds into its block
        /// of eight (`SKIP == (w_a + 4) % 8`).
        // The last round's new `e` is never read: only `a` feeds the hit test.
        #[allow(unused_assignments)]
        #[target_feature(enable = $features)]
        fn search_in<const SKIP: usize>(
            geometry: &Geometry,
            start: u64,
            end: u64,
            stop: &impl StopSignal,
            Scratch { sched, constants }: &mut Scratch,
        ) -> SearchEnd {
            const { assert!(LANES <= TABLE_PAD, "a batch may read past the tables") };
            const {
                assert!(
                    SLICE % LANES as u64 == 0,
                    "the miner's calls would end in part-wasted batches"
                )
            };
            let w_a = geometry.w_a;
            let w_b = geometry.w_b;
            let varying = geometry.varying_schedule;
            let constant_low = geometry.constant_low_terms;
            let terms = geometry.constant_terms;
            let with_constants = terms.any();
            // The round loop starts after the head's four rounds, `skip` rounds into
            // its first block of eight.
            let entry_round = w_a + 4;
            let first_block = entry_round / 8;
            let skip = SKIP;
            debug_assert_eq!(skip, entry_round % 8);
            let max_first_word = splat(geometry.first_word_max());
            let full_check = geometry.needs_full_check();
            let k_blocks: &[[u32; 8]; 8] = &K_BLOCKS;
            // The last round's constant with the first midstate word added: its new `a`
            // is then the hash's first word, with no add after the rounds.
            let mut k_last = K_BLOCKS[7];
            k_last[7] = k_last[7].wrapping_add(geometry.midstate[0]);
            // Every word past the digits' is recomputed per batch, and only the constant
            // words and low terms before these bounds are read as constants: at low
            // difficulties every block's first call pays this set-up, so it writes no more.

            let mut counter = start;
            while counter < end {
                let hi = counter / INNER_SPAN;
                let hi_base = hi * INNER_SPAN;
                let hi_end = end.min(hi_base + INNER_SPAN);
                let fixed = geometry.hi_block(hi, w_a);
                let head = geometry.head(&fixed);
                // The constant words the round loop reads: the head's rounds take theirs
                // in `hkw`, and the varying words' constant terms are summed below, so
                // none before the loop's first round is read.
                for t in entry_round..CONSTANT_WORDS_END {
                    if varying & (1 << t) == 0 {
                        sched[t] = splat(fixed.schedule[t]);
                    }
                }
                // Each varying word's constant terms, summed: their words are constant,
                // so before CONSTANT_WORDS_END, and so in `fixed.schedule`.
                for t in 16..CONSTANT_TERMS_END {
                    let bit = 1u64 << t;
                    if with_constants & bit == 0 {
                        continue;
                    }
                    let words = &fixed.schedule;
                    let mut sum = if constant_low & bit != 0 {
                        fixed.low_terms[t - 16]
                    } else if terms.sigma0 & bit != 0 {
                        small_sigma0(words[t - 15])
                    } else if terms.w16 & bit != 0 {
                        words[t - 16]
                    } else {
                        0
                    };
                    if terms.w7 & bit != 0 {
                        sum = sum.wrapping_add(words[t - 7]);
                    }
                    if terms.sigma1 & bit != 0 {
                        sum = sum.wrapping_add(small_sigma1(words[t - 2]));
                    }
                    constants[t - 16] = splat(sum);
                }
                let base_a = splat(fixed.words[w_a]);
                let base_b = splat(fixed.words[w_b]);
                let (first_a, first_e) = (splat(head.first_a), splat(head.first_e));
                let (hkw, dhkw) = (head.hkw.map(|x| splat(x)), head.dhkw.map(|x| splat(x)));
                // The working variables that entered round w_a, read by the head.
                let [a0, b0, e0, f0] = [0, 1, 4, 5].map(|role| splat(fixed.state[role]));

                // Batches start at the first counter asked for, not at a multiple of
                // `LANES`: a lane count that does not divide the search slices (32 lanes
                // in slices of 1024 counters against blocks of 10^4) would otherwise
                // hash a part-wasted batch at each end of every slice. The last batch
                // may read into the tables' padding; its lanes past `hi_end` are dropped.
                let mut inner = (counter - hi_base) as usize;
                let inner_end = (hi_end - hi_base) as usize;
                while inner < inner_end {
                    if stop.is_raised() {
                        return SearchEnd::Stopped(hi_base + inner as u64);
                    }
                    if w_b != w_a {
                        sched[w_b] = or(base_b, load(&geometry.table_b[inner..]));
                    }
                    sched[w_a] = or(base_a, load(&geometry.table_a[inner..]));
                    for t in 16..CONSTANT_TERMS_END {
                        let bit = 1u64 << t;
                        if varying & bit == 0 {
                            continue;
                        }
                        sched[t] = if with_constants & bit == 0 {
                            let low = add(ssig0(sched[t - 15]), sched[t - 16]);
                            add(add(ssig1(sched[t - 2]), sched[t - 7]), low)
                        } else {
                            // The constant terms' sum, plus each varying term: one add
                            // per term (that order and the reverse ran level).
                            let mut sum = constants[t - 16];
                            if terms.sigma1 & bit == 0 {
                                sum = add(sum, ssig1(sched[t - 2]));
                            }
                            if terms.w7 & bit == 0 {
                                sum = add(sum, sched[t - 7]);
                            }
                            if terms.sigma0 & bit == 0 {
                                sum = add(sum, ssig0(sched[t - 15]));
                            }
                            if terms.w16 & bit == 0 {
                                sum = add(sum, sched[t - 16]);
                            }
                            sum
                        };
                    }
                    // Past CONSTANT_TERMS_END every word varies with all four terms.
                    for t in CONSTANT_TERMS_END..64 {
                        let low = add(ssig0(sched[t - 15]), sched[t - 16]);
                        sched[t] = add(add(ssig1(sched[t - 2]), sched[t - 7]), low);
                    }
                    // The head: round w_a, then three rounds with `h` and `d` constant.
                    let head_kw = |j: usize| {
                        let t = w_a + 1 + j;
                        let w = (varying & (1 << t) != 0).then(|| sched[t]);
                        (hkw[j], dhkw[j], w)
                    };
                    let a1 = add(first_a, sched[w_a]);
                    let e1 = add(first_e, sched[w_a]);
                    let (a2, e2) = head_round!(a1, a0, b0, e1, e0, f0, head_kw(0));
                    let (a3, e3) = head_round!(a2, a1, a0, e2, e1, e0, head_kw(1));
                    let (a4, e4) = head_round!(a3, a2, a1, e3, e2, e1, head_kw(2));
                    // Variable `v[j]` plays role `(j + skip) % 8` (a = 0) at the entry.
                    let roles = [a4, a3, a2, a1, e4, e3, e2, e1];
                    let mut entry = [ZERO; 8];
                    for (role, value) in roles.into_iter().enumerate() {
                        entry[(8 - skip + role) % 8] = value;
                    }
                    let [
                        mut v0,
                        mut v1,
                        mut v2,
                        mut v3,
                        mut v4,
                        mut v5,
                        mut v6,
                        mut v7,
                    ] = entry;
                    let blocks: &[[V; 8]] = sched.as_chunks::<8>().0;
                    eight_rounds!(
                        [v0, v1, v2, v3, v4, v5, v6, v7],
                        &blocks[first_block],
                        &k_blocks[first_block],
                        |i: usize| i >= skip
                    );
                    for block in first_block + 1..7 {
                        // Between every eight rounds, a look at the stop signal too
                        // (one load, next to a batch's thousand vector operations): a
                        // worker waiting on another's hit leaves within eight rounds.
                        if stop.is_raised() {
                            return SearchEnd::Stopped(hi_base + inner as u64);
                        }
                        eight_rounds!(
                            [v0, v1, v2, v3, v4, v5, v6, v7],
                            &blocks[block],
                            &k_blocks[block],
                            |_: usize| true
                        );
                    }
                    eight_rounds!(
                        [v0, v1, v2, v3, v4, v5, v6, v7],
                        &blocks[7],
                        &k_last,
                        |_: usize| true
                    );
                    let mut hits = hit_mask(v0, max_first_word);
                    while hits != 0 {
                        let lane = hits.trailing_zeros() as usize;
                        hits &= hits - 1;
                        let candidate = hi_base + (inner + lane) as u64;
                        if candidate >= counter
                            && candidate < hi_end
                            && (!full_check || geometry.meets(candidate))
                        {
                            return SearchEnd::Hit(candidate);
                        }
                    }
                    inner += LANES;
                }
                counter = hi_end;
            }
            SearchEnd::Exhausted
        }
    };
}

/// The round constants in blocks of eight.
const K_BLOCKS: [[u32; 8]; 8] = {
    let mut blocks = [[0u32; 8]; 8];
    let mut t = 0;
    while t < 64 {
        blocks[t / 8][t % 8] = super::geometry::K[t];
        t += 1;
    }
    blocks
};

use define_vector_search;
use eight_rounds;
use head_round;
use sha_round;
