//! A value a previous run found mangled by a spreadsheet (`1.35363E+10`: the digits were
//! lost before checkuser saw them) is still mangled after the output went through a
//! spreadsheet again, which may have turned it into `13536300000`, a stranger's number.
//! The old result columns say so; the value stays `invalid` with that reason unless the
//! cell now holds more than the spreadsheet could have made of it (a person typed it again).

use crate::model::{ResultKind, RESULT_COLUMNS};

/// The phrase the mobile rule's reason for a mangled value holds
/// (`crate::normalize::mobile`; a test keeps the two together).
pub const PHRASE: &str = "a spreadsheet turned";

/// What a re-check adds to the old reason.
const FOUND: &str = " (found by the run that wrote this file;";

/// The old result columns of one check, by index in the re-checked file's header.
#[derive(Debug, Clone)]
pub struct OldResult {
    key: usize,
    result: usize,
    code: usize,
    msg: usize,
}

impl OldResult {
    /// The columns of prefix `p` (`mobile_`, or empty), if the header has them all.
    pub fn find(header: &[String], p: &str) -> Option<OldResult> {
        let at = |c: &str| {
            debug_assert!(RESULT_COLUMNS.contains(&c));
            header.iter().position(|h| *h == format!("{p}{c}"))
        };
        Some(OldResult {
            key: at("checked_key")?,
            result: at("result")?,
            code: at("error_code")?,
            msg: at("error_msg")?,
        })
    }

    /// The reason the cell `now` stays invalid, if its old result says a spreadsheet
    /// mangled it and `now` is what a spreadsheet makes of that.
    pub fn still<'a>(&self, cell: &impl Fn(usize) -> &'a str, now: &str) -> Option<String> {
        let msg = cell(self.msg);
        if cell(self.result) != ResultKind::Invalid.as_str()
            || cell(self.code) != "LOCAL"
            || !msg.contains(PHRASE)
        {
            return None;
        }
        if now.trim().is_empty() || !made_of(cell(self.key), now) {
            return None;
        }
        let msg = msg.split(FOUND).next().unwrap_or(msg);
        Some(format!(
            "{msg}{FOUND} the cell now reads '{}', which is what a spreadsheet made of it,                  not the number)",
            now.trim()
        ))
    }
}

/// The significant digits of a number in scientific notation (`1.35363E+10` → `135363`).
fn scientific(s: &str) -> Option<String> {
    let (mantissa, exp) = s.split_once(['e', 'E'])?;
    let exp = exp.strip_prefix('+').unwrap_or(exp);
    if exp.is_empty() || !exp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (int, frac) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(significant(&format!("{int}{frac}")))
}

fn significant(digits: &str) -> String {
    digits
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_string()
}

/// Whether `now` is what a spreadsheet makes of the mangled value `old`: the same value
/// in scientific notation again, or a plain number whose significant digits are no more
/// than `old`'s (`13536300000`, `1.35E+10`, `13,536,300,000.0`).
fn made_of(old: &str, now: &str) -> bool {
    let bare = |s: &str| {
        let s = s.trim();
        let s = s.strip_prefix('\'').unwrap_or(s);
        s.strip_prefix("=\"")
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(s)
            .trim()
            .to_string()
    };
    let Some(was) = scientific(&bare(old)) else {
        return true; // nothing to compare with: the old verdict stands
    };
    let now = bare(now);
    if let Some(is) = scientific(&now) {
        return was.starts_with(&is);
    }
    if !now
        .chars()
        .all(|c| c.is_ascii_digit() || " .,\u{a0}".contains(c))
    {
        return false;
    }
    let digits: String = now.chars().filter(char::is_ascii_digit).collect();
    let is = significant(&digits);
    !is.is_empty() && was.starts_with(&is)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_spreadsheet_makes_of_a_mangled_number() {
        for now in [
            "13536300000",
            "1.35363E+10",
            "1.35E+10",
            "13,536,300,000",
            "13536300000.0",
            "'13536300000",
        ] {
            assert!(made_of("1.35363E+10", now), "{now}");
        }
        for now in ["13536312345", "+86 139 0013 9000", "1.35364E+10", "abc"] {
            assert!(!made_of("1.35363E+10", now), "{now}");
        }
        assert!(made_of("not scientific", "anything"));
    }

    #[test]
    fn the_mobile_rule_names_a_mangled_value_with_the_phrase() {
        let reason =
            crate::normalize::mobile::mobile("8.6138E+12", None, Default::default()).unwrap_err();
        assert!(reason.contains(PHRASE), "{reason}");
    }
}
