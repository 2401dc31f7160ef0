//! The SHA-NI kernel: x86 SHA extensions (`sha256rnds2`, `sha256msg1/2`), `WAYS` nonces
//! interleaved per thread so that the round instructions of independent attempts fill the
//! latency of one another.
//!
//! Per `hi` block (10^4 counters) the rounds of the message-word groups before the first
//! inner digit are done once, in scalar code; per attempt only the inner digits' words are
//! spliced in (a table look-up each) and the remaining rounds run.

use core::arch::x86_64::*;

use super::geometry::{Geometry, INNER_SPAN, K};
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
                    for way in 0..WAYS {
                        let w = &mut msg[way];
                        w[i] = schedule4(w[i], w[(i + 1) % 4], w[(i + 2) % 4], w[(i + 3) % 4]);
                        rounds4(t + 4 * i, &mut abef[way], &mut cdgh[way], w[i]);
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
