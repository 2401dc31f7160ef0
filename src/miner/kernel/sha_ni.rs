//! The SHA-NI kernel: x86 SHA extensions (`sha256rnds2`, `sha256msg1/2`), `WAYS` nonces
//! interleaved per thread so that the round instructions of independent attempts fill the
//! latency of one another.
//!
//! Per `hi` block (10^4 counters) the rounds of the message-word groups before the first
//! inner digit are done once, in scalar code; per attempt only the inner digits' words are
//! spliced in (a table look-up each) and the remaining rounds run.
//!
//! The schedule's `sha256msg2` costs about two `sha256rnds2` on the SHA unit (measured on
//! Zen 3), so the per-`hi` constants also spare the schedule groups that do not need it:
//! a group whose `sigma0(W[t-15]) + W[t-16]` halves are all constant skips
//! `sha256msg1`, and a group whose `sigma1(W[t-2])` halves are constant too is a constant
//! plus its four `W[t-7]` words, with no SHA instruction at all (see [`GroupPlan`]).

use core::arch::x86_64::*;

use super::geometry::{
    CONSTANT_LOW_END, CONSTANT_WORDS_END, Geometry, INNER_SPAN, K, small_sigma1,
};
use super::{SearchEnd, StopSignal};

/// Whether this CPU can run the kernel.
pub(crate) fn is_available() -> bool {
    is_x86_feature_detected!("sha")
        && is_x86_feature_detected!("sse2")
        && is_x86_feature_detected!("ssse3")
        && is_x86_feature_detected!("sse4.1")
}

/// A job for the SHA-NI kernel with `WAYS` interleaved attempts (`WAYS` divides 10^4).
#[derive(Debug, Clone)]
pub(crate) struct ShaNiJob<const WAYS: usize> {
    geometry: Geometry,
}

impl<const WAYS: usize> ShaNiJob<WAYS> {
    /// # Panics
    ///
    /// When the CPU lacks SHA-NI or SSE4.1 (callers check [`is_available`] first).
    pub(crate) fn new(geometry: Geometry) -> Self {
        assert!(
            is_available(),
            "SHA-NI kernel needs the sha and sse4.1 CPU features"
        );
        assert!(INNER_SPAN.is_multiple_of(WAYS as u64));
        Self { geometry }
    }

    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub(crate) fn search(&self, start: u64, end: u64, stop: &impl StopSignal) -> SearchEnd {
        // SAFETY: `new` checked that the CPU has sha, sse2, ssse3 and sse4.1, the features
        // `search_sha_ni` is compiled for, and a `ShaNiJob` only exists after `new`.
        unsafe { search_sha_ni::<WAYS>(&self.geometry, start, end, stop) }
    }
}

/// How one schedule group (`W[4g..4g+4]`, `g` from 4 to 15) is computed per attempt,
/// fixed per job by where the inner digits sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupPlan {
    /// `sha256msg1`, `sha256msg2` and the `W[t-7]` words: nothing in it is constant.
    Full,
    /// Each `sigma0(W[t-15]) + W[t-16]` is constant (kept per `hi`), so no `sha256msg1`.
    ConstantLow,
    /// Each `sigma1(W[t-2]) + sigma0(W[t-15]) + W[t-16]` is constant (kept per `hi`): the
    /// group is that plus its `W[t-7]` words, only the latter possibly varying.
    Linear,
}

/// The plan of every schedule group, from the job's dependency masks.
fn group_plans(geometry: &Geometry) -> [GroupPlan; 16] {
    let constant_word = |t: usize| geometry.varying_schedule >> t & 1 == 0;
    let constant_low = |t: usize| geometry.constant_low_terms >> t & 1 == 1;
    core::array::from_fn(|g| {
        let words = 4 * g..4 * g + 4;
        if g < 4 || !words.clone().all(constant_low) {
            return GroupPlan::Full;
        }
        // sigma1 reads W[t-2] for the group's t: words 4g-2 to 4g+1.
        if (4 * g - 2..4 * g + 2).all(constant_word) {
            GroupPlan::Linear
        } else {
            GroupPlan::ConstantLow
        }
    })
}

// The constant parts come from `HiBlock`, which holds the words and low terms they read.
const _: () = assert!(4 * 10 <= CONSTANT_LOW_END && 4 * 6 + 2 <= CONSTANT_WORDS_END);

/// Per `hi`, the constant vector of each group that [`group_plans`] did not call `Full`
/// (zero for those it did): its low terms, plus for a `Linear` group the `sigma1` terms.
fn group_constants(
    plans: &[GroupPlan; 16],
    schedule: &[u32; CONSTANT_WORDS_END],
    low_terms: &[u32; CONSTANT_LOW_END - 16],
) -> [[u32; 4]; 16] {
    core::array::from_fn(|g| match plans[g] {
        GroupPlan::Full => [0; 4],
        GroupPlan::ConstantLow => core::array::from_fn(|i| low_terms[4 * g + i - 16]),
        GroupPlan::Linear => core::array::from_fn(|i| {
            let t = 4 * g + i;
            small_sigma1(schedule[t - 2]).wrapping_add(low_terms[t - 16])
        }),
    })
}

/// Two rounds' worth of `K + W` pairs, four rounds per call, as in `sha2`'s backend.
#[inline]
#[target_feature(enable = "sha,sse2")]
fn rounds4(t: usize, abef: &mut __m128i, cdgh: &mut __m128i, w: __m128i) {
    let k = _mm_set_epi32(
        K[t + 3] as i32,
        K[t + 2] as i32,
        K[t + 1] as i32,
        K[t] as i32,
    );
    let kw = _mm_add_epi32(w, k);
    *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, kw);
    let kw_high = _mm_shuffle_epi32(kw, 0x0E);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, kw_high);
}

/// The second half of [`rounds4`]: rounds `t + 2` and `t + 3` only.
#[inline]
#[target_feature(enable = "sha,sse2")]
fn second_rounds2(t: usize, abef: &mut __m128i, cdgh: &mut __m128i, w: __m128i) {
    let k = _mm_set_epi32(K[t + 3] as i32, K[t + 2] as i32, 0, 0);
    let kw_high = _mm_shuffle_epi32(_mm_add_epi32(w, k), 0x0E);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, kw_high);
}

/// The next four schedule words from the last sixteen (`w0` oldest).
#[inline]
#[target_feature(enable = "sha,sse2,ssse3")]
fn schedule4(w0: __m128i, w1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
    let t1 = _mm_sha256msg1_epu32(w0, w1);
    let t2 = _mm_alignr_epi8(w3, w2, 4);
    _mm_sha256msg2_epu32(_mm_add_epi32(t1, t2), w3)
}

/// [`schedule4`] with the `sha256msg1` part (`low`) known.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3")]
fn schedule4_low(low: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
    let t2 = _mm_alignr_epi8(w3, w2, 4);
    _mm_sha256msg2_epu32(_mm_add_epi32(low, t2), w3)
}

/// [`schedule4`] with everything but the `W[t-7]` words (`fixed`) known.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3")]
fn schedule4_linear(fixed: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
    _mm_add_epi32(fixed, _mm_alignr_epi8(w3, w2, 4))
}

// The interleaved loops index several per-way arrays in lockstep.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn search_sha_ni<const WAYS: usize>(
    geometry: &Geometry,
    start: u64,
    end: u64,
    stop: &impl StopSignal,
) -> SearchEnd {
    // Rounds run in pairs (one `sha256rnds2`); the pairs before `w_a` are done per `hi`.
    let rounds_done = geometry.w_a / 2 * 2;
    let first_group = rounds_done / 4;
    let half_done = rounds_done % 4 == 2;
    let group_b = geometry.w_b / 4;
    let lane_mask = |word: usize| {
        let mut lanes = [0i32; 4];
        lanes[word % 4] = -1;
        _mm_set_epi32(lanes[3], lanes[2], lanes[1], lanes[0])
    };
    let mask_a = lane_mask(geometry.w_a);
    let mask_b = lane_mask(geometry.w_b);
    let max_first_word = geometry.first_word_max();
    let full_check = geometry.needs_full_check();
    let mid0 = geometry.midstate[0];
    let plans = group_plans(geometry);

    let mut counter = start;
    while counter < end {
        let hi = counter / INNER_SPAN;
        let hi_base = hi * INNER_SPAN;
        let hi_end = end.min(hi_base + INNER_SPAN);
        let fixed = geometry.hi_block(hi, rounds_done);
        let [a, b, c, d, e, f, g, h] = fixed.state.map(|x| x as i32);
        let (mut abef0, mut cdgh0) = (_mm_set_epi32(a, b, e, f), _mm_set_epi32(c, d, g, h));
        if half_done {
            // Mid-group, `rounds4` holds the new ABEF in its `cdgh` operand.
            (abef0, cdgh0) = (cdgh0, abef0);
        }
        let w = fixed.words.map(|x| x as i32);
        let groups0: [__m128i; 4] = core::array::from_fn(|i| {
            _mm_set_epi32(w[4 * i + 3], w[4 * i + 2], w[4 * i + 1], w[4 * i])
        });
        let constants = group_constants(&plans, &fixed.schedule, &fixed.low_terms).map(|c| {
            let c = c.map(|x| x as i32);
            _mm_set_epi32(c[3], c[2], c[1], c[0])
        });

        let mut inner = (counter - hi_base) as usize / WAYS * WAYS;
        let inner_end = (hi_end - hi_base) as usize;
        while inner < inner_end {
            if stop.is_raised() {
                return SearchEnd::Stopped(counter.max(hi_base + inner as u64));
            }
            let mut msg = [groups0; WAYS];
            let mut abef = [abef0; WAYS];
            let mut cdgh = [cdgh0; WAYS];
            for (way, groups) in msg.iter_mut().enumerate() {
                let word_a = _mm_set1_epi32(geometry.table_a[inner + way] as i32);
                let word_b = _mm_set1_epi32(geometry.table_b[inner + way] as i32);
                groups[group_b] = _mm_or_si128(groups[group_b], _mm_and_si128(word_b, mask_b));
                groups[first_group] =
                    _mm_or_si128(groups[first_group], _mm_and_si128(word_a, mask_a));
            }
            let mut group = first_group;
            if half_done {
                for way in 0..WAYS {
                    second_rounds2(4 * group, &mut abef[way], &mut cdgh[way], msg[way][group]);
                }
                group += 1;
            }
            for group in group..4 {
                for way in 0..WAYS {
                    rounds4(4 * group, &mut abef[way], &mut cdgh[way], msg[way][group]);
                }
            }
            for t in (16..64).step_by(16) {
                for i in 0..4 {
                    // Group `g` replaces the ring's oldest, `g - 4`, at index `i`.
                    let g = t / 4 + i;
                    let (i2, i3) = ((i + 2) % 4, (i + 3) % 4);
                    // Each way's group, then its rounds, as one unit: the next way's
                    // schedule fills this one's round latency. One loop per plan, not a
                    // `match` per way: the compiler does not hoist that branch, and the
                    // single loop ran 7-9 % slower on Zen 3 (measured in one process).
                    match plans[g] {
                        GroupPlan::Full => {
                            for way in 0..WAYS {
                                let w = &mut msg[way];
                                w[i] = schedule4(w[i], w[(i + 1) % 4], w[i2], w[i3]);
                                rounds4(t + 4 * i, &mut abef[way], &mut cdgh[way], w[i]);
                            }
                        }
                        GroupPlan::ConstantLow => {
                            for way in 0..WAYS {
                                let w = &mut msg[way];
                                w[i] = schedule4_low(constants[g], w[i2], w[i3]);
                                rounds4(t + 4 * i, &mut abef[way], &mut cdgh[way], w[i]);
                            }
                        }
                        GroupPlan::Linear => {
                            for way in 0..WAYS {
                                let w = &mut msg[way];
                                w[i] = schedule4_linear(constants[g], w[i2], w[i3]);
                                rounds4(t + 4 * i, &mut abef[way], &mut cdgh[way], w[i]);
                            }
                        }
                    }
                }
            }
            for (way, abef) in abef.iter().enumerate() {
                let first_word = (_mm_extract_epi32::<3>(*abef) as u32).wrapping_add(mid0);
                if first_word <= max_first_word {
                    let candidate = hi_base + (inner + way) as u64;
                    if candidate >= counter
                        && candidate < hi_end
                        && (!full_check || geometry.meets(candidate))
                    {
                        return SearchEnd::Hit(candidate);
                    }
                }
            }
            inner += WAYS;
        }
        counter = hi_end;
    }
    SearchEnd::Exhausted
}
