//! The retry decision, as a pure function: given what the attempts so far came to and the class
//! of the newest answer, the check either ends (with why, and whether the run must stop) or is
//! tried again after a wait. No I/O, no clock: `attempt` feeds it, tests table it.

use std::time::Duration;

use crate::api::classify::{Class, Problem};
use crate::model::Answer;

/// The longest single wait a server may ask for with `Retry-After`.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The run's retry settings.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// `--max-attempts`: transient failures allowed per check.
    pub max_attempts: u32,
    /// The first backoff's ceiling (doubles per failure, full jitter).
    pub backoff_base: Duration,
    /// Throttled this long with no answer in between, the run stops (`--max-throttle-wait`).
    pub max_throttle_wait: Duration,
}

/// What one check's attempts came to so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub requests: u32,
    /// Transient failures (they use up `--max-attempts`).
    pub failures: u32,
    /// Throttled answers (they do not).
    pub throttled: u32,
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// An answer to record.
    Answer { answer: Answer, code: String },
    /// The API says the value is invalid.
    Invalid(Problem),
    /// This check failed (not retried, or out of attempts: `gave_up` then counts them).
    Error { problem: Problem, gave_up: u32 },
    /// The answer means every request would fail: the run stops.
    Fatal(Problem),
    /// Throttled for `--max-throttle-wait` with no answer: the quota looks exhausted.
    QuotaExhausted { problem: Problem, waited: Duration },
}

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Done(End),
    Retry(Duration),
}

/// Decides after one more answer of class `class`. `tally` already counts the request that got
/// it; `retry_after` is the server's ask, `throttled_for` how long the run has been throttled
/// with no answer in between (after this one), and `jitter(ceiling_base, n)` draws a full-jitter
/// backoff for the n-th retry (`api::backoff::full_jitter`).
pub fn next(
    policy: &Policy,
    tally: &mut Tally,
    class: &Class,
    retry_after: Option<Duration>,
    throttled_for: Duration,
    jitter: &mut dyn FnMut(Duration, u32) -> Duration,
) -> Decision {
    match class {
        Class::Answer { answer, code } => Decision::Done(End::Answer {
            answer: *answer,
            code: code.clone(),
        }),
        Class::Invalid(p) => Decision::Done(End::Invalid(p.clone())),
        Class::RowError(p) => Decision::Done(End::Error {
            problem: p.clone(),
            gave_up: 0,
        }),
        Class::Fatal(p) => Decision::Done(End::Fatal(p.clone())),
        Class::Throttled(p) => {
            tally.throttled += 1;
            if throttled_for >= policy.max_throttle_wait {
                return Decision::Done(End::QuotaExhausted {
                    problem: p.clone(),
                    waited: throttled_for,
                });
            }
            let wait =
                retry_after.unwrap_or_else(|| jitter(policy.backoff_base * 4, tally.throttled - 1));
            // Capped, and never past the point where the run gives up.
            let left = policy.max_throttle_wait.saturating_sub(throttled_for);
            Decision::Retry(
                wait.min(MAX_RETRY_AFTER)
                    .min(left + Duration::from_millis(50)),
            )
        }
        Class::Transient(p) => {
            tally.failures += 1;
            if tally.failures >= policy.max_attempts {
                Decision::Done(End::Error {
                    problem: p.clone(),
                    gave_up: tally.failures,
                })
            } else {
                Decision::Retry(jitter(policy.backoff_base, tally.failures - 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        max_attempts: 3,
        backoff_base: Duration::from_millis(100),
        max_throttle_wait: Duration::from_secs(600),
    };

    fn p(code: &str) -> Problem {
        Problem {
            code: code.into(),
            msg: "m".into(),
        }
    }

    /// The ceiling itself, so that the tests see the doubling.
    fn ceiling(base: Duration, n: u32) -> Duration {
        base * 2u32.pow(n)
    }

    fn decide(t: &mut Tally, class: Class, ra: Option<Duration>, waited: u64) -> Decision {
        next(
            &POLICY,
            t,
            &class,
            ra,
            Duration::from_secs(waited),
            &mut ceiling,
        )
    }

    #[test]
    fn transient_failures_back_off_then_give_up_at_max_attempts() {
        let mut t = Tally::default();
        let c = Class::Transient(p("CBC.0999"));
        assert_eq!(
            decide(&mut t, c.clone(), None, 0),
            Decision::Retry(Duration::from_millis(100))
        );
        assert_eq!(
            decide(&mut t, c.clone(), None, 0),
            Decision::Retry(Duration::from_millis(200))
        );
        assert_eq!(
            decide(&mut t, c, None, 0),
            Decision::Done(End::Error {
                problem: p("CBC.0999"),
                gave_up: 3
            })
        );
    }

    #[test]
    fn throttling_uses_no_attempts_and_honours_retry_after_capped() {
        let mut t = Tally::default();
        let c = Class::Throttled(p("APIG.0308"));
        for _ in 0..10 {
            assert!(matches!(
                decide(&mut t, c.clone(), Some(Duration::from_secs(2)), 1),
                Decision::Retry(d) if d == Duration::from_secs(2)
            ));
        }
        assert_eq!(t.failures, 0);
        assert_eq!(
            decide(&mut t, c.clone(), Some(Duration::from_secs(3600)), 1),
            Decision::Retry(MAX_RETRY_AFTER)
        );
        // Never past the point where the run gives up.
        assert_eq!(
            decide(&mut t, c.clone(), Some(Duration::from_secs(30)), 590),
            Decision::Retry(Duration::from_millis(10_050))
        );
        assert!(matches!(
            decide(&mut t, c, None, 600),
            Decision::Done(End::QuotaExhausted { .. })
        ));
    }

    #[test]
    fn answers_invalids_errors_and_fatals_end_at_once() {
        let mut t = Tally::default();
        let answer = Class::Answer {
            answer: Answer {
                taken: true,
                uplimit: false,
            },
            code: "CBC.0000".into(),
        };
        assert!(matches!(
            decide(&mut t, answer, None, 0),
            Decision::Done(End::Answer { .. })
        ));
        assert!(matches!(
            decide(&mut t, Class::Invalid(p("CBC.0100")), None, 0),
            Decision::Done(End::Invalid(_))
        ));
        assert!(matches!(
            decide(&mut t, Class::RowError(p("CBC.7777")), None, 0),
            Decision::Done(End::Error { gave_up: 0, .. })
        ));
        assert!(matches!(
            decide(&mut t, Class::Fatal(p("APIG.0301")), None, 0),
            Decision::Done(End::Fatal(_))
        ));
        assert_eq!(t, Tally::default(), "none of these counts as a failure");
    }
}
