//! The run's figures in the Prometheus text format, for node_exporter's textfile collector:
//! a stale or failed nightly run then raises an alert in the monitoring users already have.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::Summary;
use crate::model::ResultKind;

/// The metrics of a finished (or failed) command, at unix time `now`.
pub fn render(s: &Summary, now: f64) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, rows: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    gauge(
        "checkuser_last_run_timestamp_seconds",
        "When the last checkuser run finished (unix time).",
        &[("", now.floor())],
    );
    gauge(
        "checkuser_last_run_exit_code",
        "Exit code of the last run (0 ok, 1 some checks error or pending, 2 failed, 130 interrupted).",
        &[("", f64::from(s.exit_code))],
    );
    gauge(
        "checkuser_last_run_duration_seconds",
        "How long the last run took.",
        &[("", s.elapsed_seconds)],
    );
    if s.figures_unknown {
        // No counts rather than false zeros: the series go stale, the exit code says why.
        return out;
    }
    let c = &s.counts;
    // Every result, `valid` included (0 outside `validate`), so that each series exists.
    let labels: Vec<(String, f64)> = ResultKind::ALL
        .iter()
        .map(|r| (format!("{{result=\"{r}\"}}"), c.of(*r) as f64))
        .collect();
    let rows: Vec<(&str, f64)> = labels.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    gauge(
        "checkuser_checks",
        "Checks of the last run by result.",
        &rows,
    );
    gauge(
        "checkuser_requests",
        "HTTP requests the last run sent.",
        &[("", c.api_requests as f64)],
    );
    gauge(
        "checkuser_throttled",
        "Requests of the last run answered 429.",
        &[("", c.throttled as f64)],
    );
    gauge(
        "checkuser_changed",
        "Answers of the last run that differ from the previous answer.",
        &[("", c.changed as f64)],
    );
    out
}

/// Writes the metrics file atomically (a collector never reads half of it).
pub fn write(path: &Path, s: &Summary) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let mut out = super::atomic::Out::create(Some(path))?;
    std::io::Write::write_all(&mut out, render(s, now).as_bytes())?;
    out.commit()
}
