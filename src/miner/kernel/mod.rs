//! SHA-256 mining kernels: one compression per attempt, on the final block of a
//! [`MiningTemplate`], in the fastest form this CPU offers.
//!
//! This is the only module in the crate with `unsafe`: the x86-64 kernels call
//! `#[target_feature]` functions, which is sound only after run-time feature detection.
//! Each kernel's job type is built only after [`KernelKind::is_available`] said yes, and
//! every `unsafe` block says so in its `// SAFETY:` comment.
//!
//! - [`KernelKind::Portable`]: `sha2`'s `compress256` per attempt; everywhere.
//! - [`KernelKind::ShaNi`]: x86 SHA extensions, several attempts interleaved per thread.
//! - [`KernelKind::Avx2`]: 8 attempts per 256-bit vector, SHA-256 in software.
//! - [`KernelKind::Avx512`]: 16 attempts per 512-bit vector, with `vprord` and
//!   `vpternlogd`.
//! - [`KernelKind::Avx512x2`], [`KernelKind::Avx512x3`]: two or three independent
//!   16-lane AVX-512 streams interleaved in one thread, so that one stream's round latency
//!   is filled with the others' work (which count pays depends on the core).
//!
//! Preparing a job ([`KernelKind::prepare`]) does the per-job work once; then
//! [`PreparedJob::search`] tries a counter range without allocating or locking and returns
//! the smallest counter that meets the difficulty, so results are deterministic.
//! [`PreparedJob::search_until`] does the same but also looks at a stop flag between
//! batches of lanes, so that another worker's hit ends this one's search within a batch
//! (a fraction of a microsecond) instead of at the end of its range.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod calibrate;
mod geometry;
mod portable;
#[cfg(target_arch = "x86_64")]
mod sha_ni;
#[cfg(target_arch = "x86_64")]
mod vector;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;

use crate::miner::layout::MiningTemplate;

pub use calibrate::{MiningKernels, fastest_kernel, measure_attempts_per_s};
use geometry::Geometry;
use portable::PortableJob;

/// Counters per search call the miner makes: one call between two looks at the cancel
/// token, the deadline and the board (30 to 60 µs of work on the fast kernels), and what
/// the calibration times too, so that it measures the kernels as they mine.
///
/// A multiple of every kernel's lanes (8, 16, 32, 48; SHA-NI's 8 ways): a batch
/// straddling a slice's end hashes lanes that are thrown away, which with 1,024 counters
/// cost the 48-lane kernel 3 % of its work (22 batches for 21.3) and made it mine about
/// 3 % slower than the calibration, in calls of up to 16,384 counters, had measured it.
pub(crate) const SLICE: u64 = 3 << 9;

/// How many attempts the SHA-NI kernel interleaves per thread: measured on Zen 5, 8 ways
/// beat 4 by about 4% and 2 by about 8% (more independent `sha256rnds2` chains in flight);
/// on Zen 3 (no AVX-512, so 16 vector registers) 8 ways still beat 4 by about 2% and 2
/// by about 27%, in the same process, in turn, on templates for every prefix length.
#[cfg(target_arch = "x86_64")]
const SHA_NI_WAYS: usize = 8;

/// A SHA-256 mining kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// `sha2::block_api::compress256` per attempt; available everywhere.
    Portable,
    /// x86 SHA extensions (SHA-NI), attempts interleaved per thread.
    ShaNi,
    /// AVX2: 8 attempts per 256-bit vector.
    Avx2,
    /// AVX-512F: 16 attempts per 512-bit vector.
    Avx512,
    /// AVX-512F: two interleaved streams of 16 attempts (32 per batch).
    Avx512x2,
    /// AVX-512F: three interleaved streams of 16 attempts (48 per batch).
    Avx512x3,
}

/// A kernel name that [`KernelKind::from_name`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "unknown kernel {name:?}; expected one of portable, sha-ni, avx2, avx512, avx512x2, avx512x3"
)]
pub struct UnknownKernelError {
    /// The name given.
    pub name: String,
}

/// A kernel this CPU cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("kernel {} is not available on this CPU", kind.name())]
pub struct KernelUnavailableError {
    /// The kernel asked for.
    pub kind: KernelKind,
}

impl KernelKind {
    /// Every kernel, portable first.
    pub const ALL: [KernelKind; 6] = [
        Self::Portable,
        Self::ShaNi,
        Self::Avx2,
        Self::Avx512,
        Self::Avx512x2,
        Self::Avx512x3,
    ];

    /// The kernel's name: `portable`, `sha-ni`, `avx2`, `avx512`, `avx512x2` or
    /// `avx512x3`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::ShaNi => "sha-ni",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
            Self::Avx512x2 => "avx512x2",
            Self::Avx512x3 => "avx512x3",
        }
    }

    /// Attempts per batch: how many counters the kernel hashes between two looks at a
    /// stop signal, and so how far past another worker's hit it may hash.
    ///
    /// Read from the kernels' own lane counts on x86-64; elsewhere only the portable
    /// kernel runs, and the others' figures are nominal.
    pub fn batch(self) -> usize {
        #[cfg(target_arch = "x86_64")]
        let batch = match self {
            Self::Portable => 1,
            Self::ShaNi => SHA_NI_WAYS,
            Self::Avx2 => vector::avx2::LANES,
            Self::Avx512 => vector::avx512::LANES,
            Self::Avx512x2 => vector::avx512x2::LANES,
            Self::Avx512x3 => vector::avx512x3::LANES,
        };
        #[cfg(not(target_arch = "x86_64"))]
        let batch = match self {
            Self::Portable => 1,
            Self::ShaNi | Self::Avx2 => 8,
            Self::Avx512 => 16,
            Self::Avx512x2 => 32,
            Self::Avx512x3 => 48,
        };
        batch
    }

    /// The kernel called `name` (as [`Self::name`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// Whether this CPU can run the kernel (checked at run time).
    pub fn is_available(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::ShaNi => sha_ni::is_available(),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => vector::avx2::is_available(),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => vector::avx512::is_available(),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512x2 => vector::avx512x2::is_available(),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512x3 => vector::avx512x3::is_available(),
            #[cfg(not(target_arch = "x86_64"))]
            Self::ShaNi | Self::Avx2 | Self::Avx512 | Self::Avx512x2 | Self::Avx512x3 => false,
        }
    }

    /// Does the per-job work once (constant words, rounds and schedule terms, digit
    /// tables) for mining `template` at `difficulty` leading zero bits.
    ///
    /// # Panics
    ///
    /// When the kernel is not available on this CPU; see [`Self::try_prepare`].
    pub fn prepare(self, template: &MiningTemplate, difficulty: u32) -> PreparedJob {
        match self.try_prepare(template, difficulty) {
            Ok(job) => job,
            Err(error) => panic!("{error}"),
        }
    }

    /// Like [`Self::prepare`], but says so when the kernel is not available.
    ///
    /// # Errors
    ///
    /// [`KernelUnavailableError`] when this CPU cannot run the kernel.
    pub fn try_prepare(
        self,
        template: &MiningTemplate,
        difficulty: u32,
    ) -> Result<PreparedJob, KernelUnavailableError> {
        self.prepare_geometry(Geometry::new(template, difficulty))
    }

    /// [`Self::try_prepare`] from the geometry.
    fn prepare_geometry(self, geometry: Geometry) -> Result<PreparedJob, KernelUnavailableError> {
        if !self.is_available() {
            return Err(KernelUnavailableError { kind: self });
        }
        let limit = geometry.limit;
        let job = match self {
            Self::Portable => Job::Portable(PortableJob::new(geometry)),
            #[cfg(target_arch = "x86_64")]
            Self::ShaNi => Job::ShaNi(sha_ni::ShaNiJob::new(geometry)),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => Job::Avx2(vector::avx2::Avx2Job::new(geometry)),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 => Job::Avx512(vector::avx512::Avx512Job::new(geometry)),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512x2 => Job::Avx512x2(vector::avx512x2::Avx512x2Job::new(geometry)),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512x3 => Job::Avx512x3(vector::avx512x3::Avx512x3Job::new(geometry)),
            #[cfg(not(target_arch = "x86_64"))]
            Self::ShaNi | Self::Avx2 | Self::Avx512 | Self::Avx512x2 | Self::Avx512x3 => {
                return Err(KernelUnavailableError { kind: self });
            }
        };
        Ok(PreparedJob {
            kind: self,
            limit,
            job,
        })
    }
}

impl fmt::Display for KernelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KernelKind {
    type Err = UnknownKernelError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name).ok_or_else(|| UnknownKernelError {
            name: name.to_owned(),
        })
    }
}

/// The kernels this CPU can run, portable first.
pub fn available_kernels() -> Vec<KernelKind> {
    KernelKind::ALL
        .into_iter()
        .filter(|kind| kind.is_available())
        .collect()
}

/// One kernel's prepared job: a plain enum, so a search costs one `match`, not a
/// virtual call per attempt.
#[derive(Debug, Clone)]
enum Job {
    Portable(PortableJob),
    #[cfg(target_arch = "x86_64")]
    ShaNi(sha_ni::ShaNiJob<SHA_NI_WAYS>),
    #[cfg(target_arch = "x86_64")]
    Avx2(vector::avx2::Avx2Job),
    #[cfg(target_arch = "x86_64")]
    Avx512(vector::avx512::Avx512Job),
    #[cfg(target_arch = "x86_64")]
    Avx512x2(vector::avx512x2::Avx512x2Job),
    #[cfg(target_arch = "x86_64")]
    Avx512x3(vector::avx512x3::Avx512x3Job),
}

/// A template prepared for one kernel and difficulty; see [`KernelKind::prepare`].
#[derive(Debug, Clone)]
pub struct PreparedJob {
    kind: KernelKind,
    limit: u64,
    job: Job,
}

impl PreparedJob {
    /// The kernel this job runs on.
    pub fn kind(&self) -> KernelKind {
        self.kind
    }

    /// The job as plain words' worth of parts, for another thread to prepare it again.
    pub fn parts(&self) -> JobParts {
        let geometry = match &self.job {
            Job::Portable(job) => job.geometry(),
            #[cfg(target_arch = "x86_64")]
            Job::ShaNi(job) => job.geometry(),
            #[cfg(target_arch = "x86_64")]
            Job::Avx2(job) => job.geometry(),
            #[cfg(target_arch = "x86_64")]
            Job::Avx512(job) => job.geometry(),
            #[cfg(target_arch = "x86_64")]
            Job::Avx512x2(job) => job.geometry(),
            #[cfg(target_arch = "x86_64")]
            Job::Avx512x3(job) => job.geometry(),
        };
        JobParts::of(
            self.kind,
            geometry.midstate,
            geometry.block,
            geometry.digits_at,
            geometry.difficulty,
        )
    }

    /// The template's counter limit (`10^L`): counters run `0..counter_limit()`.
    pub fn counter_limit(&self) -> u64 {
        self.limit
    }

    /// Tries counters `start..start + count` and returns the smallest whose hash meets
    /// the difficulty. Counters at or past [`Self::counter_limit`] are not tried. Never
    /// allocates or locks.
    pub fn search(&self, start: u64, count: u64) -> Option<u64> {
        match self.search_until(start, count, &Never) {
            SearchEnd::Hit(counter) => Some(counter),
            SearchEnd::Exhausted | SearchEnd::Stopped(_) => None,
        }
    }

    /// Like [`Self::search`], but looks at `stop` before each batch of lanes (every 8 to
    /// 48 counters, well under a microsecond of work) and gives up as soon as it is set.
    /// A hit is the smallest counter that meets the difficulty among those tried, and
    /// every counter before it was tried.
    pub fn search_until(&self, start: u64, count: u64, stop: &impl StopSignal) -> SearchEnd {
        let end = start.saturating_add(count).min(self.limit);
        if start >= end {
            return SearchEnd::Exhausted;
        }
        match &self.job {
            Job::Portable(job) => job.search(start, end, stop),
            #[cfg(target_arch = "x86_64")]
            Job::ShaNi(job) => job.search(start, end, stop),
            #[cfg(target_arch = "x86_64")]
            Job::Avx2(job) => job.search(start, end, stop),
            #[cfg(target_arch = "x86_64")]
            Job::Avx512(job) => job.search(start, end, stop),
            #[cfg(target_arch = "x86_64")]
            Job::Avx512x2(job) => job.search(start, end, stop),
            #[cfg(target_arch = "x86_64")]
            Job::Avx512x3(job) => job.search(start, end, stop),
        }
    }
}

/// What [`PreparedJob::search_until`] looks at between batches: once raised, the search
/// gives up. Looked at every 8 to 48 counters, so it must be as cheap as one relaxed
/// atomic load.
pub trait StopSignal {
    /// Whether the search should give up now.
    fn is_raised(&self) -> bool;
}

impl StopSignal for AtomicBool {
    #[inline]
    fn is_raised(&self) -> bool {
        self.load(Ordering::Relaxed)
    }
}

/// A signal that is never raised: a plain [`PreparedJob::search`].
struct Never;

impl StopSignal for Never {
    #[inline]
    fn is_raised(&self) -> bool {
        false
    }
}

/// A prepared job as plain words: what another thread needs to prepare the same job for
/// itself ([`JobParts::prepare`]), so that the miner can hand a job to its helpers
/// through a few atomics instead of a shared allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobParts {
    kind: KernelKind,
    difficulty: u32,
    digits_at: u8,
    midstate: [u32; 8],
    block: [u8; 64],
}

impl JobParts {
    /// How many `u64` words [`Self::to_words`] writes.
    pub const WORDS: usize = 13;

    /// The parts of `template` mined at `difficulty` on `kind`: what
    /// [`KernelKind::prepare`] would give [`PreparedJob::parts`] for, without preparing
    /// it, so that the miner can hand a job to its helpers before it prepares its own.
    pub fn new(kind: KernelKind, template: &MiningTemplate, difficulty: u32) -> JobParts {
        Self::of(
            kind,
            template.midstate(),
            *template.last_block(),
            template.digits_at(),
            difficulty,
        )
    }

    /// The parts from a template's pieces (what both a template and a prepared job's
    /// geometry hold).
    fn of(
        kind: KernelKind,
        midstate: [u32; 8],
        block: [u8; 64],
        digits_at: usize,
        difficulty: u32,
    ) -> JobParts {
        JobParts {
            kind,
            difficulty,
            digits_at: u8::try_from(digits_at).expect("digits sit inside a 64-byte block"),
            midstate,
            block,
        }
    }

    /// The parts as words (the first one non-zero, so that zero can mean "no job").
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        let mut words = [0u64; Self::WORDS];
        let kind = KernelKind::ALL
            .iter()
            .position(|&k| k == self.kind)
            .expect("every kind is in ALL") as u64;
        words[0] =
            1 | kind << 8 | u64::from(self.digits_at) << 16 | u64::from(self.difficulty) << 32;
        for (i, pair) in self.midstate.chunks_exact(2).enumerate() {
            words[1 + i] = u64::from(pair[0]) << 32 | u64::from(pair[1]);
        }
        for (i, chunk) in self.block.chunks_exact(8).enumerate() {
            words[5 + i] = u64::from_le_bytes(chunk.try_into().expect("8-byte chunks"));
        }
        words
    }

    /// The parts [`Self::to_words`] wrote; `None` for words it cannot have written.
    pub fn from_words(words: &[u64; Self::WORDS]) -> Option<JobParts> {
        let head = words[0];
        if head & 0xff != 1 {
            return None;
        }
        let kind = *KernelKind::ALL.get(usize::try_from(head >> 8 & 0xff).ok()?)?;
        let digits_at = (head >> 16 & 0xff) as u8;
        if usize::from(digits_at) > crate::miner::layout::MAX_DIGITS_AT {
            return None;
        }
        let mut midstate = [0u32; 8];
        for (i, pair) in midstate.chunks_exact_mut(2).enumerate() {
            pair[0] = (words[1 + i] >> 32) as u32;
            pair[1] = words[1 + i] as u32;
        }
        let mut block = [0u8; 64];
        for (i, chunk) in block.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&words[5 + i].to_le_bytes());
        }
        Some(JobParts {
            kind,
            difficulty: (head >> 32) as u32,
            digits_at,
            midstate,
            block,
        })
    }

    /// The job these parts describe, prepared for this thread.
    ///
    /// # Errors
    ///
    /// [`KernelUnavailableError`] when this CPU cannot run the kernel.
    pub fn prepare(&self) -> Result<PreparedJob, KernelUnavailableError> {
        self.kind.prepare_geometry(Geometry::from_parts(
            self.midstate,
            self.block,
            usize::from(self.digits_at),
            self.difficulty,
        ))
    }
}

/// Where [`PreparedJob::search_until`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchEnd {
    /// This counter meets the difficulty; every counter from the start up to it was tried.
    Hit(u64),
    /// Every counter in the range was tried, none meets the difficulty.
    Exhausted,
    /// The stop flag was set: the counters from the start up to (not including) this one
    /// were tried, none meets the difficulty.
    Stopped(u64),
}

impl SearchEnd {
    /// How many counters were tried from `start` (the hit included) when the range ran
    /// to `end`.
    pub fn tried(self, start: u64, end: u64) -> u64 {
        match self {
            SearchEnd::Hit(counter) => counter.saturating_sub(start) + 1,
            SearchEnd::Exhausted => end.saturating_sub(start),
            SearchEnd::Stopped(at) => at.saturating_sub(start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names round-trip and unknown names are refused.
    #[test]
    fn names_round_trip() {
        for kind in KernelKind::ALL {
            assert_eq!(kind.name().parse::<KernelKind>(), Ok(kind));
        }
        assert!("sse".parse::<KernelKind>().is_err());
        assert!(available_kernels().contains(&KernelKind::Portable));
    }
}
