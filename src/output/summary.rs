//! The run's summary: counted by the writer as rows go out, printed to stderr in a few human
//! lines, and written as JSON with `--summary-json`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::counts::Counts;
use crate::model::ResultKind;

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

/// The figures of one run. Field names are the contract's JSON keys.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub command: &'static str,
    /// Rows, checks by result, requests, duplicates, changes: the one count
    /// ([`Counts`]), its keys at the top level of the JSON.
    #[serde(flatten)]
    pub counts: Counts,
    /// `validate` on very large inputs: duplicates were counted among this many values only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates_counted_among: Option<u64>,
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

    /// The contract's exit code for a run that got to the end of its input (or stopped).
    pub fn decide_exit_code(&mut self) -> i32 {
        use crate::model::ExitCode;
        self.exit_code = match self.stopped_reason {
            Some(StopReason::Interrupted) => ExitCode::Interrupted,
            Some(StopReason::Fatal | StopReason::CircuitOpen) => ExitCode::Failed,
            Some(StopReason::Deadline | StopReason::MaxRequests | StopReason::StoreUnreachable) => {
                ExitCode::Unfinished
            }
            None if self.counts.unfinished() > 0 => ExitCode::Unfinished,
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
        let c = &self.counts;
        s.push_str(&format!(
            "{}, {} in {:.1}s -> {}\n",
            count(c.rows, "row"),
            count(c.checks, "check"),
            self.elapsed_seconds,
            self.output
        ));
        s.push_str(&format!("  {}\n", self.results_line()));
        s.push_str(&format!("  {}\n", self.traffic_line()));
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

    /// `free 3 · taken 2 · invalid 0`: the results seen (`invalid` always, `valid` in
    /// `validate`), in the order people read them.
    fn results_line(&self) -> String {
        let shown = |(kind, n): &(ResultKind, u64)| {
            *n > 0 || matches!(kind, ResultKind::Invalid | ResultKind::Valid)
        };
        let parts: Vec<String> = (self.counts.results())
            .filter(shown)
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        parts.join(" · ")
    }

    /// `run`: requests, retries, throttling, the store, duplicates, changes; otherwise the
    /// duplicates.
    fn traffic_line(&self) -> String {
        let c = &self.counts;
        if self.command == "run" {
            return format!(
                "{} ({:.2}/s), {}, {} throttled, {} from the store, {}, {} changed",
                count(c.api_requests, "request"),
                self.requests_per_second,
                count(c.retries, "retry"),
                c.throttled,
                count(c.cache_hits, "check"),
                count(c.duplicates, "duplicate"),
                c.changed
            );
        }
        let mut s = count(c.duplicates, "duplicate");
        if let Some(n) = self.duplicates_counted_among {
            s.push_str(&format!(
                " among the first {} (larger inputs are not all compared, to keep memory flat)",
                count(n, "value")
            ));
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
            count(self.counts.rows, "row"),
            count(self.counts.checks, "check"),
            self.counts.of(ResultKind::Invalid),
            self.counts.of(ResultKind::Skipped),
            count(self.counts.duplicates, "duplicate")
        ));
        s.push_str(&format!("  {}\n", ask_line(p)));
        if p.requests_needed == 0 {
            return s;
        }
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
                count(p.would_send, "value"),
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
            for key in Counts::keys() {
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

/// `16 values answered from the store; 3 values need a request: 1 never asked, 2 stale (2 free)`.
fn ask_line(p: &PlanFigures) -> String {
    let fresh = format!("{} answered from the store", count(p.fresh, "value"));
    if p.requests_needed == 0 {
        return format!("{fresh}; no value needs a request");
    }
    let need = match p.requests_needed {
        1 => "1 value needs".to_string(),
        n => format!("{} need", count(n, "value")),
    };
    let stale: Vec<String> = p.stale.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let stale = match stale.is_empty() {
        true => String::new(),
        false => format!(" ({})", stale.join(", ")),
    };
    format!(
        "{fresh}; {need} a request: {} never asked, {} stale{stale}",
        p.never_asked,
        p.stale.values().sum::<u64>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Outcome, Source};

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
        s.counts
            .add(&Outcome::new("a", ResultKind::Free, Source::Api));
        assert_eq!(s.decide_exit_code(), 0);
        s.counts
            .add(&Outcome::new("b", ResultKind::Pending, Source::None));
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
        s.counts.add(&o);
        // A duplicate row reusing the same answer is not a second change.
        s.counts.add(&Outcome {
            attempts: 0,
            ..o.clone()
        });
        assert_eq!(s.counts.changed, 1);
        o.previous = Some((ResultKind::Taken, now));
        s.counts.add(&o);
        assert_eq!(
            (
                s.counts.changed,
                s.counts.of(ResultKind::Taken),
                s.counts.checks
            ),
            (1, 3, 3)
        );
        assert_eq!(s.counts.changes.get("free->taken"), Some(&1));
        // An outage is not a change: errors and pending checks never count.
        for now_result in [ResultKind::Error, ResultKind::Pending] {
            let mut e = Outcome::new("a", now_result, Source::Api);
            e.previous = Some((ResultKind::Free, now));
            s.counts.add(&e);
        }
        let mut back = Outcome::new("a", ResultKind::Free, Source::Api);
        back.previous = Some((ResultKind::Error, now));
        s.counts.add(&back);
        assert_eq!(s.counts.changed, 1);
    }

    #[test]
    fn the_human_lines_use_the_glossary_words() {
        let mut s = Summary {
            command: "run",
            output: "out.csv".into(),
            ..Summary::default()
        };
        s.counts
            .add_row(&[Outcome::new("a", ResultKind::Free, Source::Cache)]);
        s.counts.cache_hits = 1;
        s.counts.api_requests = 1;
        let text = s.human();
        assert!(
            text.starts_with("1 row, 1 check in 0.0s -> out.csv\n"),
            "{text}"
        );
        assert!(text.contains("  free 1 · invalid 0\n"), "{text}");
        assert!(
            text.contains("1 request (0.00/s), 0 retries, 0 throttled, 1 check from the store, 0 duplicates, 0 changed"),
            "{text}"
        );
    }

    #[test]
    fn unknown_figures_are_null_not_zero() {
        let s = Summary {
            figures_unknown: true,
            ..Summary::default()
        };
        let json = s.json().unwrap();
        for key in [
            "rows",
            "checks",
            "valid",
            "free",
            "pending",
            "api_requests",
            "changed",
        ] {
            assert!(json[key].is_null(), "{key}: {json}");
        }
        assert_eq!(json["exit_code"], 0);
    }

    #[test]
    fn a_plan_says_values_with_their_plurals() {
        let mut p = PlanFigures {
            fresh: 1,
            rate: 5.0,
            ..PlanFigures::default()
        };
        assert_eq!(
            ask_line(&p),
            "1 value answered from the store; no value needs a request"
        );
        p.requests_needed = 1;
        p.never_asked = 1;
        assert_eq!(
            ask_line(&p),
            "1 value answered from the store; 1 value needs a request: 1 never asked, 0 stale"
        );
        p.fresh = 16;
        p.requests_needed = 3;
        p.stale.insert("free".into(), 2);
        assert_eq!(
            ask_line(&p),
            "16 values answered from the store; 3 values need a request: 1 never asked, 2 stale (2 free)"
        );
        let s = Summary {
            plan: Some(PlanFigures {
                fresh: 2,
                ..PlanFigures::default()
            }),
            ..Summary::default()
        };
        assert!(!s.human().contains("that takes"), "{}", s.human());
    }
}
