//! Progress for people and for cron: an indicatif bar on a terminal, otherwise one log line
//! every 60 seconds. Driven by the single writer, so it needs no locking.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::summary::count;
use super::Counts;
use super::Display;

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

/// What one progress step is: a row written, or (a planned run's sending pass) a value
/// asked, of a known number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Rows,
    Values(u64),
}

/// Where a run's progress is also shown: a `serve` job's page reads it while the run writes.
#[derive(Clone, Default)]
pub struct Watch(std::sync::Arc<std::sync::Mutex<Seen>>);

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watch")
    }
}

/// What a [`Watch`] saw last: steps done of a total (values asked, or rows written), and
/// every result's count so far.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub done: u64,
    pub total: Option<u64>,
    pub counts: Vec<(&'static str, u64)>,
    /// When the first step was seen (the ETA's start).
    pub since: Option<Instant>,
    /// Bumped at every change, for readers that wait for one.
    pub version: u64,
}

impl Seen {
    /// Seconds left at the pace so far (`None` until a pace is known).
    pub fn eta_seconds(&self) -> Option<f64> {
        let (total, since) = (self.total?, self.since?);
        let secs = since.elapsed().as_secs_f64();
        if self.done == 0 || secs < 1.0 {
            return None;
        }
        Some(total.saturating_sub(self.done) as f64 * secs / self.done as f64)
    }
}

impl Watch {
    /// Bumped at every change.
    pub fn version(&self) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).version
    }

    pub fn seen(&self) -> Seen {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn show(&self, done: u64, total: Option<u64>, s: &Counts) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.since.get_or_insert_with(Instant::now);
        seen.done = done;
        seen.total = total;
        seen.counts = s.results().map(|(k, n)| (k.as_str(), n)).collect();
        seen.version += 1;
    }
}

pub struct Progress {
    watch: Option<Watch>,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    log: bool,
    unit: Unit,
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
            bar.set_style(bar_style("checks"));
            bar
        });
        Progress {
            watch: None,
            total,
            bar,
            log: !show_bar && !d.quiet && d.progress != ProgressMode::Never,
            unit: Unit::Rows,
            last: Instant::now(),
            started: Instant::now(),
            deadline: None,
        }
    }

    /// Counts values asked, `total` of them, instead of rows written (the sending pass of a
    /// planned run, where each step is one distinct value).
    pub fn of_values(mut self, total: u64) -> Progress {
        self.unit = Unit::Values(total);
        self.total = Some(total);
        if let Some(bar) = &self.bar {
            bar.set_style(bar_style("values"));
        }
        self
    }

    /// Also shows the progress on `watch`.
    pub fn watched(mut self, watch: Option<Watch>) -> Progress {
        self.watch = watch;
        self
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
    fn fit(&self, s: &Counts, now: Instant) -> String {
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
    pub fn set_total(&mut self, total: u64) {
        self.total = Some(total);
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Called after each written row.
    pub fn update(&mut self, s: &Counts) {
        if let Some(w) = &self.watch {
            w.show(s.checks, self.total, s);
        }
        let now = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_position(s.checks);
            if now.duration_since(self.last) >= BAR_EVERY {
                self.last = now;
                bar.set_message(format!("{}{}", counts(s), self.fit(s, now)));
            }
        } else if self.log && now.duration_since(self.last) >= LOG_EVERY {
            self.last = now;
            let secs = now.duration_since(self.started).as_secs_f64();
            tracing::info!("{}{}", self.log_line(s, secs), self.fit(s, now));
        }
    }

    /// The line logged off a terminal: what is done, then every result's count (they add up
    /// to the checks done), then the pace.
    fn log_line(&self, s: &Counts, secs: f64) -> String {
        let secs = secs.max(1e-9);
        let rate = match s.is_validating() {
            true => format!("{:.0} rows/s", s.rows as f64 / secs),
            false => format!("{:.2} requests/s", s.api_requests as f64 / secs),
        };
        let done = match self.unit {
            Unit::Rows if s.checks == s.rows => format!("{} done", count(s.rows, "row")),
            Unit::Rows => format!(
                "{} done, {}",
                count(s.rows, "row"),
                count(s.checks, "check")
            ),
            Unit::Values(total) => format!("{} of {} asked", s.checks, count(total, "value")),
        };
        format!("progress: {done}: {} ({rate})", counts(s))
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The bar, counting `noun` (the glossary's `checks` or `values`).
fn bar_style(noun: &str) -> ProgressStyle {
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {noun} {{rate}} ETA {{eta}} {{msg}}"
    );
    ProgressStyle::with_template(&template)
        .expect("a fixed template")
        .with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate_text(state.elapsed(), state.per_sec()));
            },
        )
}

/// The bar's rate: none in the first seconds, when a few checks answered from the store at
/// once would show a rate no one will see again (`756.6/s` at the start of a 5/s run).
fn rate_text(elapsed: std::time::Duration, per_sec: f64) -> String {
    match elapsed < RATE_AFTER {
        true => String::new(),
        false => format!("{per_sec:.1}/s"),
    }
}

/// When the bar starts showing a rate.
const RATE_AFTER: std::time::Duration = std::time::Duration::from_secs(3);

/// Every result's count, the ones not seen yet left out (they add up to the checks done).
fn counts(s: &Counts) -> String {
    let seen: Vec<String> = s
        .results()
        .filter(|(_, n)| *n > 0)
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    match seen.is_empty() {
        true => "none yet".into(),
        false => seen.join(" · "),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_shows_no_rate_in_its_first_seconds() {
        use std::time::Duration;
        assert_eq!(super::rate_text(Duration::from_millis(200), 756.6), "");
        assert_eq!(super::rate_text(Duration::from_secs(4), 4.94), "4.9/s");
    }

    use super::*;
    use crate::model::{Outcome, ResultKind, Source};

    /// The numbers of a progress text after its first `:`, added up.
    fn added_up(text: &str) -> u64 {
        let after = text.split_once(':').map_or(text, |(_, rest)| rest);
        after
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .filter_map(|w| w.parse::<u64>().ok())
            .sum()
    }

    #[test]
    fn the_counts_add_up_to_the_checks_done() {
        let mut s = Counts::default();
        for (kind, n) in [
            (ResultKind::Free, 3),
            (ResultKind::Taken, 2),
            (ResultKind::Uplimit, 1),
            (ResultKind::Invalid, 4),
            (ResultKind::Error, 1),
            (ResultKind::Pending, 5),
            (ResultKind::Skipped, 6),
        ] {
            for i in 0..n {
                s.add(&Outcome::new(format!("{kind}{i}"), kind, Source::None));
            }
            s.rows += n;
        }
        assert_eq!(added_up(&counts(&s)), s.checks, "{}", counts(&s));
        let quiet = Display {
            quiet: false,
            verbose: 0,
            progress: ProgressMode::Never,
            log_pii: false,
        };
        let rows = Progress::new(&quiet, None);
        let line = rows.log_line(&s, 60.0);
        assert!(line.starts_with("progress: 22 rows done: "), "{line}");
        let listed = line
            .split(" done: ")
            .nth(1)
            .unwrap()
            .split(" (")
            .next()
            .unwrap();
        assert_eq!(added_up(&format!(":{listed}")), 22, "{line}");
        s.rows = 11;
        let line = rows.log_line(&s, 60.0);
        assert!(
            line.starts_with("progress: 11 rows done, 22 checks: "),
            "{line}"
        );
        let values = Progress::new(&quiet, Some(40)).of_values(40);
        let line = values.log_line(&s, 60.0);
        assert!(
            line.starts_with("progress: 22 of 40 values asked: "),
            "{line}"
        );
    }
}
