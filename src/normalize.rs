//! Local rules for emails, mobiles and account names: pure functions that turn a raw cell into
//! the key the API expects, or say why it can never be sent. Bad rows must not spend quota, so
//! these rules mirror the API's own (`API.md` §1.2) and are stricter where the API would only
//! waste a request.

use std::str::FromStr;

use phonenumber::country;

use crate::check::{CheckType, Local};

/// The API's limit on `searchKey` / `search_value`.
pub const MAX_KEY_LEN: usize = 64;

/// How a number without a country code is completed (`--default-country`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultCountry {
    /// A calling code such as `86`.
    Code(u16),
    /// A region such as `CN`, which also lets national trunk prefixes (`0…`) be understood.
    Region(country::Id),
}

impl FromStr for DefaultCountry {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('+');
        if let Ok(code) = t.parse::<u16>() {
            if (1..=999).contains(&code) {
                return Ok(DefaultCountry::Code(code));
            }
        } else if let Ok(id) = country::Id::from_str(&t.to_ascii_uppercase()) {
            return Ok(DefaultCountry::Region(id));
        }
        Err(format!(
            "'{s}' is neither a calling code (like 86 or +86) nor a two-letter region (like CN)"
        ))
    }
}

/// Applies the rule for `kind` to a raw cell. An empty (or blank) cell is `Skipped`.
pub fn check(kind: CheckType, raw: &str, default_country: Option<DefaultCountry>) -> Local {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Local::Skipped;
    }
    let verdict = match kind {
        CheckType::Email => email(trimmed),
        CheckType::Mobile => mobile(trimmed, default_country),
        CheckType::Name => name(trimmed),
    };
    match verdict {
        Ok(key) => Local::Ready(key),
        Err(reason) => Local::Invalid {
            key: trimmed.to_string(),
            reason,
        },
    }
}

/// `mailto:` and `<>` stripped, domain lower-cased, `local@domain.tld`, at most 64 characters.
pub fn email(raw: &str) -> Result<String, String> {
    let mut s = raw.trim();
    loop {
        if s.len() >= 7 && s.is_char_boundary(7) && s[..7].eq_ignore_ascii_case("mailto:") {
            s = s[7..].trim();
        } else if let Some(inner) = s.strip_prefix('<').and_then(|x| x.strip_suffix('>')) {
            s = inner.trim();
        } else {
            break;
        }
    }
    let (local, domain) = s
        .rsplit_once('@')
        .ok_or_else(|| "email has no '@'".to_string())?;
    if local.is_empty() {
        return Err("email has nothing before the '@'".into());
    }
    if local.contains('@') {
        return Err("email has more than one '@'".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "email contains a space or control character ({c:?})"
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("email's local part has a misplaced dot".into());
    }
    let domain = domain.to_lowercase();
    check_domain(&domain)?;
    let key = format!("{local}@{domain}");
    check_len(&key)?;
    Ok(key)
}

fn check_domain(domain: &str) -> Result<(), String> {
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(format!(
            "email domain '{domain}' has no top-level domain (expected like example.com)"
        ));
    }
    for label in &labels {
        if label.is_empty() {
            return Err(format!("email domain '{domain}' has an empty label"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "email domain '{domain}' has a label starting or ending with '-'"
            ));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_alphanumeric() || *c == '-')) {
            return Err(format!("email domain '{domain}' contains '{c}'"));
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.chars().count() < 2 || tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "email domain '{domain}' has no valid top-level domain"
        ));
    }
    Ok(())
}

fn check_len(key: &str) -> Result<(), String> {
    let n = key.chars().count();
    if n > MAX_KEY_LEN {
        return Err(format!(
            "{n} characters; the API accepts at most {MAX_KEY_LEN}"
        ));
    }
    Ok(())
}

/// True for what a spreadsheet makes of a long number it took for a float: `8.6138E+12`.
fn looks_like_scientific(s: &str) -> bool {
    let Some((mantissa, exp)) = s.split_once(['e', 'E']) else {
        return false;
    };
    let exp = exp.strip_prefix('+').unwrap_or(exp);
    let (int, frac) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, "0"));
    [int, frac, exp]
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// To `CCCC-NATIONAL`: the calling code zero-padded to 4 digits, `-`, the national digits.
pub fn mobile(raw: &str, default_country: Option<DefaultCountry>) -> Result<String, String> {
    let s = raw.trim();
    if looks_like_scientific(s) {
        return Err(format!(
            "'{s}' is a number a spreadsheet turned into scientific notation; the digits are lost: \
             re-export the column formatted as text"
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_digit() || " -.()+/\u{a0}".contains(*c)))
    {
        return Err(format!(
            "mobile contains '{c}', which is not part of a phone number"
        ));
    }
    let compact: String = s
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    if compact.matches('+').count() > 1 || compact[1.min(compact.len())..].contains('+') {
        return Err("mobile has a '+' that is not at the start".into());
    }
    let parsed = if let Some(rest) = compact
        .strip_prefix('+')
        .or_else(|| compact.strip_prefix("00"))
    {
        // International form: `+CC…`, `00CC…`, or our own output `00CC-…` (extra zero padding).
        let digits = rest.trim_start_matches('0');
        if let Some(key) = international_fast(digits) {
            return Ok(key);
        }
        phonenumber::parse(None, format!("+{digits}"))
    } else {
        match default_country {
            Some(DefaultCountry::Region(id)) => phonenumber::parse(Some(id), &compact),
            Some(DefaultCountry::Code(cc)) => {
                phonenumber::parse(None, format!("+{cc}{}", compact.trim_start_matches('0')))
            }
            None => return Err(
                "mobile has no country code: write it as +CC… or 00CC…, or pass --default-country"
                    .into(),
            ),
        }
    };
    let number = parsed.map_err(|e| format!("not a phone number: {e}"))?;
    let code = number.code().value();
    if code > 99 {
        return Err(format!(
            "country code +{code} has 3 digits; the API's form CCCC-NATIONAL must start with 00, \
             so it cannot be checked"
        ));
    }
    // The country's general number pattern (ranges and lengths) from libphonenumber's
    // metadata; `is_valid` would also classify the number type, at ten times the cost.
    let national = number.national().to_string();
    let plausible = number
        .metadata(&phonenumber::metadata::DATABASE)
        .is_some_and(|m| m.descriptors().general().is_match(&national));
    if !plausible {
        return Err(format!(
            "+{code} {national} is not a valid number for that country (wrong length or range)"
        ));
    }
    let key = format!("{code:04}-{national}");
    check_len(&key)?;
    Ok(key)
}

/// The common case without the full parser: country codes are prefix-free, so the first of
/// 1 or 2 leading digits that libphonenumber's metadata knows is the code, and the rest must
/// match that country's general number pattern. Anything this cannot accept (3-digit codes,
/// trunk prefixes, odd layouts) goes through `phonenumber::parse`.
fn international_fast(digits: &str) -> Option<String> {
    let db = &*phonenumber::metadata::DATABASE;
    for len in 1..=2 {
        let (code, national) = (digits.get(..len)?, digits.get(len..)?);
        let Some(metas) = code.parse::<u16>().ok().and_then(|c| db.by_code(&c)) else {
            continue;
        };
        let ok = metas
            .iter()
            .any(|m| m.descriptors().general().is_match(national));
        let key = format!("{code:0>4}-{national}");
        return (ok && key.len() <= MAX_KEY_LEN).then_some(key);
    }
    None
}

/// Account names: `^[a-zA-Z-][a-zA-Z0-9_-]{4,31}$`, not `op_…`/`shadow_…`, not all digits.
pub fn name(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let n = s.chars().count();
    if !(5..=32).contains(&n) {
        return Err(format!(
            "account name has {n} characters; it must have 5 to 32"
        ));
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_alphabetic() || first == '-') {
        return Err(format!(
            "account name must start with a letter or '-', not '{first}'"
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "account name contains '{c}'; only letters, digits, '_' and '-' are allowed"
        ));
    }
    let lower = s.to_ascii_lowercase();
    if let Some(p) = ["op_", "shadow_"].iter().find(|p| lower.starts_with(**p)) {
        return Err(format!("account names starting with '{p}' are reserved"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("account name must not be all digits".into());
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cn() -> Option<DefaultCountry> {
        Some(DefaultCountry::Code(86))
    }

    #[test]
    fn email_table() {
        let ok = [
            ("alice@example.com", "alice@example.com"),
            ("  Alice@Example.COM ", "Alice@example.com"),
            ("mailto:bob@example.org", "bob@example.org"),
            ("MAILTO:<bob@Example.org>", "bob@example.org"),
            ("<carol@mail.example.co.uk>", "carol@mail.example.co.uk"),
            ("d.e+tag@xn--bcher-kva.de", "d.e+tag@xn--bcher-kva.de"),
        ];
        for (raw, want) in ok {
            assert_eq!(email(raw).as_deref(), Ok(want), "{raw}");
        }
        let bad = [
            ("alice.example.com", "no '@'"),
            ("@example.com", "nothing before"),
            ("a@b@example.com", "more than one"),
            ("alice@localhost", "no top-level"),
            ("alice@example.", "empty label"),
            ("alice@exa mple.com", "space"),
            ("alice@example.c", "no valid top-level"),
            ("alice@-example.com", "starting or ending"),
            ("alice@example.123", "no valid top-level"),
            (".alice@example.com", "misplaced dot"),
        ];
        for (raw, why) in bad {
            let err = email(raw).unwrap_err();
            assert!(err.contains(why), "{raw}: {err}");
        }
        let long = format!("{}@example.com", "a".repeat(53));
        assert_eq!(long.len(), 65);
        assert!(email(&long).unwrap_err().contains("at most 64"));
        assert!(email(&long[1..]).is_ok());
    }

    #[test]
    fn mobile_contract_examples() {
        assert_eq!(
            mobile("+86 138-0013-8000", None).unwrap(),
            "0086-13800138000"
        );
        assert_eq!(mobile("+1 415 555 0100", None).unwrap(), "0001-4155550100");
    }

    #[test]
    fn mobile_table() {
        let ok = [
            ("0086 138 0013 8000", None, "0086-13800138000"),
            ("(+86) 138.0013.8000", None, "0086-13800138000"),
            ("+86-13800138000", None, "0086-13800138000"),
            ("0086-13800138000", None, "0086-13800138000"),
            ("13800138000", cn(), "0086-13800138000"),
            (
                "138 0013 8000",
                Some(DefaultCountry::Region(country::Id::CN)),
                "0086-13800138000",
            ),
            ("+44 7911 123456", None, "0044-7911123456"),
            ("0001-4155550100", None, "0001-4155550100"),
            ("+49 1512 3456789", None, "0049-15123456789"),
        ];
        for (raw, dc, want) in ok {
            assert_eq!(mobile(raw, dc).as_deref(), Ok(want), "{raw}");
        }
        let bad = [
            ("13800138000", None, "no country code"),
            ("8.6138E+12", None, "scientific notation"),
            ("8,6138E+12", cn(), "scientific notation"),
            ("+86 138 0013 800x", None, "'x'"),
            ("+353 85 123 4567", None, "3 digits"),
            ("+86 12", None, "not"),
            ("+86 138+0013", None, "not at the start"),
        ];
        for (raw, dc, why) in bad {
            let err = mobile(raw, dc).unwrap_err();
            assert!(err.contains(why), "{raw}: {err}");
        }
    }

    #[test]
    fn default_country_parses_codes_and_regions() {
        assert_eq!("86".parse(), Ok(DefaultCountry::Code(86)));
        assert_eq!("+1".parse(), Ok(DefaultCountry::Code(1)));
        assert_eq!("cn".parse(), Ok(DefaultCountry::Region(country::Id::CN)));
        assert!("0".parse::<DefaultCountry>().is_err());
        assert!("ZZZ".parse::<DefaultCountry>().is_err());
    }

    #[test]
    fn name_table() {
        for ok in ["alice", "-dash-", "Bob_the-builder9", &"a".repeat(32)] {
            assert_eq!(name(ok).as_deref(), Ok(ok), "{ok}");
        }
        assert_eq!(name("  alice01 ").as_deref(), Ok("alice01"));
        let bad = [
            ("abcd", "4 characters"),
            (&*"a".repeat(33), "33 characters"),
            ("1alice", "start with a letter"),
            ("_alice", "start with a letter"),
            ("ali ce", "contains ' '"),
            ("alicé", "contains 'é'"),
            ("op_alice", "reserved"),
            ("SHADOW_bob", "reserved"),
        ];
        for (raw, why) in bad {
            let err = name(raw).unwrap_err();
            assert!(err.contains(why), "{raw}: {err}");
        }
    }

    #[test]
    fn empty_cells_are_skipped() {
        for kind in CheckType::ALL {
            assert_eq!(check(kind, "  ", None), Local::Skipped);
        }
    }

    proptest! {
        #[test]
        fn email_normalization_is_idempotent(s in "[ <]{0,2}(mailto:)?[a-zA-Z0-9._+-]{1,20}@[a-zA-Z0-9.-]{1,20}[>]? {0,2}") {
            if let Ok(once) = email(&s) {
                prop_assert_eq!(email(&once), Ok(once.clone()));
            }
        }

        #[test]
        fn mobile_normalization_is_idempotent(s in "(\\+|00|\\(\\+)?[0-9]{1,3}\\)?[ .-]?[0-9 .-]{6,16}") {
            if let Ok(once) = mobile(&s, Some(DefaultCountry::Code(86))) {
                prop_assert_eq!(mobile(&once, None), Ok(once.clone()));
                prop_assert!(once.starts_with("00") && once.len() <= MAX_KEY_LEN);
                prop_assert!(once[..4].bytes().all(|b| b.is_ascii_digit()) && &once[4..5] == "-");
            }
        }

        #[test]
        fn the_fast_path_agrees_with_the_full_parser(cc in prop::sample::select(vec![1u16, 7, 33, 44, 49, 55, 61, 81, 86, 91]), national in "[1-9][0-9]{5,12}") {
            let digits = format!("{cc}{national}");
            // The full parser also strips national and carrier prefixes (Russia's 8, China's
            // 17900, Brazil's 90…) from international numbers, even where libphonenumber would
            // keep them because the rest is too short; where it kept every digit, both agree.
            let full = phonenumber::parse(None, format!("+{digits}"));
            if let (Some(fast), Ok(full)) = (international_fast(&digits), full) {
                let full = format!("{:04}-{}", full.code().value(), full.national());
                if full.len() == fast.len() {
                    prop_assert_eq!(fast, full);
                }
            }
        }

        #[test]
        fn name_normalization_is_idempotent(s in " {0,2}[a-zA-Z0-9_-]{0,40} {0,2}") {
            if let Ok(once) = name(&s) {
                prop_assert_eq!(name(&once), Ok(once.clone()));
            }
        }
    }
}
