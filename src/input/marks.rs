//! Cells that carry a verdict instead of a value: a formula a script wrote without its value,
//! or a value a previous run found mangled by a spreadsheet. Reading finds these before the
//! checks are made, and the text of a row travels as text (a CSV temp file, a `StringRecord`),
//! so the verdict rides in the cell itself: [`MARK`], the reason, [`MARK`], the text to show.
//! [`crate::input::Layout::checks_into`] turns a marked cell into an `invalid` check with that
//! reason, and [`present`] puts the text back before the row is written.
//!
//! `MARK` is a noncharacter (U+FDD0): no text a person typed holds one, and a cell read from
//! a file that starts with one has it replaced by [`defuse`] / [`defuse_record`], so a file
//! cannot forge a verdict.

use std::borrow::Cow;

/// Opens and separates a marked cell.
pub const MARK: char = '\u{FDD0}';

/// A cell that reads as `invalid` with `reason`, shown as `shown`.
pub fn mark(reason: &str, shown: &str) -> String {
    let clean = |s: &str| s.replace(MARK, "\u{FFFD}");
    format!("{MARK}{}{MARK}{}", clean(reason), clean(shown))
}

/// The reason and the shown text of a marked cell.
pub fn parse(cell: &str) -> Option<(&str, &str)> {
    cell.strip_prefix(MARK)?.split_once(MARK)
}

/// A cell as read from a file: a leading `MARK` (which no person types) is replaced.
pub fn defuse(cell: &str) -> Cow<'_, str> {
    match cell.strip_prefix(MARK) {
        Some(rest) => Cow::Owned(format!("\u{FFFD}{rest}")),
        None => Cow::Borrowed(cell),
    }
}

/// [`defuse`] over a record, which is left alone (no copy) unless it holds a `MARK`.
pub fn defuse_record(fields: &mut csv::StringRecord) {
    if fields.as_slice().contains(MARK) && fields.iter().any(|f| f.starts_with(MARK)) {
        *fields = fields.iter().map(defuse).collect();
    }
}

/// The record as it is written out: each marked cell replaced by its shown text.
pub fn present(fields: &mut csv::StringRecord) {
    if fields.as_slice().contains(MARK) && fields.iter().any(|f| parse(f).is_some()) {
        *fields = fields
            .iter()
            .map(|f| parse(f).map_or(f, |(_, shown)| shown))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_cell_carries_its_reason_and_shows_its_text() {
        let m = mark("no value", "=SUM(A1)");
        assert_eq!(parse(&m), Some(("no value", "=SUM(A1)")));
        assert_eq!(parse("plain"), None);
        let mut rec = csv::StringRecord::from(vec!["a", m.as_str(), "c"]);
        present(&mut rec);
        assert_eq!(rec.iter().collect::<Vec<_>>(), ["a", "=SUM(A1)", "c"]);
    }

    #[test]
    fn a_file_cannot_forge_a_mark() {
        let forged = format!("{MARK}fake reason{MARK}x");
        let mut rec = csv::StringRecord::from(vec!["a", forged.as_str()]);
        defuse_record(&mut rec);
        assert_eq!(parse(&rec[1]), None);
        assert!(rec[1].starts_with('\u{FFFD}'));
        // A MARK inside a reason or a shown text cannot end it early.
        let m = mark(&format!("r{MARK}"), &format!("{MARK}s"));
        assert_eq!(parse(&m), Some(("r\u{FFFD}", "\u{FFFD}s")));
    }
}
