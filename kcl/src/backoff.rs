//! Exponential backoff with full jitter.

use std::time::Duration;

/// Longest single backoff.
const CAP: Duration = Duration::from_secs(5);

/// The delay before retry `attempt` (1-based): a random duration in
/// [base * 2^(attempt-1) / 2, base * 2^(attempt-1)], capped at 5 s.
pub(crate) fn delay(attempt: u32, base: Duration) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(CAP);
    let half = exp / 2;
    half + half.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_is_capped() {
        let base = Duration::from_millis(100);
        for _ in 0..100 {
            let d1 = delay(1, base);
            assert!(d1 >= Duration::from_millis(50) && d1 <= base);
            let d3 = delay(3, base);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(delay(40, base) <= CAP);
        }
    }
}
