//! Progress for people and for cron: an indicatif bar on a terminal, otherwise one log line
//! every 60 seconds. Driven by the single writer, so it needs no locking.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::Display;
use super::Summary;

/// Whether to show a progress bar (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    Auto,
    Always,
    Never,
}

/// How often the log line is written when there is no terminal.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// How often the bar's counts are refreshed.
const BAR_EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    bar: Option<ProgressBar>,
    log: bool,
    last: Instant,
    started: Instant,
    /// `--deadline` and the number of checks to send, to say whether the rest will fit.
    deadline: Option<(chrono::DateTime<chrono::Utc>, u64)>,
}

impl Progress {
    /// `total` is the number of checks, when known.
    pub fn new(d: &Display, total: Option<u64>) -> Progress {
        let tty = std::io::stderr().is_terminal();
        let show_bar = !d.quiet
            && match d.progress {
                ProgressMode::Always => true,
                ProgressMode::Never => false,
                ProgressMode::Auto => tty,
            };
        let bar = show_bar.then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} checks {rate} ETA {eta} {msg}",
            )
            .expect("static template")
            .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1}/s", state.per_sec());
            });
            bar.set_style(style);
            bar
        });
        Progress {
            bar,
            log: !show_bar && !d.quiet && d.progress != ProgressMode::Never,
            last: Instant::now(),
            started: Instant::now(),
            deadline: None,
        }
    }

    /// Shows whether the `total` checks to send fit before `deadline` at the pace so far.
    pub fn with_deadline(
        mut self,
        deadline: Option<chrono::DateTime<chrono::Utc>>,
        total: u64,
    ) -> Progress {
        self.deadline = deadline.map(|d| (d, total));
        self
    }

    /// "deadline 06:30 in 2h 10m: at 4.9/s about 1200 of 1500 left would be sent".
    fn fit(&self, s: &Summary, now: Instant) -> String {
        let Some((deadline, total)) = self.deadline else {
            return String::new();
        };
        let left = (deadline - chrono::Utc::now()).num_seconds().max(0) as u64;
        let secs = now.duration_since(self.started).as_secs_f64().max(1e-9);
        let rate = s.api_requests as f64 / secs;
        let todo = total.saturating_sub(s.checks);
        let can = ((left as f64) * rate) as u64;
        let when = humantime::format_duration(Duration::from_secs(left));
        if can >= todo {
            format!(" · deadline in {when}: the {todo} left fit at {rate:.1}/s")
        } else {
            format!(" · deadline in {when}: at {rate:.1}/s about {can} of the {todo} left fit, the rest stays pending")
        }
    }

    /// Whether a total would be shown (only the bar shows one).
    pub fn shows_total(&self) -> bool {
        self.bar.is_some()
    }

    /// The total became known (or grew).
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Called after each written row.
    pub fn update(&mut self, s: &Summary) {
        let now = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_position(s.checks);
            if now.duration_since(self.last) >= BAR_EVERY {
                self.last = now;
                bar.set_message(format!("{}{}", counts(s), self.fit(s, now)));
            }
        } else if self.log && now.duration_since(self.last) >= LOG_EVERY {
            self.last = now;
            let secs = now.duration_since(self.started).as_secs_f64().max(1e-9);
            let rate = match s.valid {
                Some(_) => format!("{:.0} rows/s", s.rows as f64 / secs),
                None => format!("{:.2} requests/s", s.api_requests as f64 / secs),
            };
            tracing::info!(
                "progress: {} rows, {} checks ({rate}) {}{}",
                s.rows,
                s.checks,
                counts(s),
                self.fit(s, now)
            );
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn counts(s: &Summary) -> String {
    match s.valid {
        Some(valid) => format!("valid {valid} invalid {} skipped {}", s.invalid, s.skipped),
        None => format!(
            "free {} taken {} uplimit {} invalid {} error {}",
            s.free, s.taken, s.uplimit, s.invalid, s.error
        ),
    }
}
