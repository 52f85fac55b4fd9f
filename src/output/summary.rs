//! The run's summary: counted by the writer as rows go out, printed to stderr in a few human
//! lines, and written as JSON with `--summary-json`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::model::{Outcome, ResultKind};

/// Why a run stopped before the end of its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Interrupted,
    Fatal,
    CircuitOpen,
    Deadline,
    MaxRequests,
    /// Team mode: the state database became unreachable; what was answered is in the output.
    StoreUnreachable,
}

/// What `checkuser plan` found (distinct values), and what the next run would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlanFigures {
    /// Values the state store answers.
    pub fresh: u64,
    /// Values never answered: sent first.
    pub never_asked: u64,
    /// Values whose answer is stale, by that answer: sent next, oldest first.
    pub stale: std::collections::BTreeMap<String, u64>,
    pub requests_needed: u64,
    /// At `--rate`, with every request answered at the first try.
    pub seconds_needed: f64,
    pub would_send: u64,
    pub would_leave_pending: u64,
    pub rate: f64,
    pub deadline: Option<String>,
    pub max_requests: Option<u64>,
}

/// `1 row`, `2 rows`, `1 retry`, `2 retries`, `2 keys`: the one way a count is printed with a
/// noun.
pub fn count(n: u64, word: &str) -> String {
    let consonant_y = word
        .strip_suffix('y')
        .filter(|stem| !stem.ends_with(['a', 'e', 'i', 'o', 'u']));
    match (n, consonant_y) {
        (1, _) => format!("1 {word}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {word}s"),
    }
}

/// The counts of a summary: `null` in the JSON when the figures are unknown.
const COUNTS: [&str; 16] = [
    "rows",
    "checks",
    "valid",
    "free",
    "taken",
    "uplimit",
    "invalid",
    "error",
    "pending",
    "skipped",
    "api_requests",
    "retries",
    "throttled",
    "cache_hits",
    "duplicates",
    "changed",
];

/// The figures of one run. Field names are the contract's JSON keys.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub command: &'static str,
    pub rows: u64,
    pub checks: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid: Option<u64>,
    pub free: u64,
    pub taken: u64,
    pub uplimit: u64,
    pub invalid: u64,
    pub error: u64,
    pub pending: u64,
    pub skipped: u64,
    pub api_requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub cache_hits: u64,
    pub duplicates: u64,
    /// `validate` on very large inputs: duplicates were counted among this many values only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates_counted_among: Option<u64>,
    /// Values whose answer differs from their last reported answer, reported now (errors and
    /// pending checks are never changes).
    pub changed: u64,
    /// The changes by transition, e.g. `free->taken`.
    pub changes: std::collections::BTreeMap<String, u64>,
    /// The values whose change this run reports (marked reported in the store once the
    /// outputs are written).
    #[serde(skip)]
    pub reported: std::collections::BTreeSet<String>,
    pub elapsed_seconds: f64,
    pub requests_per_second: f64,
    pub stopped_reason: Option<StopReason>,
    /// What went wrong when the run stopped early, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_message: Option<String>,
    pub exit_code: i32,
    pub input: String,
    pub output: String,
    pub simulated: bool,
    /// The input's encoding as read (`UTF-8`, `GBK`, `UTF-16LE`, ...).
    pub encoding: String,
    /// Records of a UTF-8 input that were not UTF-8 and were decoded on their own.
    pub encoding_fallback_rows: u64,
    /// checkuser's version.
    pub version: &'static str,
    /// When the command started and finished (RFC 3339, UTC).
    pub started_at: String,
    pub finished_at: String,
    /// `plan` only: what the next run would do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanFigures>,
    /// The workbook's results sheets (more than one past Excel's 1,048,576 rows).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sheets: Vec<String>,
    /// Set when the command failed or was cut short before its figures could be gathered:
    /// the counts above are then not this run's (requests may have been sent).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub figures_unknown: bool,
}

impl Summary {
    /// An empty summary stamped with the version and the start time.
    pub fn started() -> Summary {
        Summary {
            version: env!("CARGO_PKG_VERSION"),
            started_at: crate::model::rfc3339(chrono::Utc::now()),
            ..Summary::default()
        }
    }

    /// Stamps the end time (and the elapsed time, if nothing set it).
    pub fn finished(&mut self) {
        let now = chrono::Utc::now();
        self.finished_at = crate::model::rfc3339(now);
    }

    /// Counts one written check.
    pub fn count(&mut self, o: &Outcome) {
        self.checks += 1;
        let slot = match o.result {
            ResultKind::Free => &mut self.free,
            ResultKind::Taken => &mut self.taken,
            ResultKind::Uplimit => &mut self.uplimit,
            ResultKind::Invalid => &mut self.invalid,
            ResultKind::Error => &mut self.error,
            ResultKind::Pending => &mut self.pending,
            ResultKind::Skipped => &mut self.skipped,
            ResultKind::Valid => self.valid.get_or_insert(0),
        };
        *slot += 1;
        // One change per value: later rows with the same value carry it too.
        if let Some(t) = o.transition() {
            if self.reported.insert(o.checked_key.clone()) {
                self.changed += 1;
                *self.changes.entry(t).or_default() += 1;
            }
        }
    }

    /// The contract's exit code for a run that got to the end of its input (or stopped).
    pub fn decide_exit_code(&mut self) -> i32 {
        use crate::model::ExitCode;
        self.exit_code = match self.stopped_reason {
            Some(StopReason::Interrupted) => ExitCode::Interrupted,
            Some(StopReason::Fatal | StopReason::CircuitOpen) => ExitCode::Failed,
            Some(StopReason::Deadline | StopReason::MaxRequests | StopReason::StoreUnreachable) => {
                ExitCode::Unfinished
            }
            None if self.error + self.pending > 0 => ExitCode::Unfinished,
            None => ExitCode::Ok,
        }
        .code();
        self.exit_code
    }

    /// The few lines printed to stderr at the end.
    pub fn human(&self) -> String {
        if let Some(p) = &self.plan {
            return self.plan_lines(p);
        }
        let mut s = String::new();
        if self.simulated {
            s.push_str(
                "SIMULATED: these answers come from the built-in sandbox, not from Huawei Cloud.\n",
            );
        }
        s.push_str(&format!(
            "{}, {} in {:.1}s -> {}\n",
            count(self.rows, "row"),
            count(self.checks, "check"),
            self.elapsed_seconds,
            self.output
        ));
        let mut parts = Vec::new();
        if let Some(v) = self.valid {
            parts.push(format!("valid {v}"));
        }
        for (name, n) in [
            ("free", self.free),
            ("taken", self.taken),
            ("uplimit", self.uplimit),
            ("invalid", self.invalid),
            ("error", self.error),
            ("pending", self.pending),
            ("skipped", self.skipped),
        ] {
            if n > 0 || matches!(name, "invalid") {
                parts.push(format!("{name} {n}"));
            }
        }
        s.push_str(&format!("  {}\n", parts.join(" · ")));
        if self.command == "run" {
            s.push_str(&format!(
                "  {} ({:.2}/s), {}, {} throttled, {} from cache, {}, {} changed\n",
                count(self.api_requests, "request"),
                self.requests_per_second,
                count(self.retries, "retry"),
                self.throttled,
                self.cache_hits,
                count(self.duplicates, "duplicate"),
                self.changed
            ));
        } else {
            s.push_str(&format!("  {}", count(self.duplicates, "duplicate")));
            if let Some(n) = self.duplicates_counted_among {
                s.push_str(&format!(
                    " among the first {} (larger inputs are not all compared, to keep memory flat)",
                    count(n, "value")
                ));
            }
            s.push('\n');
        }
        if self.encoding_fallback_rows > 0 {
            let rows = match self.encoding_fallback_rows {
                1 => "1 row was not UTF-8 and was decoded on its own".to_string(),
                n => format!("{n} rows were not UTF-8 and were decoded on their own"),
            };
            s.push_str(&format!("  {rows} (the rest is {})\n", self.encoding));
        }
        if self.sheets.len() > 1 {
            s.push_str(&format!(
                "  the results fill {} sheets ({}): Excel holds 1,048,576 rows per sheet\n",
                self.sheets.len(),
                self.sheets.join(", ")
            ));
        }
        if let Some(msg) = &self.stop_message {
            s.push_str(&format!("  stopped: {msg}\n"));
        }
        if self.command == "run" && self.stopped_reason == Some(StopReason::Interrupted) {
            s.push_str(
                "  run the same command again to go on where it stopped: the answers received \
                 are kept in the state store and not asked again\n",
            );
        }
        s
    }

    fn plan_lines(&self, p: &PlanFigures) -> String {
        let mut s = String::new();
        if self.simulated {
            s.push_str("SIMULATED: planned against the sandbox's state store.\n");
        }
        s.push_str(&format!(
            "{}, {}: {} invalid, {} skipped, {} (asked once)\n",
            count(self.rows, "row"),
            count(self.checks, "check"),
            self.invalid,
            self.skipped,
            count(self.duplicates, "duplicate")
        ));
        let stale: Vec<String> = p.stale.iter().map(|(k, n)| format!("{n} {k}")).collect();
        s.push_str(&format!(
            "  {} answered by the state store; {} {} a request: {} never asked, {} stale{}\n",
            count(p.fresh, "value"),
            p.requests_needed,
            if p.requests_needed == 1 {
                "needs"
            } else {
                "need"
            },
            p.never_asked,
            p.stale.values().sum::<u64>(),
            if stale.is_empty() {
                String::new()
            } else {
                format!(" ({})", stale.join(", "))
            }
        ));
        s.push_str(&format!(
            "  at {}/s that takes {} (more with retries and throttling)\n",
            p.rate,
            humantime::format_duration(std::time::Duration::from_secs(
                p.seconds_needed.ceil() as u64
            ))
        ));
        if p.deadline.is_some() || p.max_requests.is_some() {
            let why: Vec<String> = p
                .deadline
                .iter()
                .map(|d| format!("--deadline {d}"))
                .chain(p.max_requests.iter().map(|m| format!("--max-requests {m}")))
                .collect();
            s.push_str(&format!(
                "  with {}: {} would be sent, {} left pending (new values go first)\n",
                why.join(" and "),
                p.would_send,
                p.would_leave_pending
            ));
        }
        s
    }

    /// The summary as the JSON document `--summary-json` writes and `--notify-url` sends.
    pub fn json(&self) -> Result<serde_json::Value> {
        let mut json = serde_json::to_value(self)?;
        if self.figures_unknown {
            // Unknown, not zero: a run that failed late may have sent requests.
            for key in COUNTS {
                json[key] = serde_json::Value::Null;
            }
        }
        Ok(json)
    }

    /// Writes the JSON summary (atomically, like the output); `-` is standard output.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let target = (path.as_os_str() != "-").then_some(path);
        let mut out = super::atomic::Out::create(target)?;
        let json = self.json()?;
        serde_json::to_writer_pretty(&mut out, &json)
            .with_context(|| format!("cannot write {}", path.display()))?;
        std::io::Write::write_all(&mut out, b"\n")?;
        out.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1, "answer"), "1 answer");
        assert_eq!(count(0, "answer"), "0 answers");
        assert_eq!(count(2, "retry"), "2 retries");
        assert_eq!(count(1, "retry"), "1 retry");
        assert_eq!(count(3, "key"), "3 keys");
        assert_eq!(count(2, "day"), "2 days");
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        let mut s = Summary::default();
        s.count(&Outcome::new("a", ResultKind::Free, Source::Api));
        assert_eq!(s.decide_exit_code(), 0);
        s.count(&Outcome::new("b", ResultKind::Pending, Source::None));
        assert_eq!(s.decide_exit_code(), 1);
        s.stopped_reason = Some(StopReason::CircuitOpen);
        assert_eq!(s.decide_exit_code(), 2);
        s.stopped_reason = Some(StopReason::Interrupted);
        assert_eq!(s.decide_exit_code(), 130);
    }

    #[test]
    fn changes_are_counted_against_the_previous_answer() {
        let mut s = Summary::default();
        let now = chrono::Utc::now();
        let mut o = Outcome::new("a", ResultKind::Taken, Source::Api);
        o.previous = Some((ResultKind::Free, now));
        o.attempts = 1;
        o.change = true;
        s.count(&o);
        // A duplicate row reusing the same answer is not a second change.
        s.count(&Outcome {
            attempts: 0,
            ..o.clone()
        });
        assert_eq!(s.changed, 1);
        o.previous = Some((ResultKind::Taken, now));
        s.count(&o);
        assert_eq!((s.changed, s.taken, s.checks), (1, 3, 3));
        assert_eq!(s.changes.get("free->taken"), Some(&1));
        // An outage is not a change: errors and pending checks never count.
        for now_result in [ResultKind::Error, ResultKind::Pending] {
            let mut e = Outcome::new("a", now_result, Source::Api);
            e.previous = Some((ResultKind::Free, now));
            s.count(&e);
        }
        let mut back = Outcome::new("a", ResultKind::Free, Source::Api);
        back.previous = Some((ResultKind::Error, now));
        s.count(&back);
        assert_eq!(s.changed, 1);
    }
}
