//! The portable kernel: `sha2`'s own `compress256` on a copy of the midstate per attempt.
//! It runs everywhere and is the fallback when no vector unit is usable.

use sha2::block_api::compress256;

use super::geometry::{Geometry, leading_zero_bits};
use super::{SearchEnd, StopSignal};

/// Attempts between two looks at the stop flag (about a microsecond on this kernel).
const STOP_EVERY: u64 = 16;

/// A job for the portable kernel.
#[derive(Debug, Clone)]
pub(crate) struct PortableJob {
    geometry: Geometry,
}

impl PortableJob {
    pub(crate) fn new(geometry: Geometry) -> Self {
        Self { geometry }
    }

    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    pub(crate) fn search(&self, start: u64, end: u64, stop: &impl StopSignal) -> SearchEnd {
        let geometry = &self.geometry;
        let digits = geometry.digits_at..geometry.digits_at + geometry.digits_len;
        // Formatted once; every attempt after that is an in-place decimal increment.
        let mut block = geometry.block_for(start);
        for counter in start..end {
            if (counter - start).is_multiple_of(STOP_EVERY) && stop.is_raised() {
                return SearchEnd::Stopped(counter);
            }
            let mut state = geometry.midstate;
            compress256(&mut state, core::slice::from_ref(&block));
            if leading_zero_bits(&state) >= geometry.difficulty {
                return SearchEnd::Hit(counter);
            }
            increment_decimal(&mut block[digits.clone()]);
        }
        SearchEnd::Exhausted
    }
}

/// Adds one to the ASCII decimal number in `digits`, carrying leftwards (wrapping to all
/// zeros past all nines).
pub(crate) fn increment_decimal(digits: &mut [u8]) {
    for digit in digits.iter_mut().rev() {
        if *digit == b'9' {
            *digit = b'0';
        } else {
            *digit += 1;
            return;
        }
    }
}
