//! Retry delays: exponential from `base`, capped at `max`, with "equal
//! jitter" (half fixed, half random) so retries of many messages after an
//! outage do not arrive in lockstep.

use std::time::Duration;

use rand::Rng;

/// Delay before retry number `attempt` (1 = the first retry).
pub fn delay(attempt: u32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let exp = base
        .checked_mul(
            1u32.checked_shl(attempt.saturating_sub(1).min(31))
                .unwrap_or(u32::MAX),
        )
        .unwrap_or(max)
        .min(max);
    let half = exp / 2;
    let jitter = rng.gen_range(0..=half.as_micros().min(u64::MAX as u128) as u64);
    half + Duration::from_micros(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn grows_caps_and_jitters() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(5);
        for attempt in 1..40 {
            let exp = (base * 2u32.pow((attempt - 1).min(20))).min(max);
            let d = delay(attempt, base, max, &mut rng);
            assert!(
                d >= exp / 2 && d <= exp,
                "attempt {attempt}: {d:?} vs {exp:?}"
            );
        }
        let ds: Vec<Duration> = (0..20).map(|_| delay(3, base, max, &mut rng)).collect();
        assert!(ds.iter().any(|d| *d != ds[0]), "jitter varies");
    }
}
