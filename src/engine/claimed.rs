//! A check under a team claim: claim the key (or learn a teammate's answer), wait for the
//! request slot the team granted with it, and send only while the claim is safely held. A
//! slot that passed while this run was stalled (a frozen process, a database restart) is not
//! spent late: a new one is asked for. A lease not renewed in time is renewed before sending;
//! if it was lost meanwhile, the key is left to the run that holds it now.

use std::time::Duration;

use super::attempt::{store_away, Ctx};
use crate::model::{CheckType, Outcome, ResultKind, Source};
use crate::output::summary::StopReason;
use crate::store::{Claim, Grant, Recorded, Team};

/// How late a slot may still be used: later, it was the quota of a second already past,
/// and sending now could put one request too many into the current one.
const STALE: Duration = Duration::from_millis(250);

/// What claiming came to.
pub enum Claimed {
    /// This run asks the key.
    Mine(Grant),
    /// Nothing to send: a teammate's answer, or `pending` because the run stopped.
    Done(Outcome),
}

/// Claims a key for this run, waiting while another live run asks it.
pub async fn claim(
    ctx: &Ctx,
    team: &dyn Team,
    kind: CheckType,
    key: &str,
) -> Result<Claimed, (StopReason, String)> {
    let claimed = tokio::select! {
        biased;
        _ = ctx.stop.cancelled() => None,
        c = team.claim(kind, key) => Some(c),
    };
    match claimed {
        None => Ok(Claimed::Done(Outcome::new(
            key,
            ResultKind::Pending,
            Source::None,
        ))),
        Some(Ok(Claim::Mine(g))) => Ok(Claimed::Mine(g)),
        // The teammate that asked reports its change; this run only uses the answer.
        Some(Ok(Claim::Answered(answer))) => Ok(Claimed::Done(Outcome {
            change: false,
            attempts: 0,
            source: Source::Cache,
            ..answer
        })),
        Some(Err(e)) => Err(store_away(ctx, format!("{e:#}"))),
    }
}

/// Whether a claimed check may send now.
pub enum Ready {
    Go,
    /// The run stopped.
    Stop,
    /// The claim was lost.
    Lost,
    /// The database is away.
    Away(String),
}

/// This run's hold on one key.
pub struct Member<'a> {
    pub team: &'a dyn Team,
    pub grant: &'a mut Grant,
}

impl Member<'_> {
    /// Waits for the granted slot, renewing the lease or taking a new slot as needed.
    pub async fn ready(&mut self, ctx: &Ctx) -> Ready {
        loop {
            if !self.team.holds(self.grant.token) {
                match self.team.renew(self.grant.token).await {
                    Ok(true) => {}
                    Ok(false) => return Ready::Lost,
                    Err(e) => return Ready::Away(format!("{e:#}")),
                }
                if !self.team.holds(self.grant.token) {
                    return Ready::Lost;
                }
            }
            tracing::trace!(
                "team mode: token {} waits {:?} for its slot",
                self.grant.token,
                self.grant
                    .slot
                    .saturating_duration_since(tokio::time::Instant::now())
            );
            if !ctx.pause_until(self.grant.slot).await {
                return Ready::Stop;
            }
            if tokio::time::Instant::now() <= self.grant.slot + STALE {
                return Ready::Go;
            }
            tracing::debug!("team mode: a request slot passed while this run was stalled");
            if let Err(why) = self.next_slot().await {
                return Ready::Away(why);
            }
        }
    }

    /// Checked again right before sending: the slot not passed, the lease safe.
    pub fn still_ready(&self) -> bool {
        tokio::time::Instant::now() <= self.grant.slot + STALE && self.team.holds(self.grant.token)
    }

    /// A new slot for the next attempt.
    pub async fn next_slot(&mut self) -> Result<(), String> {
        self.grant.slot = self.team.slot().await.map_err(|e| format!("{e:#}"))?;
        Ok(())
    }

    /// Records the outcome under the claim (or gives the claim back if it is no answer).
    pub async fn record(&self, kind: CheckType, o: &Outcome) -> Result<Recorded, String> {
        self.team
            .record(kind, self.grant, o)
            .await
            .map_err(|e| format!("{e:#}"))
    }

    pub fn release(&self, kind: CheckType, key: &str) {
        self.team.release(kind, key, self.grant.token);
    }
}
