//! AVX2 lane helpers: 8 attempts per 256-bit vector; rotates are shift pairs and the
//! boolean functions plain and/or/xor.

use core::arch::x86_64::*;

use super::super::geometry::{
    CONSTANT_TERMS_END, CONSTANT_WORDS_END, Geometry, INNER_SPAN, TABLE_PAD, small_sigma0,
    small_sigma1,
};
use super::super::{SLICE, SearchEnd, StopSignal};
use super::{K_BLOCKS, define_vector_search, eight_rounds, head_round, sha_round};

type V = __m256i;
/// Attempts per batch: one per 32-bit lane of a 256-bit vector.
pub(crate) const LANES: usize = 8;

/// Whether this CPU can run the kernel.
pub(crate) fn is_available() -> bool {
    is_x86_feature_detected!("avx2")
}

/// Rotate each lane right by `$n` bits.
macro_rules! ror {
    ($x:expr, $n:literal) => {
        _mm256_or_si256(
            _mm256_srli_epi32::<$n>($x),
            _mm256_slli_epi32::<{ 32 - $n }>($x),
        )
    };
}

#[inline]
#[target_feature(enable = "avx2")]
fn splat(x: u32) -> V {
    _mm256_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "avx2")]
fn add(a: V, b: V) -> V {
    _mm256_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
fn or(a: V, b: V) -> V {
    _mm256_or_si256(a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor3(a: V, b: V, c: V) -> V {
    _mm256_xor_si256(_mm256_xor_si256(a, b), c)
}

#[inline]
#[target_feature(enable = "avx2")]
fn bsig0(x: V) -> V {
    xor3(ror!(x, 2), ror!(x, 13), ror!(x, 22))
}

#[inline]
#[target_feature(enable = "avx2")]
fn bsig1(x: V) -> V {
    xor3(ror!(x, 6), ror!(x, 11), ror!(x, 25))
}

#[inline]
#[target_feature(enable = "avx2")]
fn ssig0(x: V) -> V {
    xor3(ror!(x, 7), ror!(x, 18), _mm256_srli_epi32::<3>(x))
}

#[inline]
#[target_feature(enable = "avx2")]
fn ssig1(x: V) -> V {
    xor3(ror!(x, 17), ror!(x, 19), _mm256_srli_epi32::<10>(x))
}

/// `e ? f : g`, bitwise.
#[inline]
#[target_feature(enable = "avx2")]
fn ch(e: V, f: V, g: V) -> V {
    _mm256_xor_si256(_mm256_and_si256(e, _mm256_xor_si256(f, g)), g)
}

/// Majority of `a`, `b`, `c`, bitwise.
#[inline]
#[target_feature(enable = "avx2")]
fn maj(a: V, b: V, c: V) -> V {
    _mm256_or_si256(
        _mm256_and_si256(a, b),
        _mm256_and_si256(c, _mm256_or_si256(a, b)),
    )
}

/// The first `LANES` words of `words`.
#[inline]
#[target_feature(enable = "avx2")]
fn load(words: &[u32]) -> V {
    let words: &[u32; LANES] = words[..LANES]
        .try_into()
        .expect("a slice of LANES words is an array of LANES words");
    // SAFETY: `words` is 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
}

/// Bit `i` set when lane `i` of `x` is at most `max` (unsigned).
#[inline]
#[target_feature(enable = "avx2")]
fn hit_mask(x: V, max: V) -> u32 {
    let at_most = _mm256_cmpeq_epi32(_mm256_min_epu32(x, max), x);
    _mm256_movemask_ps(_mm256_castsi256_ps(at_most)) as u32
}

define_vector_search!(Avx2Job, "avx2");
