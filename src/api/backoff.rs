//! Retry timing: exponential backoff with full jitter, and `Retry-After` in both its forms.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// The longest single wait between attempts.
pub const CAP: Duration = Duration::from_secs(30);

/// `random(0, min(cap, base · 2^n))` for the n-th retry (n from 0).
pub fn full_jitter(base: Duration, n: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = base
        .saturating_mul(1u32.checked_shl(n.min(20)).unwrap_or(u32::MAX))
        .min(CAP);
    ceiling.mul_f64(rng.random::<f64>())
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn jitter_stays_under_the_exponential_ceiling() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_millis(500);
        for n in 0..10 {
            let ceiling = (base * 2u32.pow(n)).min(CAP);
            let mut max = Duration::ZERO;
            for _ in 0..200 {
                let d = full_jitter(base, n, &mut rng);
                assert!(d <= ceiling, "retry {n}: {d:?} > {ceiling:?}");
                max = max.max(d);
            }
            assert!(
                max > ceiling / 2,
                "full jitter should spread up to the ceiling"
            );
        }
        assert!(full_jitter(base, 1000, &mut rng) <= CAP);
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
