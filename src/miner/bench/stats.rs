//! The little arithmetic of the benchmark results: nearest-rank percentiles of
//! latencies, and ratios that read zero instead of dividing by zero.

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
}
