//! The send rate: a governor limiter at `--rate` with a small burst, made adaptive. A 429
//! lowers the rate (multiplicative decrease, at most once per second so one burst of 429s
//! counts once); successes let it climb back (additive increase), never above `--rate`.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The range `--rate` may take.
pub const MIN_RATE: f64 = 0.01;
pub const MAX_RATE: f64 = 100_000.0;

/// The lowest rate throttling can push the run to.
pub const FLOOR: f64 = 0.1;
/// Factor applied on throttling.
const DECREASE: f64 = 0.7;
/// Fraction of `--rate` regained per second of successes.
const INCREASE_PER_SECOND: f64 = 0.05;

struct State {
    rate: f64,
    limiter: Arc<DefaultDirectRateLimiter>,
    last_decrease: Option<Instant>,
    last_increase: Instant,
    /// When the current run of 429s with no answer between them began.
    throttled_since: Option<Instant>,
}

/// Shared by the dispatcher and its request tasks (and, under `serve`, by every job: each
/// job reaches it through its own [`Lane`]).
pub struct Pace {
    max: f64,
    state: Mutex<State>,
    /// Whose turn it is to wait for the limiter: tokio's mutex is fair (first come, first
    /// served), so lanes queued here take tokens in turn.
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pace({}/s)", self.max)
    }
}

/// One job's way to the shared [`Pace`]: at most one of its requests waits in the pace's
/// queue at a time, so jobs sharing a pace take tokens round-robin (a 50-row list is not
/// queued behind a 100,000-row one). A run alone has a lane to a pace of its own.
pub struct Lane {
    pace: Arc<Pace>,
    mine: tokio::sync::Mutex<()>,
}

impl Lane {
    pub fn new(pace: Arc<Pace>) -> Lane {
        Lane {
            pace,
            mine: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for this lane's turn, then for a token.
    pub async fn acquire(&self) {
        let _mine = self.mine.lock().await;
        self.pace.acquire().await;
    }
}

impl std::ops::Deref for Lane {
    type Target = Pace;
    fn deref(&self) -> &Pace {
        &self.pace
    }
}

/// Burst: about 1% of the rate, at least 1.
pub fn burst(rate: f64) -> u32 {
    ((rate * 0.01).round() as u32).max(1)
}

/// The quota for a rate; config keeps `--rate` within [`MIN_RATE`, `MAX_RATE`], and the
/// period is clamped so that no rate can make governor panic.
fn quota(rate: f64) -> Quota {
    let rate = if rate.is_nan() {
        MIN_RATE
    } else {
        rate.clamp(MIN_RATE, MAX_RATE)
    };
    let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_micros(1));
    Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst(rate)).unwrap_or(NonZeroU32::MIN))
}

fn limiter(rate: f64) -> Arc<DefaultDirectRateLimiter> {
    Arc::new(RateLimiter::direct(quota(rate)))
}

impl Pace {
    pub fn new(rate: f64) -> Pace {
        Pace {
            max: rate,
            state: Mutex::new(State {
                rate,
                limiter: limiter(rate),
                last_decrease: None,
                last_increase: Instant::now(),
                throttled_since: None,
            }),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for a token; every attempt takes one. Waiters are served in turn.
    pub async fn acquire(&self) {
        let _turn = self.turn.lock().await;
        let l = self.state.lock().expect("pace lock").limiter.clone();
        l.until_ready().await;
    }

    /// The current send rate.
    pub fn rate(&self) -> f64 {
        self.state.lock().expect("pace lock").rate
    }

    /// How long the run has been throttled with no answer in between (zero if it is not).
    pub fn throttled_for(&self) -> Duration {
        let s = self.state.lock().expect("pace lock");
        s.throttled_since.map(|t| t.elapsed()).unwrap_or_default()
    }

    /// A 429 arrived: slow down (once per second at most).
    pub fn throttled(&self) {
        let mut s = self.state.lock().expect("pace lock");
        let now = Instant::now();
        s.throttled_since.get_or_insert(now);
        if s.last_decrease
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        s.rate = (s.rate * DECREASE).max(FLOOR.min(self.max));
        s.limiter = limiter(s.rate);
        s.last_decrease = Some(now);
        s.last_increase = now;
        tracing::debug!("throttled: send rate lowered to {:.2}/s", s.rate);
    }

    /// An answer arrived: climb back towards `--rate`.
    pub fn succeeded(&self) {
        let mut s = self.state.lock().expect("pace lock");
        s.throttled_since = None;
        if s.rate >= self.max {
            return;
        }
        let now = Instant::now();
        let elapsed = now.duration_since(s.last_increase).as_secs_f64();
        if elapsed < 0.5 {
            return;
        }
        s.rate = (s.rate + self.max * INCREASE_PER_SECOND * elapsed).min(self.max);
        s.limiter = limiter(s.rate);
        s.last_increase = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lanes_sharing_a_pace_take_tokens_in_turn() {
        let pace = Arc::new(Pace::new(10.0));
        let (big, small) = (Arc::new(Lane::new(pace.clone())), Arc::new(Lane::new(pace)));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // The big job queues 8 requests before the small one queues its 4.
        for (lane, name, n) in [(&big, 'B', 8), (&small, 's', 4)] {
            for _ in 0..n {
                let (lane, order) = (lane.clone(), order.clone());
                tasks.push(tokio::spawn(async move {
                    lane.acquire().await;
                    order.lock().unwrap().push(name);
                }));
                tokio::task::yield_now().await;
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order: String = order.lock().unwrap().iter().collect();
        // The small job's 4 tokens come within its first 9: it waits for no more than one
        // of the big job's per token of its own.
        let last_small = order.rfind('s').unwrap();
        assert!(last_small <= 8, "{order}");
    }

    #[test]
    fn burst_is_about_one_percent() {
        assert_eq!(burst(5.0), 1);
        assert_eq!(burst(0.5), 1);
        assert_eq!(burst(1000.0), 10);
    }

    #[test]
    fn throttling_lowers_the_rate_once_per_second_and_successes_restore_it() {
        let p = Pace::new(10.0);
        p.throttled();
        p.throttled();
        assert!((p.rate() - 7.0).abs() < 1e-9, "{}", p.rate());
        {
            let mut s = p.state.lock().unwrap();
            s.last_increase -= Duration::from_secs(100);
        }
        p.succeeded();
        assert_eq!(p.rate(), 10.0, "never above --rate");
    }

    #[test]
    fn extreme_rates_do_not_panic() {
        for r in [1e10, f64::MAX, 0.0, -1.0, f64::NAN, 1e-12] {
            let _ = quota(r);
        }
    }

    #[test]
    fn throttling_time_resets_on_an_answer() {
        let p = Pace::new(5.0);
        assert_eq!(p.throttled_for(), Duration::ZERO);
        p.throttled();
        p.state.lock().unwrap().throttled_since = Some(Instant::now() - Duration::from_secs(60));
        p.throttled();
        assert!(p.throttled_for() >= Duration::from_secs(60));
        p.succeeded();
        assert_eq!(p.throttled_for(), Duration::ZERO);
    }

    #[test]
    fn the_floor_holds() {
        let p = Pace::new(1.0);
        for _ in 0..50 {
            p.state.lock().unwrap().last_decrease = None;
            p.throttled();
        }
        assert!((p.rate() - FLOOR).abs() < 1e-9);
    }

    #[test]
    fn quota_maths_with_a_fake_clock() {
        use governor::clock::FakeRelativeClock;
        let clock = FakeRelativeClock::default();
        let rate = 5.0;
        let l = RateLimiter::direct_with_clock(quota(rate), clock.clone());
        // Offer a request every millisecond for 10 s; count those let through per 1 s window.
        let mut allowed = Vec::new();
        for ms in 0..10_000u64 {
            if l.check().is_ok() {
                allowed.push(ms);
            }
            clock.advance(Duration::from_millis(1));
        }
        assert!((49..=51).contains(&allowed.len()), "{}", allowed.len());
        for (i, &t) in allowed.iter().enumerate() {
            let in_window = allowed[i..].iter().take_while(|&&u| u < t + 1000).count();
            assert!(
                in_window as f64 <= rate + burst(rate) as f64,
                "window at {t}ms holds {in_window}"
            );
        }
    }
}
