//! AVX-512 lane helpers: 16 attempts per 512-bit vector; rotates are `vprord` and
//! Ch/Maj/the three-way xors are single `vpternlogd`s.

use core::arch::x86_64::*;

use super::super::geometry::{
    CONSTANT_TERMS_END, CONSTANT_WORDS_END, Geometry, INNER_SPAN, TABLE_PAD, small_sigma0,
    small_sigma1,
};
use super::super::{SLICE, SearchEnd, StopSignal};
use super::{K_BLOCKS, define_vector_search, eight_rounds, head_round, sha_round};

pub(super) type V = __m512i;
/// Attempts per batch: one per 32-bit lane of a 512-bit vector.
pub(crate) const LANES: usize = 16;

/// Whether this CPU can run the kernel.
pub(crate) fn is_available() -> bool {
    is_x86_feature_detected!("avx512f")
}

#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn splat(x: u32) -> V {
    _mm512_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn add(a: V, b: V) -> V {
    _mm512_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn or(a: V, b: V) -> V {
    _mm512_or_si512(a, b)
}

#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn bsig0(x: V) -> V {
    let (r2, r13, r22) = (
        _mm512_ror_epi32::<2>(x),
        _mm512_ror_epi32::<13>(x),
        _mm512_ror_epi32::<22>(x),
    );
    _mm512_ternarylogic_epi32::<0x96>(r2, r13, r22)
}

#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn bsig1(x: V) -> V {
    let (r6, r11, r25) = (
        _mm512_ror_epi32::<6>(x),
        _mm512_ror_epi32::<11>(x),
        _mm512_ror_epi32::<25>(x),
    );
    _mm512_ternarylogic_epi32::<0x96>(r6, r11, r25)
}

#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn ssig0(x: V) -> V {
    let (r7, r18, s3) = (
        _mm512_ror_epi32::<7>(x),
        _mm512_ror_epi32::<18>(x),
        _mm512_srli_epi32::<3>(x),
    );
    _mm512_ternarylogic_epi32::<0x96>(r7, r18, s3)
}

#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn ssig1(x: V) -> V {
    let (r17, r19, s10) = (
        _mm512_ror_epi32::<17>(x),
        _mm512_ror_epi32::<19>(x),
        _mm512_srli_epi32::<10>(x),
    );
    _mm512_ternarylogic_epi32::<0x96>(r17, r19, s10)
}

/// `e ? f : g`, bitwise.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn ch(e: V, f: V, g: V) -> V {
    _mm512_ternarylogic_epi32::<0xCA>(e, f, g)
}

/// Majority of `a`, `b`, `c`, bitwise.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn maj(a: V, b: V, c: V) -> V {
    _mm512_ternarylogic_epi32::<0xE8>(a, b, c)
}

/// The first `LANES` words of `words`.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn load(words: &[u32]) -> V {
    let words: &[u32; LANES] = words[..LANES]
        .try_into()
        .expect("a slice of LANES words is an array of LANES words");
    // SAFETY: `words` is 64 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(words.as_ptr().cast()) }
}

/// Bit `i` set when lane `i` of `x` is at most `max` (unsigned).
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) fn hit_mask(x: V, max: V) -> u32 {
    u32::from(_mm512_cmple_epu32_mask(x, max))
}

define_vector_search!(Avx512Job, "avx512f");
