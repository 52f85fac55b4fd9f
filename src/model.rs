//! The vocabulary shared by every stage: what a check is, what it can end as, and where the
//! answer came from. Nothing here does I/O.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// The three kinds of value the partner API can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckType {
    Email,
    Mobile,
    Name,
}

impl CheckType {
    pub const ALL: [CheckType; 3] = [CheckType::Email, CheckType::Mobile, CheckType::Name];

    /// The wire name, also used as the column prefix in `--check` mode.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::Email => "email",
            CheckType::Mobile => "mobile",
            CheckType::Name => "name",
        }
    }
}

impl fmt::Display for CheckType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CheckType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        CheckType::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| format!("unknown check type '{t}': expected email, mobile or name"))
    }
}

/// The `result` column's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultKind {
    Free,
    Taken,
    Uplimit,
    Invalid,
    Error,
    Pending,
    Skipped,
    /// `validate` only: the value passed local rules.
    Valid,
}

impl ResultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultKind::Free => "free",
            ResultKind::Taken => "taken",
            ResultKind::Uplimit => "uplimit",
            ResultKind::Invalid => "invalid",
            ResultKind::Error => "error",
            ResultKind::Pending => "pending",
            ResultKind::Skipped => "skipped",
            ResultKind::Valid => "valid",
        }
    }

    /// Every result, in the order of the contract's JSON keys (`valid`, `validate`'s own, last).
    pub const ALL: [ResultKind; 8] = [
        ResultKind::Free,
        ResultKind::Taken,
        ResultKind::Uplimit,
        ResultKind::Invalid,
        ResultKind::Error,
        ResultKind::Pending,
        ResultKind::Skipped,
        ResultKind::Valid,
    ];

    /// An answer of the API about the value (not an error, a local verdict or a gap).
    pub fn is_answer(self) -> bool {
        matches!(
            self,
            ResultKind::Free | ResultKind::Taken | ResultKind::Uplimit
        )
    }

    pub fn parse(s: &str) -> Option<ResultKind> {
        ResultKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ResultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the API said about a value, typed from the moment its body is read
/// (`crate::api::answer`). The strings `"0"`/`"1"` exist only on the wire and in the `status`
/// and `uplimit` columns ([`Answer::columns`], [`Answer::from_columns`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Answer {
    /// The value is registered (v1 `status` 1, v2 `check_result=used_by_user`).
    pub taken: bool,
    /// The value reached its registration limit (v1 `uplimit` 1, v2
    /// `mobile_remain_available_num` 0).
    pub uplimit: bool,
}

impl Answer {
    /// The contract's rule: `uplimit` if uplimit is 1, else `taken` if status is 1, else `free`.
    pub fn result(self) -> ResultKind {
        match (self.taken, self.uplimit) {
            (_, true) => ResultKind::Uplimit,
            (true, false) => ResultKind::Taken,
            (false, false) => ResultKind::Free,
        }
    }

    /// The `status` and `uplimit` columns (output and store): `"0"`/`"1"`, as v1 states them.
    pub fn columns(self) -> [&'static str; 2] {
        let flag = |b: bool| if b { "1" } else { "0" };
        [flag(self.taken), flag(self.uplimit)]
    }

    /// An answer read back from its columns (a stored row); `None` unless both are `0`/`1`.
    pub fn from_columns(status: Option<&str>, uplimit: Option<&str>) -> Option<Answer> {
        let flag = |v: Option<&str>| match v? {
            "0" => Some(false),
            "1" => Some(true),
            _ => None,
        };
        Some(Answer {
            taken: flag(status)?,
            uplimit: flag(uplimit)?,
        })
    }
}

/// The `source` column's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    Cache,
    Local,
    None,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Cache => "cache",
            Source::Local => "local",
            Source::None => "none",
        }
    }
}

/// The local verdict on a value, before any request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// Passed the rules; this is the normalized key.
    Ready(String),
    /// Failed the rules; the normalized form (as far as it got) and the reason.
    Invalid { key: String, reason: String },
    /// The cell was empty.
    Skipped,
    /// Passed the rules but is not sent, because its row cannot be written in full (a row
    /// wider than a workbook holds): `result=error` with the reason, and no request spent on
    /// an answer the output could not show.
    Unsent { key: String, reason: String },
}

/// Everything the result columns of one check show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub checked_key: String,
    pub result: ResultKind,
    /// The API's answer (the `status` and `uplimit` columns), when one was given.
    pub answer: Option<Answer>,
    pub error_code: Option<String>,
    pub error_msg: Option<String>,
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub source: Source,
    pub checked_at: Option<DateTime<Utc>>,
    pub request_id: Option<String>,
    /// The answer this value had before, from the state store (change detection).
    pub previous: Option<(ResultKind, DateTime<Utc>)>,
    /// This answer differs from `previous` and no run has reported that yet (the store says
    /// so, for answers received now and for answers a run that died received).
    pub change: bool,
}

impl Outcome {
    /// `prev->now` when this answer is a change not yet reported (received in this run, or by
    /// a run that died or could not write its outputs); errors, pending checks and local
    /// verdicts are never changes.
    pub fn transition(&self) -> Option<String> {
        let (prev, _) = self.previous?;
        let answer = matches!(self.source, Source::Api | Source::Cache) && self.result.is_answer();
        (self.change && answer && prev.is_answer() && prev != self.result)
            .then(|| format!("{prev}->{}", self.result))
    }

    /// The `status` and `uplimit` columns (output and store): `"0"`/`"1"` as the API states
    /// them, `None` when no answer was given.
    pub fn answer_columns(&self) -> [Option<&'static str>; 2] {
        match self.answer {
            Some(a) => a.columns().map(Some),
            None => [None, None],
        }
    }

    /// An outcome with only the key and result set; the builder methods fill the rest.
    pub fn new(checked_key: impl Into<String>, result: ResultKind, source: Source) -> Outcome {
        Outcome {
            checked_key: checked_key.into(),
            result,
            answer: None,
            error_code: None,
            error_msg: None,
            http_status: None,
            attempts: 0,
            source,
            checked_at: None,
            request_id: None,
            previous: None,
            change: false,
        }
    }

    /// The outcome a check has without asking anyone: invalid, skipped, or `ready_as`
    /// (`valid` in `validate`, `pending` in `run` when the run stopped before sending it).
    pub fn from_local(local: Local, ready_as: ResultKind, now: DateTime<Utc>) -> Outcome {
        match local {
            Local::Ready(key) => Outcome::new(key, ready_as, Source::None),
            Local::Invalid { key, reason } => Outcome {
                error_code: Some("LOCAL".into()),
                error_msg: Some(reason),
                checked_at: Some(now),
                ..Outcome::new(key, ResultKind::Invalid, Source::Local)
            },
            Local::Skipped => Outcome::new("", ResultKind::Skipped, Source::None),
            Local::Unsent { key, reason } => Outcome {
                error_code: Some("LOCAL".into()),
                error_msg: Some(reason),
                checked_at: Some(now),
                ..Outcome::new(key, ResultKind::Error, Source::Local)
            },
        }
    }
}

/// How a command ends, as the process's exit status (the contract's table, plus 141 for a
/// closed standard output). The one place these numbers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Finished; every check ended free, taken, uplimit, invalid or skipped.
    Ok,
    /// Finished, but some checks ended `error` or `pending`.
    Unfinished,
    /// Usage error, fatal error, circuit open, or another run holds the lock.
    Failed,
    /// Interrupted (Ctrl-C, SIGTERM, SIGHUP).
    Interrupted,
    /// Standard output was closed (`| head`): ends quietly, like other tools.
    BrokenPipe,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        match self {
            ExitCode::Ok => 0,
            ExitCode::Unfinished => 1,
            ExitCode::Failed => 2,
            ExitCode::Interrupted => 130,
            ExitCode::BrokenPipe => 141,
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(c: ExitCode) -> Self {
        std::process::ExitCode::from(c.code() as u8)
    }
}

/// The result column names, in contract order, without prefix.
pub const RESULT_COLUMNS: [&str; 13] = [
    "checked_key",
    "result",
    "status",
    "uplimit",
    "error_code",
    "error_msg",
    "http_status",
    "attempts",
    "source",
    "checked_at",
    "request_id",
    "previous_result",
    "previous_checked_at",
];

/// Every result column, by index into [`RESULT_COLUMNS`].
pub const ALL_RESULTS: [usize; 13] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// The result columns a person reads: `checked_key`, `result`, `error_msg` (`--columns brief`).
pub const BRIEF_RESULTS: [usize; 3] = [0, 1, 5];

/// A 64-bit fingerprint of (type, key), to count duplicates without keeping the keys.
pub fn fingerprint(h: &impl std::hash::BuildHasher, kind: CheckType, key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut s = h.build_hasher();
    kind.hash(&mut s);
    key.hash(&mut s);
    s.finish()
}

/// Formats a time the way every output column shows it: RFC 3339, UTC, whole seconds.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_mapping_follows_the_contract() {
        let a = |taken, uplimit| Answer { taken, uplimit };
        assert_eq!(a(false, false).result(), ResultKind::Free);
        assert_eq!(a(true, false).result(), ResultKind::Taken);
        assert_eq!(a(true, true).result(), ResultKind::Uplimit);
        assert_eq!(a(false, true).result(), ResultKind::Uplimit);
    }

    #[test]
    fn answer_columns_read_back_as_written() {
        for taken in [false, true] {
            for uplimit in [false, true] {
                let a = Answer { taken, uplimit };
                let [s, u] = a.columns();
                assert_eq!(Answer::from_columns(Some(s), Some(u)), Some(a));
            }
        }
        assert_eq!(
            Answer::from_columns(Some("1"), Some("0")).map(Answer::result),
            Some(ResultKind::Taken)
        );
        for (s, u) in [
            (None, Some("0")),
            (Some("2"), Some("0")),
            (Some("1"), Some(" 1")),
        ] {
            assert_eq!(Answer::from_columns(s, u), None, "{s:?} {u:?}");
        }
    }

    #[test]
    fn check_type_parses_case_insensitively() {
        assert_eq!("EMAIL".parse::<CheckType>(), Ok(CheckType::Email));
        assert_eq!(" Mobile ".parse::<CheckType>(), Ok(CheckType::Mobile));
        assert!("phone".parse::<CheckType>().is_err());
    }
}
