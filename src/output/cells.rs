//! The result cells of one check, in contract order, as typed values that each output format
//! renders its own way (CSV as text; the workbook keeps numbers as numbers).

use chrono::{DateTime, Utc};

use crate::model::Outcome;

/// One result cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    Text(&'a str),
    Number(u64),
    Time(DateTime<Utc>),
    Empty,
}

/// Where the `result` cell sits among the 13 result cells.
pub const RESULT_INDEX: usize = 1;

fn text(v: &Option<String>) -> Cell<'_> {
    v.as_deref().map_or(Cell::Empty, Cell::Text)
}

/// The 13 result cells of a check, in the order of `check::RESULT_COLUMNS`.
pub fn result_cells(o: &Outcome) -> [Cell<'_>; 13] {
    let [status, uplimit] = o
        .answer_columns()
        .map(|c| c.map_or(Cell::Empty, Cell::Text));
    [
        Cell::Text(&o.checked_key),
        Cell::Text(o.result.as_str()),
        status,
        uplimit,
        text(&o.error_code),
        text(&o.error_msg),
        o.http_status
            .map_or(Cell::Empty, |s| Cell::Number(u64::from(s))),
        Cell::Number(u64::from(o.attempts)),
        Cell::Text(o.source.as_str()),
        o.checked_at.map_or(Cell::Empty, Cell::Time),
        text(&o.request_id),
        o.previous.map_or(Cell::Empty, |p| Cell::Text(p.0.as_str())),
        o.previous.map_or(Cell::Empty, |p| Cell::Time(p.1)),
    ]
}

/// Formats times, remembering the last one (a run's local answers share one time).
#[derive(Default)]
pub struct TimeText {
    last: Option<(DateTime<Utc>, String)>,
}

impl TimeText {
    pub fn get(&mut self, t: DateTime<Utc>) -> &str {
        if self.last.as_ref().is_none_or(|(at, _)| *at != t) {
            self.last = Some((t, crate::model::rfc3339(t)));
        }
        self.last.as_ref().map(|(_, s)| s.as_str()).unwrap_or("")
    }
}
