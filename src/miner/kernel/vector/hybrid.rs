//! The hybrid kernel: one 16-lane AVX-512 stream and `SHA_WAYS` SHA-NI attempts
//! interleaved in one thread, eight rounds at a time, so that the SHA unit and the
//! vector units work at once if the core runs them on different resources.
//!
//! A batch is `16 + SHA_WAYS` consecutive counters: the first 16 in the vector lanes
//! (exactly as the [`avx512`](super::avx512) kernel hashes them), the rest on SHA-NI
//! (exactly as the [`sha_ni`](super::super::sha_ni) kernel does). The two halves share
//! the per-`hi` work's digit tables and hit rules and nothing else.

use core::arch::x86_64::*;

use super::super::geometry::{Geometry, INNER_SPAN, TABLE_PAD};
use super::super::sha_ni::{self, rounds4, schedule4, second_rounds2};
use super::avx512::{
    self, LANES as VECTOR_LANES, V, add, bsig0, bsig1, ch, hit_mask, load, maj, or, splat, ssig0,
    ssig1,
};
use super::{K_BLOCKS, eight_rounds, sha_round};

/// SHA-NI attempts per batch beside the 16 vector lanes.
const SHA_WAYS: usize = 8;
/// Counters per batch.
const BATCH: usize = VECTOR_LANES + SHA_WAYS;

/// Whether this CPU can run the kernel: both halves' features.
pub(crate) fn is_available() -> bool {
    avx512::is_available() && sha_ni::is_available()
}

/// A job for the hybrid kernel.
#[derive(Debug, Clone)]
pub(crate) struct HybridJob {
    geometry: Geometry,
}

impl HybridJob {
    /// # Panics
    ///
    /// When the CPU lacks AVX-512F or SHA-NI (callers check [`is_available`] first).
    pub(crate) fn new(geometry: Geometry) -> Self {
        assert!(
            is_available(),
            "hybrid kernel needs the avx512f, sha and sse4.1 CPU features"
        );
        Self { geometry }
    }

    pub(crate) fn search(&self, start: u64, end: u64) -> Option<u64> {
        // SAFETY: `new` checked that the CPU has avx512f, sha, sse2, ssse3 and sse4.1,
        // the features `search_hybrid` is compiled for, and a `HybridJob` only exists
        // after `new`.
        unsafe { search_hybrid(&self.geometry, start, end) }
    }
}

// The last round's new `e` is never read: only `a` feeds the hit test. The interleaved
// SHA-NI loops index several per-way arrays in lockstep.
#[allow(unused_assignments, clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,sha,sse2,ssse3,sse4.1")]
fn search_hybrid(geometry: &Geometry, start: u64, end: u64) -> Option<u64> {
    const { assert!(BATCH <= TABLE_PAD, "a batch may read past the tables") };
    let w_a = geometry.w_a;
    let w_b = geometry.w_b;
    let varying = geometry.varying_schedule;
    let constant_low = geometry.constant_low_terms;
    let first_block = w_a / 8;
    let skip = w_a % 8;
    let max_first_word = geometry.first_word_max();
    let max_first_lanes = splat(max_first_word);
    let mid0 = geometry.midstate[0];
    let mid0_lanes = splat(mid0);
    let full_check = geometry.needs_full_check();
    let k_blocks: &[[u32; 8]; 8] = &K_BLOCKS;
    let mut sched = [splat(0); 64];
    let mut low_terms = [splat(0); 64];

    // SHA-NI rounds run in pairs; the pairs before `w_a` are done per `hi`.
    let rounds_done = w_a / 2 * 2;
    let first_group = rounds_done / 4;
    let half_done = rounds_done % 4 == 2;
    let group_b = w_b / 4;
    let lane_mask = |word: usize| {
        let mut lanes = [0i32; 4];
        lanes[word % 4] = -1;
        _mm_set_epi32(lanes[3], lanes[2], lanes[1], lanes[0])
    };
    let mask_a = lane_mask(w_a);
    let mask_b = lane_mask(w_b);

    let mut counter = start;
    while counter < end {
        let hi = counter / INNER_SPAN;
        let hi_base = hi * INNER_SPAN;
        let hi_end = end.min(hi_base + INNER_SPAN);

        // The vector half's per-`hi` work, as in the shared vector search.
        let fixed = geometry.hi_block(hi, w_a);
        for (lanes, &word) in sched.iter_mut().zip(fixed.schedule.iter()) {
            *lanes = splat(word);
        }
        for (lanes, &sum) in low_terms.iter_mut().zip(fixed.low_terms.iter()) {
            *lanes = splat(sum);
        }
        let base_a = splat(fixed.words[w_a]);
        let base_b = splat(fixed.words[w_b]);
        let mut entry = [splat(0); 8];
        for (role, &value) in fixed.state.iter().enumerate() {
            entry[(8 - skip + role) % 8] = splat(value);
        }

        // The SHA-NI half's, as in the SHA-NI kernel.
        let fixed_ni = geometry.hi_block(hi, rounds_done);
        let [a, b, c, d, e, f, g, h] = fixed_ni.state.map(|x| x as i32);
        let (mut abef0, mut cdgh0) = (_mm_set_epi32(a, b, e, f), _mm_set_epi32(c, d, g, h));
        if half_done {
            (abef0, cdgh0) = (cdgh0, abef0);
        }
        let w = fixed_ni.words.map(|x| x as i32);
        let groups0: [__m128i; 4] = core::array::from_fn(|i| {
            _mm_set_epi32(w[4 * i + 3], w[4 * i + 2], w[4 * i + 1], w[4 * i])
        });

        let mut inner = (counter - hi_base) as usize;
        let inner_end = (hi_end - hi_base) as usize;
        while inner < inner_end {
            let ni_at = inner + VECTOR_LANES;
            // Vector lanes: inner digits, then the dependent schedule words.
            sched[w_b] = or(base_b, load(&geometry.table_b[inner..]));
            sched[w_a] = or(base_a, load(&geometry.table_a[inner..]));
            for t in 16..64 {
                if varying & (1 << t) != 0 {
                    let low = if constant_low & (1 << t) != 0 {
                        low_terms[t]
                    } else {
                        add(ssig0(sched[t - 15]), sched[t - 16])
                    };
                    sched[t] = add(add(ssig1(sched[t - 2]), sched[t - 7]), low);
                }
            }
            // SHA-NI ways: inner digits spliced into the message groups.
            let mut msg = [groups0; SHA_WAYS];
            let mut abef = [abef0; SHA_WAYS];
            let mut cdgh = [cdgh0; SHA_WAYS];
            for (way, groups) in msg.iter_mut().enumerate() {
                let word_a = _mm_set1_epi32(geometry.table_a[ni_at + way] as i32);
                let word_b = _mm_set1_epi32(geometry.table_b[ni_at + way] as i32);
                groups[group_b] = _mm_or_si128(groups[group_b], _mm_and_si128(word_b, mask_b));
                groups[first_group] =
                    _mm_or_si128(groups[first_group], _mm_and_si128(word_a, mask_a));
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
            // Eight vector rounds, then the SHA-NI groups of the same eight rounds.
            for block in first_block..8 {
                eight_rounds!(
                    [v0, v1, v2, v3, v4, v5, v6, v7],
                    &blocks[block],
                    &k_blocks[block],
                    |i: usize| block > first_block || i >= skip
                );
                for group in (2 * block).max(first_group)..2 * block + 2 {
                    let slot = group % 4;
                    for way in 0..SHA_WAYS {
                        let m = &mut msg[way];
                        if group >= 4 {
                            m[slot] = schedule4(
                                m[slot],
                                m[(slot + 1) % 4],
                                m[(slot + 2) % 4],
                                m[(slot + 3) % 4],
                            );
                        }
                        if half_done && group == first_group {
                            second_rounds2(4 * group, &mut abef[way], &mut cdgh[way], m[slot]);
                        } else {
                            rounds4(4 * group, &mut abef[way], &mut cdgh[way], m[slot]);
                        }
                    }
                }
            }

            let mut hits = hit_mask(add(v0, mid0_lanes), max_first_lanes);
            for (way, abef) in abef.iter().enumerate() {
                let first_word = (_mm_extract_epi32::<3>(*abef) as u32).wrapping_add(mid0);
                if first_word <= max_first_word {
                    hits |= 1 << (VECTOR_LANES + way);
                }
            }
            while hits != 0 {
                let lane = hits.trailing_zeros() as usize;
                hits &= hits - 1;
                let candidate = hi_base + (inner + lane) as u64;
                if candidate >= counter
                    && candidate < hi_end
                    && (!full_check || geometry.meets(candidate))
                {
                    return Some(candidate);
                }
            }
            inner += BATCH;
        }
        counter = hi_end;
    }
    None
}
