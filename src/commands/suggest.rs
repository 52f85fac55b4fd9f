//! The example `--check` flags shown when an input has neither `searchType`/`searchKey`
//! columns nor `--check`. A CRM export's headers rarely say `email`: its first column is an ID,
//! and its contacts sit under names like `联系方式` or `Info`. So the columns are judged by
//! their values first (the first rows' cells that look like emails or mobile numbers), and by
//! their names only when the values say nothing.

use crate::input::{CheckSpec, RecordReader};
use crate::model::{CheckType, Local};
use crate::normalize::Rules;

/// Rows looked at: enough to see what a column holds, few enough to be instant.
const SAMPLE_ROWS: usize = 200;

/// Words in a header that say what its column holds.
const HINTS: [(CheckType, &[&str]); 3] = [
    (
        CheckType::Email,
        &["mail", "邮箱", "邮件", "메일", "メール"],
    ),
    (
        CheckType::Mobile,
        &[
            "phone", "mobile", "tel", "cell", "手机", "电话", "電話", "携帯", "휴대",
        ],
    ),
    (
        CheckType::Name,
        &["account", "user", "login", "账号", "用户名"],
    ),
];

/// The error of an input with no columns to check, its example replaced by flags for the
/// columns that look like emails and mobiles (the first rows of `reader` are read for it).
pub fn no_columns(error: anyhow::Error, reader: &mut RecordReader, rules: Rules) -> anyhow::Error {
    let rows = sample(reader);
    let text = error.to_string();
    let head = text.split("\n  for example:").next().unwrap_or(&text);
    anyhow::anyhow!(
        "{head}\n  for example: {}",
        example_flags(&reader.header, &rows, &rules)
    )
}

/// `--check email=Contact --check mobile=Tel`: the best column for each type whose values
/// look like it (most of its non-empty cells), else whose name says so.
pub fn example_flags(header: &[String], rows: &[csv::StringRecord], rules: &Rules) -> String {
    let flags: Vec<String> = guess(header, rows, rules)
        .iter()
        .map(|s| format!("--check {}={}", s.kind, shell_quote(&s.column)))
        .collect();
    if flags.is_empty() {
        return "--check email=COLUMN (or mobile=COLUMN, name=COLUMN)".into();
    }
    flags.join(" ")
}

/// The checks a list's columns look like (what `example_flags` shows, and `serve` starts a
/// job's mapping with): for each type, the column whose values look like it, else whose name
/// says so.
pub fn guess(header: &[String], rows: &[csv::StringRecord], rules: &Rules) -> Vec<CheckSpec> {
    let mut specs = Vec::new();
    let mut taken = Vec::new();
    for kind in [CheckType::Email, CheckType::Mobile, CheckType::Name] {
        let by_values = (0..header.len())
            .filter(|c| !taken.contains(c))
            .filter_map(|c| Some((c, score(kind, header, rows, c, rules)?)))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(c, _)| c);
        let by_name = || {
            (0..header.len()).find(|&c| {
                !taken.contains(&c) && kind != CheckType::Name && hinted(kind, &header[c])
            })
        };
        if let Some(c) = by_values.or_else(by_name) {
            taken.push(c);
            specs.push(CheckSpec {
                kind,
                column: header[c].clone(),
            });
        }
    }
    specs
}

/// The first rows of a list, to judge its columns by.
pub fn sample(reader: &mut RecordReader) -> Vec<csv::StringRecord> {
    let mut rows = Vec::new();
    while rows.len() < SAMPLE_ROWS {
        match reader.next_record() {
            Ok(Some(record)) => rows.push(record.fields),
            _ => break,
        }
    }
    rows
}

/// How much column `c` looks like `kind`: `None` unless most of its non-empty cells do; more
/// for cells the rules accept outright, and for a header that names the type.
fn score(
    kind: CheckType,
    header: &[String],
    rows: &[csv::StringRecord],
    c: usize,
    rules: &Rules,
) -> Option<(usize, bool)> {
    let cells: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.get(c))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    let valid = |v: &str| matches!(crate::normalize::check(kind, v, rules), Local::Ready(_));
    let looks = |v: &str| match kind {
        CheckType::Email => v.contains('@') || v.contains('＠'),
        CheckType::Mobile => valid(v) || phone_shaped(v),
        // Account names are words like any other: only a column named so counts.
        CheckType::Name => hinted(kind, &header[c]) && valid(v),
    };
    let alike = cells.iter().filter(|v| looks(v)).count();
    if cells.is_empty() || alike * 2 <= cells.len() {
        return None;
    }
    let sure = cells.iter().filter(|v| valid(v)).count();
    Some((sure + alike, hinted(kind, &header[c])))
}

/// Digits written the way phone numbers are (spaces, dashes, dots, brackets, a leading `+`),
/// as many as a phone number has: not a short ID, not a date or an amount.
fn phone_shaped(v: &str) -> bool {
    let digits = v.chars().filter(char::is_ascii_digit).count();
    let shape = v
        .chars()
        .all(|ch| ch.is_ascii_digit() || " -.()+\u{3000}".contains(ch));
    let date = |sep: u8| {
        let b = v.as_bytes();
        b.len() == 10 && b[4] == sep && b[7] == sep
    };
    shape
        && (8..=15).contains(&digits)
        && !v.chars().skip(1).any(|ch| ch == '+')
        && !date(b'-')
        && !date(b'.')
}

fn hinted(kind: CheckType, name: &str) -> bool {
    let name = name.to_lowercase();
    HINTS
        .iter()
        .filter(|(k, _)| *k == kind)
        .flat_map(|(_, words)| words.iter())
        .any(|w| name.contains(w))
}

/// A header as a shell word: bare when it is plain ASCII, else in single quotes.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(header: &[&str], rows: &[&[&str]]) -> String {
        let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
        let rows: Vec<csv::StringRecord> = rows
            .iter()
            .map(|r| csv::StringRecord::from(r.to_vec()))
            .collect();
        example_flags(&header, &rows, &Rules::default())
    }

    #[test]
    fn values_beat_names_and_ids_are_not_phones() {
        assert_eq!(
            flags(
                &["ID", "Info", "Contact", "Amount", "Date"],
                &[
                    &[
                        "10001",
                        "a@example.com",
                        "+86 138 0013 8000",
                        "1200.50",
                        "2026-01-02"
                    ],
                    &[
                        "10002",
                        "b@example.com",
                        "139 0013 9000",
                        "80",
                        "2026-01-03"
                    ],
                ],
            ),
            "--check email=Info --check mobile=Contact"
        );
        assert_eq!(
            flags(&["Id", "Mail", "Phone"], &[&["1", "x", ""]]),
            "--check email=Mail --check mobile=Phone",
            "names when the values say nothing"
        );
        assert_eq!(
            flags(&["a", "b"], &[&["1", "2"]]),
            "--check email=COLUMN (or mobile=COLUMN, name=COLUMN)"
        );
        assert_eq!(
            flags(&["Account", "x"], &[&["alice_01", "1"], &["bob-2000", "2"]]),
            "--check name=Account"
        );
        assert_eq!(flags(&["it's"], &[&["a@b.cd"]]), "--check email='it'\\''s'");
    }
}
