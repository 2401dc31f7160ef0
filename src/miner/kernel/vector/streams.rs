//! Several independent AVX-512 streams interleaved in one thread (the `avx512x2` and
//! `avx512x3` kernels): `N` times 16 attempts per batch, as an array of `N` 512-bit
//! vectors that every lane helper works on stream by stream.
//!
//! One 16-lane stream is bound by the latency of its round chain (each round's `e` and
//! `a` feed the next), not by the vector units: with several chains whose instructions
//! alternate, the core fills one chain's wait with the others' work. How many chains pay
//! depends on the core: on a Zen 5 (four 512-bit pipes) three streams beat two by about
//! 15 % and four spill registers and lose; on a Zen 4 (512-bit work split over 256-bit
//! pipes) three are level with two. The calibration measures both and keeps the faster.
//! The helpers are the single-stream ones of [`avx512`](super::avx512), applied to each
//! stream; the search loop is the shared one, so the rounds, schedule and hit test are
//! the same code.

/// Defines a kernel of `[$($stream),+]` interleaved AVX-512 streams in the enclosing
/// module: its job type `$job`, `is_available`, the lane helpers and the search loop.
macro_rules! define_streams_kernel {
    ($job:ident, [$($stream:literal),+]) => {
        use core::arch::x86_64::__m512i;

        use super::super::geometry::{
            CONSTANT_TERMS_END, CONSTANT_WORDS_END, Geometry, INNER_SPAN, TABLE_PAD,
            small_sigma0, small_sigma1,
        };
        use super::super::{SLICE, SearchEnd, StopSignal};
        use super::avx512 as one;
        use super::{K_BLOCKS, define_vector_search, eight_rounds, head_round, sha_round};

        type V = [__m512i; [$($stream),+].len()];
        /// Attempts per batch: one per lane of each stream.
        pub(crate) const LANES: usize = [$($stream),+].len() * one::LANES;

        /// Whether this CPU can run the kernel (the same features as the one-stream
        /// kernel).
        pub(crate) fn is_available() -> bool {
            one::is_available()
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn add(a: V, b: V) -> V {
            [$(one::add(a[$stream], b[$stream])),+]
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn or(a: V, b: V) -> V {
            [$(one::or(a[$stream], b[$stream])),+]
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn bsig0(x: V) -> V {
            [$(one::bsig0(x[$stream])),+]
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn bsig1(x: V) -> V {
            [$(one::bsig1(x[$stream])),+]
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn ssig0(x: V) -> V {
            [$(one::ssig0(x[$stream])),+]
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn ssig1(x: V) -> V {
            [$(one::ssig1(x[$stream])),+]
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn ch(e: V, f: V, g: V) -> V {
            [$(one::ch(e[$stream], f[$stream], g[$stream])),+]
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn maj(a: V, b: V, c: V) -> V {
            [$(one::maj(a[$stream], b[$stream], c[$stream])),+]
        }

        #[inline]
        #[target_feature(enable = "avx512f")]
        fn splat(x: u32) -> V {
            [one::splat(x); [$($stream),+].len()]
        }

        /// The first `LANES` words of `words`: stream 0's lanes, then stream 1's, ...
        #[inline]
        #[target_feature(enable = "avx512f")]
        fn load(words: &[u32]) -> V {
            [$(one::load(&words[$stream * one::LANES..])),+]
        }

        /// Bit `i` set when lane `i` of `x` (stream 0 lowest) is at most `max`
        /// (unsigned).
        #[inline]
        #[target_feature(enable = "avx512f")]
        fn hit_mask(x: V, max: V) -> u64 {
            0 $(| u64::from(one::hit_mask(x[$stream], max[$stream])) << ($stream * one::LANES))+
        }

        define_vector_search!($job, "avx512f");
    };
}

pub(super) use define_streams_kernel;
