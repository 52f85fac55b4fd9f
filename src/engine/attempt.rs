//! One check from first request to final outcome: send through the [`Checker`], let
//! [`super::retry::next`] decide, and wait as it says (backoff with full jitter for transient
//! failures, `Retry-After` and a slower pace for throttling). Every attempt waits for a
//! concurrency slot and a rate token.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::SeedableRng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::claimed::{self, Claimed, Member, Ready};
use super::pace::Lane;
use super::retry::{self, Decision, End, Policy, Tally};
use crate::api::backoff::full_jitter;
use crate::api::classify::{Class, Problem, Reply};
use crate::api::{fatal, Checker};
use crate::logging::mask;
use crate::model::{CheckType, Outcome, ResultKind, Source};
use crate::output::summary::StopReason;
use crate::store::{Recorded, Team};

/// What every request task shares.
pub struct Ctx {
    pub checker: Arc<dyn Checker>,
    pub pace: Lane,
    /// `--concurrency` permits; a request holds one while it is in flight.
    pub slots: Arc<Semaphore>,
    /// `--concurrency`, for sizing the dispatcher's queue.
    pub concurrency: usize,
    /// Cancelled when the run stops (fatal answer, open circuit, interrupt).
    pub stop: CancellationToken,
    pub policy: Policy,
    /// `--max-requests`: how many requests the run may send, and how many it took.
    pub budget: Option<u64>,
    pub sent: std::sync::atomic::AtomicU64,
    pub log_pii: bool,
    /// Team mode: the quota and the claims shared with the other runs of the scope.
    pub team: Option<Arc<dyn Team>>,
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

    /// Sleeps until `at` unless the run stops first; false if it stopped.
    pub(super) async fn pause_until(&self, at: tokio::time::Instant) -> bool {
        tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep_until(at) => true,
        }
    }

    /// Sleeps unless the run stops first; false if it stopped.
    pub(super) async fn pause(&self, d: Duration) -> bool {
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
    /// Team mode: the answer was recorded under the key's claim (what the store kept), or
    /// could not be (why: the dispatcher keeps it for later and stops). `None`: the
    /// dispatcher records it.
    pub recorded: Option<Result<Recorded, String>>,
    /// Team mode: the claim was lost before sending; the key is claimed again.
    lost: bool,
}

impl Finished {
    fn lost(kind: CheckType, key: String) -> Finished {
        Finished {
            lost: true,
            ..stopped(kind, key, None, Tally::default(), None)
        }
    }
}

/// Runs one check to its end. `first` is the slot the dispatcher already took for it (none in
/// team mode: a key is claimed before a slot is taken, so waiting for a teammate's answer
/// holds no slot).
pub async fn check(
    ctx: Arc<Ctx>,
    kind: CheckType,
    key: String,
    first: Option<OwnedSemaphorePermit>,
) -> Finished {
    let Some(team) = ctx.team.clone() else {
        return send(&ctx, kind, key, first, None).await;
    };
    loop {
        let mut grant = match claimed::claim(&ctx, team.as_ref(), kind, &key).await {
            Ok(Claimed::Mine(g)) => g,
            Ok(Claimed::Done(o)) => return finished(kind, o, None, Tally::default(), None),
            Err(stop) => return stopped(kind, key, Some(stop), Tally::default(), None),
        };
        let member = Member {
            team: team.as_ref(),
            grant: &mut grant,
        };
        match send(&ctx, kind, key.clone(), None, Some(member)).await {
            // The claim was lost while this run was stalled: another run may be asking it, so
            // this one waits for that answer instead of sending.
            f if f.lost => continue,
            f => return f,
        }
    }
}

/// Sends a check until it ends (answer, give-up, stop), under a team claim if `member`.
async fn send(
    ctx: &Ctx,
    kind: CheckType,
    key: String,
    first: Option<OwnedSemaphorePermit>,
    mut member: Option<Member<'_>>,
) -> Finished {
    // Seeded only when a retry first waits: most checks never do.
    let mut rng: Option<rand::rngs::StdRng> = None;
    let mut jitter = |base: Duration, n: u32| {
        full_jitter(
            base,
            n,
            rng.get_or_insert_with(rand::rngs::StdRng::from_os_rng),
        )
    };
    let mut permit = first;
    let mut tally = Tally::default();
    let mut end = loop {
        if let Some(m) = member.as_mut() {
            match m.ready(ctx).await {
                Ready::Go => {}
                Ready::Stop => break None,
                Ready::Lost => return Finished::lost(kind, key),
                Ready::Away(why) => break Some(store_away(ctx, why)),
            }
        }
        let slot = match permit.take() {
            Some(p) => Some(p),
            None => ctx.slot().await,
        };
        let Some(slot) = slot else { break None };
        // Waiting for the local slot may have outlived the team slot or the lease.
        if member.as_ref().is_some_and(|m| !m.still_ready()) {
            drop(slot);
            continue;
        }
        if !ctx.take_request() {
            ctx.stop.cancel();
            let why = format!(
                "--max-requests {} reached: stopped sending; the rest is pending",
                ctx.budget.unwrap_or_default()
            );
            let o = Outcome {
                attempts: tally.requests,
                ..Outcome::new(key.clone(), ResultKind::Pending, Source::None)
            };
            if let Some(m) = &member {
                m.release(kind, &key);
            }
            let stop = Some((StopReason::MaxRequests, why));
            return finished(kind, o, stop, tally, Some(slot));
        }
        tally.requests += 1;
        let (class, reply) = ctx.checker.check(kind, &key, Utc::now()).await;
        tracing::trace!(
            "{kind} {}: attempt {} -> {}",
            mask(kind, &key, ctx.log_pii),
            tally.requests,
            describe(&class, reply.as_ref())
        );
        let retry_after = reply.as_ref().and_then(|r| r.retry_after);
        match &class {
            Class::Answer { .. } => ctx.pace.succeeded(),
            Class::Throttled(_) => {
                ctx.pace.throttled();
                if let Some(m) = &member {
                    // Every run of the scope holds back, not only this one.
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    m.team.throttled(wait.min(retry::MAX_RETRY_AFTER));
                }
            }
            _ => {}
        }
        let throttled_for = ctx.pace.throttled_for();
        let decision = retry::next(
            &ctx.policy,
            &mut tally,
            &class,
            retry_after,
            throttled_for,
            &mut jitter,
        );
        let wait = match decision {
            Decision::Retry(wait) => wait,
            Decision::Done(end) => {
                let (o, stop) = ending(ctx, end, &key, tally, reply.as_ref());
                let mut f = finished(kind, o, stop, tally, Some(slot));
                if let Some(m) = &member {
                    f.recorded = Some(m.record(kind, &f.outcome).await);
                }
                return f;
            }
        };
        drop(slot);
        if let Some(m) = member.as_mut() {
            if let Err(why) = m.next_slot().await {
                break Some(store_away(ctx, why));
            }
        }
        if !ctx.pause(wait).await {
            break None;
        }
    };
    if let Some(m) = &member {
        m.release(kind, &key);
    }
    // The run stopped before this check got an answer.
    stopped(kind, key, end.take(), tally, None)
}

/// A check the run stopped before it got an answer: `pending`, with the stop if it caused it.
fn stopped(
    kind: CheckType,
    key: String,
    stop: Option<(StopReason, String)>,
    tally: Tally,
    slot: Option<OwnedSemaphorePermit>,
) -> Finished {
    let o = Outcome {
        attempts: tally.requests,
        ..Outcome::new(key, ResultKind::Pending, Source::None)
    };
    finished(kind, o, stop, tally, slot)
}

/// The database is away: stop sending (every check in flight ends `pending`).
pub(super) fn store_away(ctx: &Ctx, why: String) -> (StopReason, String) {
    ctx.stop.cancel();
    (
        StopReason::StoreUnreachable,
        format!(
            "the state database is unreachable ({why}): stopped sending; the answers received \
             are in the output, the rest is pending"
        ),
    )
}

/// The outcome of a check that ended, and why the run must stop if it must.
fn ending(
    ctx: &Ctx,
    end: End,
    key: &str,
    tally: Tally,
    reply: Option<&Reply>,
) -> (Outcome, Option<(StopReason, String)>) {
    let base = |result: ResultKind, p: Option<&Problem>| Outcome {
        error_code: p.map(|p| p.code.clone()),
        error_msg: p.map(|p| p.msg.clone()).filter(|m| !m.is_empty()),
        http_status: reply.map(|r| r.http_status),
        attempts: tally.requests,
        checked_at: Some(Utc::now()),
        request_id: reply.and_then(|r| r.request_id.clone()),
        ..Outcome::new(key, result, Source::Api)
    };
    match end {
        End::Answer { answer, code } => {
            let mut o = base(answer.result(), None);
            o.answer = Some(answer);
            o.error_code = Some(code);
            (o, None)
        }
        End::Invalid(p) => (base(ResultKind::Invalid, Some(&p)), None),
        End::Error { problem, gave_up } => {
            let mut o = base(ResultKind::Error, Some(&problem));
            if gave_up > 0 {
                o.error_msg = Some(format!(
                    "{} (gave up after {})",
                    problem.msg,
                    crate::output::summary::count(u64::from(gave_up), "attempt")
                ));
            }
            (o, None)
        }
        End::Fatal(p) => {
            // Stop every other request before this slot is given back.
            ctx.stop.cancel();
            let why = fatal::explain(&p, reply.and_then(|r| r.date));
            (
                base(ResultKind::Error, Some(&p)),
                Some((StopReason::Fatal, why)),
            )
        }
        End::QuotaExhausted { problem, waited } => {
            ctx.stop.cancel();
            let why = format!(
                "throttled for {} with no answer in between (last: {} {}): the gateway's \
                 quota for this partner looks exhausted; try again later or raise \
                 --max-throttle-wait",
                humantime::format_duration(Duration::from_secs(waited.as_secs())),
                problem.code,
                problem.msg
            );
            (
                base(ResultKind::Pending, Some(&problem)),
                Some((StopReason::CircuitOpen, why)),
            )
        }
    }
}

fn finished(
    kind: CheckType,
    outcome: Outcome,
    stop: Option<(StopReason, String)>,
    tally: Tally,
    slot: Option<OwnedSemaphorePermit>,
) -> Finished {
    Finished {
        kind,
        key: outcome.checked_key.clone(),
        outcome,
        stop,
        requests: tally.requests,
        retries: tally.requests.saturating_sub(1),
        throttled: tally.throttled,
        slot,
        recorded: None,
        lost: false,
    }
}

fn describe(class: &Class, reply: Option<&Reply>) -> String {
    let status = reply
        .map(|r| r.http_status.to_string())
        .unwrap_or_else(|| "no answer".into());
    match class {
        Class::Answer { answer, .. } => format!("{status} answer {}", answer.result()),
        Class::Invalid(p) => format!("{status} invalid {}", p.code),
        Class::Throttled(p) => format!("{status} throttled {}", p.code),
        Class::Transient(p) => format!("{status} transient {}: {}", p.code, p.msg),
        Class::Fatal(p) => format!("{status} fatal {}", p.code),
        Class::RowError(p) => format!("{status} error {}", p.code),
    }
}
