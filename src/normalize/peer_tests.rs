//! The conformance corpora as table tests: the peers' own test suites (every string of python
//! `phonenumbers`' `phonenumberutiltest.py` and every address of `email-validator`'s
//! `test_syntax.py`, `scripts/conformance/peer_*.tsv`, generated from the PyPI sdists) and the
//! generated corpora (`phones.tsv`, `emails.tsv`), with the contract's verdicts. The README
//! there names the sources, licences and documented mappings. Nothing is downloaded here.

use super::*;

const PEER_PHONES: &str = include_str!("../../scripts/conformance/peer_phones.tsv");
const PEER_EMAILS: &str = include_str!("../../scripts/conformance/peer_emails.tsv");

/// The rows of a TSV as maps from column name to cell (header comment and header skipped).
fn rows(tsv: &str) -> Vec<std::collections::HashMap<&str, &str>> {
    let mut lines = tsv
        .lines()
        .filter(|l| !l.starts_with("# ") && !l.is_empty());
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    lines
        .map(|l| header.iter().copied().zip(l.split('\t')).collect())
        .collect()
}

/// The escapes of peer_emails.tsv's input column: `\\` `\t` `\n` `\r`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[test]
fn phonenumbers_own_test_strings() {
    let rows = rows(PEER_PHONES);
    assert!(rows.len() > 2000, "{}", rows.len());
    check_phones(&rows);
}

#[test]
fn email_validators_own_test_addresses() {
    let rows = rows(PEER_EMAILS);
    assert!(rows.len() > 300, "{}", rows.len());
    check_emails(&rows, unescape);
}

/// The generated corpus (`emails.tsv`) with email-validator's verdicts under the contract.
#[test]
fn the_generated_email_corpus() {
    let rows = rows(include_str!("../../scripts/conformance/emails.tsv"));
    assert!(rows.len() > 6_000, "{}", rows.len());
    check_emails(&rows, str::to_string);
}

fn check_emails(rows: &[std::collections::HashMap<&str, &str>], input: fn(&str) -> String) {
    let mut wrong = Vec::new();
    for row in rows {
        let input = input(row["input"]);
        let got = match check(CheckType::Email, &input, &Rules::default()) {
            Local::Ready(key) => Some(key),
            _ => None,
        };
        let ok = match (&got, row["valid"]) {
            (Some(key), "1") => key == row["key_unicode"] || key == row["key_ascii"],
            (None, "0") => true,
            _ => false,
        };
        if !ok {
            wrong.push(format!(
                "{input:?}: {got:?}, want {} {} ({})",
                row["valid"], row["key_unicode"], row["case"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}

/// The generated corpus (`phones.tsv`: every region's examples in every form, their mutations,
/// and the typed forms of issue 20) with phonenumbers' verdicts under the contract.
#[test]
fn the_generated_phone_corpus() {
    let rows = rows(include_str!("../../scripts/conformance/phones.tsv"));
    assert!(rows.len() > 50_000, "{}", rows.len());
    check_phones(&rows);
}

/// Every phone row's verdict and key against the table's, all differences listed at once.
fn check_phones(rows: &[std::collections::HashMap<&str, &str>]) {
    let mut wrong = Vec::new();
    for row in rows {
        let rules = Rules {
            default_country: match row["default_country"] {
                "" => None,
                d => Some(d.parse::<DefaultCountry>().unwrap()),
            },
            mobile_types: MobileTypes::Mobile,
        };
        let got = match check(CheckType::Mobile, row["input"], &rules) {
            Local::Ready(key) => Some(key),
            _ => None,
        };
        let want = (row["valid"] == "1").then(|| row["key"].to_string());
        if got != want {
            wrong.push(format!(
                "{:?} [{}]: {got:?}, want {want:?} ({})",
                row["input"], row["default_country"], row["case"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {}:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}
