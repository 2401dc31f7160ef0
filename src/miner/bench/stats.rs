//! The little arithmetic of the benchmark results: nearest-rank percentiles of
//! latencies, ratios that read zero instead of dividing by zero, and how far apart a
//! measurement's rounds came out.

use std::time::Duration;

/// The nearest-rank percentile `p` (0 to 100) of sorted `values` (zero for none): the
/// cancel latencies' p50 and p99.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `a / b`, or zero when `b` is not positive: a rate over a baseline that was not
/// measured reads zero, never infinity or NaN.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// A spread between rounds above this says the machine was busy during the run: on
/// a quiet core the rounds of one measurement agree within a few per cent, while a
/// neighbour on the core's other hyperthread moves a vector kernel by tens of per cent
/// (on a shared 2-core AMD EPYC Zen 3, SHA-NI read 30 and 49 M/s a few seconds apart,
/// the latency-bound baseline 22 both times).
pub const NOISY_SPREAD: f64 = 0.10;

/// How far apart the rounds of one measurement came out: `(max - min) / max` of
/// `rates`, zero for none or when none is positive.
pub fn spread(rates: &[f64]) -> f64 {
    let max = rates.iter().copied().fold(0.0, f64::max);
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    if max > 0.0 {
        (max - min.max(0.0)) / max
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest rank: the smallest value with at least p% of the values at or below it.
    #[test]
    fn percentile_is_nearest_rank() {
        let values: Vec<Duration> = (1..=10).map(Duration::from_micros).collect();
        assert_eq!(percentile(&values, 50.0), Duration::from_micros(5));
        assert_eq!(percentile(&values, 99.0), Duration::from_micros(10));
        assert_eq!(percentile(&values, 0.0), Duration::from_micros(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

    /// Dividing by zero (or a negative) gives zero.
    #[test]
    fn ratio_of_nothing_is_zero() {
        assert_eq!(ratio(3.0, 2.0), 1.5);
        assert_eq!(ratio(3.0, 0.0), 0.0);
        assert_eq!(ratio(3.0, -1.0), 0.0);
    }

    /// The spread is the gap between the fastest and slowest round over the fastest.
    #[test]
    fn spread_is_the_gap_over_the_fastest() {
        assert_eq!(spread(&[10.0, 9.0, 5.0]), 0.5);
        assert_eq!(spread(&[4.0, 4.0]), 0.0);
        assert_eq!(spread(&[]), 0.0);
        assert_eq!(spread(&[0.0, 0.0]), 0.0);
    }
}
