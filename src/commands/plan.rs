//! `checkuser plan`: the planning pass of a run, with no request sent. It tells a cron author
//! how big the job is: what the state store already answers, what needs a request (never
//! asked, or stale by kind of answer), how long that takes at `--rate`, and what `--deadline`
//! or `--max-requests` would leave pending.

use anyhow::{bail, Result};
use chrono::Utc;

use crate::config::PlanConfig;
use crate::model::ResultKind;
use crate::output::Summary;

/// Plans and returns the summary (`plan` figures filled in).
pub fn plan(cfg: &PlanConfig) -> Result<Summary> {
    let started = std::time::Instant::now();
    let job = &cfg.job;
    super::job::check_input(job)?;
    let regular = job.input_is_regular_file();
    if !regular {
        bail!("plan reads the input like run does and needs a file, not standard input or a pipe");
    }
    // Converted (a workbook) or read once, like a run's passes.
    let snapshot = super::job::Snapshot::take(job)?;
    let input = snapshot.read(job)?;
    let mut summary = Summary {
        output: "-".into(),
        simulated: cfg.simulated,
        ..super::job::summary(job, "plan", &input)
    };
    let store = crate::store::shared(crate::store::open(
        &cfg.state,
        cfg.scope.clone(),
        cfg.reuse,
        None,
    )?);
    let never = tokio_util::sync::CancellationToken::new();
    let now = crate::store::lock(&store).now();
    let plan = crate::engine::plan::collect(input, &store, now, &never)?;
    let f = plan.figures;
    let budget = cfg.budget;
    let seconds_left = budget
        .deadline
        .map(|d| (d - Utc::now()).num_milliseconds() as f64 / 1000.0);
    let sent = crate::engine::plan::fits(
        f.requests_needed,
        budget.rate,
        seconds_left,
        budget.max_requests,
    );
    summary.counts = f.counts;
    summary.counts.cache_hits = f.fresh;
    summary
        .counts
        .set(ResultKind::Pending, f.requests_needed - sent);
    summary.encoding_fallback_rows = f.encoding_fallback_rows;
    summary.plan = Some(crate::output::summary::PlanFigures {
        fresh: f.fresh,
        never_asked: f.never_asked,
        stale: f.stale,
        requests_needed: f.requests_needed,
        seconds_needed: f.requests_needed as f64 / budget.rate,
        would_send: sent,
        would_leave_pending: f.requests_needed - sent,
        rate: budget.rate,
        deadline: budget.deadline.map(crate::model::rfc3339),
        max_requests: budget.max_requests,
    });
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    summary.exit_code = crate::model::ExitCode::Ok.code();
    Ok(summary)
}
