//! One check from first request to final outcome: send, classify, and retry as the answer
//! class says (backoff with full jitter for transient failures, `Retry-After` and a slower
//! pace for throttling). Every attempt waits for a concurrency slot and a rate token.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::SeedableRng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::fatal;
use super::pace::Pace;
use crate::api::backoff::full_jitter;
use crate::api::classify::{Class, Problem, Reply};
use crate::api::client::Client;
use crate::check::{CheckType, Outcome, ResultKind, Source};
use crate::logging::mask;
use crate::output::summary::StopReason;

/// The longest single wait a server may ask for with `Retry-After`.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What an answer leads to.
enum Next {
    /// The check ends with this outcome (and, if the run must stop, why).
    Done(Outcome, Option<(StopReason, String)>),
    /// Try again after this long.
    Retry(Duration),
}

/// What every request task shares.
pub struct Ctx {
    pub client: Client,
    pub pace: Pace,
    /// `--concurrency` permits; a request holds one while it is in flight.
    pub slots: Arc<Semaphore>,
    /// `--concurrency`, for sizing the dispatcher's queue.
    pub concurrency: usize,
    /// Cancelled when the run stops (fatal answer, open circuit, interrupt).
    pub stop: CancellationToken,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    /// Throttled this long with no answer in between, the run stops (`--max-throttle-wait`).
    pub max_throttle_wait: Duration,
    /// `--max-requests`: how many requests the run may send, and how many it took.
    pub budget: Option<u64>,
    pub sent: std::sync::atomic::AtomicU64,
    pub log_pii: bool,
}

impl Ctx {
    /// Takes one request from the budget; false once it is spent (nothing is sent then).
    fn take_request(&self) -> bool {
        let n = self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.budget.is_none_or(|max| n < max)
    }

    /// A concurrency slot and a rate token, or `None` if the run stops first.
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => None,
            permit = async {
                let p = self.slots.clone().acquire_owned().await.ok()?;
                self.pace.acquire().await;
                // A stop decided while this waited wins: nothing is sent after it.
                (!self.stop.is_cancelled()).then_some(p)
            } => permit,
        }
    }

    /// Sleeps unless the run stops first; false if it stopped.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

/// How one check ended.
#[derive(Debug)]
pub struct Finished {
    pub kind: CheckType,
    pub key: String,
    pub outcome: Outcome,
    /// Set when the answer means the whole run must stop; says why, for people.
    pub stop: Option<(StopReason, String)>,
    pub requests: u32,
    pub retries: u32,
    pub throttled: u32,
    /// The slot of the last request, given back only once the dispatcher has taken this in,
    /// so that no request starts before a stop rule has seen this answer.
    pub slot: Option<OwnedSemaphorePermit>,
}

/// Runs one check to its end. `first` is the slot the dispatcher already took for it.
pub async fn check(
    ctx: Arc<Ctx>,
    kind: CheckType,
    key: String,
    first: OwnedSemaphorePermit,
) -> Finished {
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let mut permit = Some(first);
    let (mut requests, mut failures, mut throttled) = (0u32, 0u32, 0u32);
    let shown = mask(kind, &key, ctx.log_pii);
    loop {
        let slot = match permit.take() {
            Some(p) => Some(p),
            None => ctx.slot().await,
        };
        let Some(slot) = slot else { break };
        if !ctx.take_request() {
            ctx.stop.cancel();
            let why = format!(
                "--max-requests {} reached: stopped sending; the rest is pending",
                ctx.budget.unwrap_or_default()
            );
            let o = Outcome {
                attempts: requests,
                ..Outcome::new(key, ResultKind::Pending, Source::None)
            };
            return finished(
                kind,
                o,
                Some((StopReason::MaxRequests, why)),
                requests,
                throttled,
                Some(slot),
            );
        }
        requests += 1;
        let (class, reply) = ctx.client.check(kind, &key, Utc::now()).await;
        tracing::trace!(
            "{kind} {shown}: attempt {requests} -> {}",
            describe(&class, reply.as_ref())
        );
        let base = |result: ResultKind, p: Option<&Problem>| Outcome {
            status: None,
            uplimit: None,
            error_code: p.map(|p| p.code.clone()),
            error_msg: p.map(|p| p.msg.clone()).filter(|m| !m.is_empty()),
            http_status: reply.as_ref().map(|r| r.http_status),
            attempts: requests,
            checked_at: Some(Utc::now()),
            request_id: reply.as_ref().and_then(|r| r.request_id.clone()),
            ..Outcome::new(key.clone(), result, Source::Api)
        };
        let next = match &class {
            Class::Answer {
                status,
                uplimit,
                code,
            } => {
                ctx.pace.succeeded();
                let mut o = base(ResultKind::from_answer(status, uplimit), None);
                o.status = Some(status.clone());
                o.uplimit = Some(uplimit.clone());
                o.error_code = Some(code.clone());
                Next::Done(o, None)
            }
            Class::Invalid(p) => Next::Done(base(ResultKind::Invalid, Some(p)), None),
            Class::RowError(p) => Next::Done(base(ResultKind::Error, Some(p)), None),
            Class::Fatal(p) => {
                // Stop every other request before this slot is given back.
                ctx.stop.cancel();
                let why = fatal::explain(p, reply.as_ref().and_then(|r| r.date));
                Next::Done(
                    base(ResultKind::Error, Some(p)),
                    Some((StopReason::Fatal, why)),
                )
            }
            Class::Throttled(p) => {
                throttled += 1;
                ctx.pace.throttled();
                let waited = ctx.pace.throttled_for();
                if waited >= ctx.max_throttle_wait {
                    ctx.stop.cancel();
                    let why = format!(
                        "throttled for {} with no answer in between (last: {} {}): the \
                             gateway's quota for this partner looks exhausted; try again later \
                             or raise --max-throttle-wait",
                        humantime::format_duration(Duration::from_secs(waited.as_secs())),
                        p.code,
                        p.msg
                    );
                    Next::Done(
                        base(ResultKind::Pending, Some(p)),
                        Some((StopReason::CircuitOpen, why)),
                    )
                } else {
                    let wait = reply
                        .as_ref()
                        .and_then(|r| r.retry_after)
                        .unwrap_or_else(|| {
                            full_jitter(ctx.backoff_base * 4, throttled - 1, &mut rng)
                        });
                    // Capped, and never past the point where the run gives up.
                    let left = ctx.max_throttle_wait.saturating_sub(waited);
                    Next::Retry(
                        wait.min(MAX_RETRY_AFTER)
                            .min(left + Duration::from_millis(50)),
                    )
                }
            }
            Class::Transient(p) => {
                failures += 1;
                if failures >= ctx.max_attempts {
                    let mut o = base(ResultKind::Error, Some(p));
                    o.error_msg = Some(format!(
                        "{} (gave up after {})",
                        p.msg,
                        crate::output::summary::count(u64::from(failures), "attempt")
                    ));
                    Next::Done(o, None)
                } else {
                    Next::Retry(full_jitter(ctx.backoff_base, failures - 1, &mut rng))
                }
            }
        };
        let wait = match next {
            Next::Done(o, stop) => return finished(kind, o, stop, requests, throttled, Some(slot)),
            Next::Retry(wait) => wait,
        };
        drop(slot);
        if !ctx.pause(wait).await {
            break;
        }
    }
    // The run stopped before this check got an answer.
    let o = Outcome {
        attempts: requests,
        ..Outcome::new(key, ResultKind::Pending, Source::None)
    };
    finished(kind, o, None, requests, throttled, None)
}

fn finished(
    kind: CheckType,
    outcome: Outcome,
    stop: Option<(StopReason, String)>,
    requests: u32,
    throttled: u32,
    slot: Option<OwnedSemaphorePermit>,
) -> Finished {
    Finished {
        kind,
        key: outcome.checked_key.clone(),
        outcome,
        stop,
        requests,
        retries: requests.saturating_sub(1),
        throttled,
        slot,
    }
}

fn describe(class: &Class, reply: Option<&Reply>) -> String {
    let status = reply
        .map(|r| r.http_status.to_string())
        .unwrap_or_else(|| "no answer".into());
    match class {
        Class::Answer {
            status: s,
            uplimit: u,
            ..
        } => format!("{status} answer status={s} uplimit={u}"),
        Class::Invalid(p) => format!("{status} invalid {}", p.code),
        Class::Throttled(p) => format!("{status} throttled {}", p.code),
        Class::Transient(p) => format!("{status} transient {}: {}", p.code, p.msg),
        Class::Fatal(p) => format!("{status} fatal {}", p.code),
        Class::RowError(p) => format!("{status} error {}", p.code),
    }
}
