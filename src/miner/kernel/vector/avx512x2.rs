//! Two independent AVX-512 streams interleaved in one thread: 32 attempts per batch, as
//! a pair of 512-bit vectors that every helper works on half by half.
//!
//! One 16-lane stream is bound by the latency of its round chain (each round's `e` and
//! `a` feed the next), not by the vector units: with two chains whose instructions
//! alternate, the core fills one chain's wait with the other's work. The helpers are the
//! single-stream ones of [`avx512`](super::avx512), applied to each half; the search loop
//! is the shared one, so the rounds, schedule and hit test are the same code.

use core::arch::x86_64::__m512i;

use super::super::geometry::{
    CONSTANT_LOW_END, CONSTANT_WORDS_END, Geometry, INNER_SPAN, TABLE_PAD,
};
use super::super::{SearchEnd, StopSignal};
use super::avx512 as one;
use super::{K_BLOCKS, define_vector_search, eight_rounds, head_round, sha_round};

type V = [__m512i; 2];
const LANES: usize = 2 * one::LANES;

/// Whether this CPU can run the kernel (the same features as the one-stream kernel).
pub(crate) fn is_available() -> bool {
    one::is_available()
}

/// A job for the two-stream AVX-512 kernel.
#[derive(Debug, Clone)]
pub(crate) struct Avx512x2Job {
    geometry: Geometry,
}

impl Avx512x2Job {
    /// # Panics
    ///
    /// When the CPU lacks AVX-512F (callers check [`is_available`] first).
    pub(crate) fn new(geometry: Geometry) -> Self {
        assert!(
            is_available(),
            "AVX-512 kernel needs the avx512f CPU feature"
        );
        Self { geometry }
    }

    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub(crate) fn search(&self, start: u64, end: u64, stop: &impl StopSignal) -> SearchEnd {
        // SAFETY: `new` checked that the CPU has avx512f, the only feature `search_lanes`
        // is compiled for, and an `Avx512x2Job` only exists after `new`.
        unsafe { search_lanes(&self.geometry, start, end, stop) }
    }
}

/// Defines a lane helper on pairs from the one-stream helper of the same name.
macro_rules! pairwise {
    ($name:ident($($arg:ident),+)) => {
        #[inline]
        #[target_feature(enable = "avx512f")]
        fn $name($($arg: V),+) -> V {
            [one::$name($($arg[0]),+), one::$name($($arg[1]),+)]
        }
    };
}

pairwise!(add(a, b));
pairwise!(or(a, b));
pairwise!(bsig0(x));
pairwise!(bsig1(x));
pairwise!(ssig0(x));
pairwise!(ssig1(x));
pairwise!(ch(e, f, g));
pairwise!(maj(a, b, c));

#[inline]
#[target_feature(enable = "avx512f")]
fn splat(x: u32) -> V {
    [one::splat(x); 2]
}

/// The first `LANES` words of `words`: the first half's lanes, then the second's.
#[inline]
#[target_feature(enable = "avx512f")]
fn load(words: &[u32]) -> V {
    [one::load(words), one::load(&words[one::LANES..])]
}

/// Bit `i` set when lane `i` of `x` (first half low) is at most `max` (unsigned).
#[inline]
#[target_feature(enable = "avx512f")]
fn hit_mask(x: V, max: V) -> u32 {
    one::hit_mask(x[0], max[0]) | one::hit_mask(x[1], max[1]) << one::LANES
}

define_vector_search!("avx512f");
