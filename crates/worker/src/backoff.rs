//! Retry delays: exponential with full-range jitter (±25 %), capped.

use std::time::Duration;

/// The delay before attempt `attempt + 1` after `attempt` failed (1-based).
pub fn backoff(attempt: i32, base: Duration, max: Duration) -> Duration {
    let exp = 2f64.powi((attempt.max(1) - 1).min(30));
    let raw = base.as_secs_f64() * exp;
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    Duration::from_secs_f64((raw * jitter).min(max.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_jitter_and_are_capped() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(30);
        for _ in 0..100 {
            let first = backoff(1, base, max).as_secs_f64();
            assert!((0.75..=1.25).contains(&first), "{first}");
            let third = backoff(3, base, max).as_secs_f64();
            assert!((3.0..=5.0).contains(&third), "{third}");
            assert!(backoff(20, base, max) <= max);
        }
    }
}
