//! Mobile numbers, as libphonenumber sees them (the `rlibphonenumber` port, metadata
//! [`METADATA_VERSION`]): read as its parser reads them (any digits, `tel:` URIs, labels,
//! extensions), parsed with the default region, fully validated (the whole number, its length
//! and its assigned ranges), and of a type that can receive an SMS.

use std::str::FromStr;

use rlibphonenumber::enums::Region;
use rlibphonenumber::{
    CountryCodeSource, ParseError, PhoneNumber, PhoneNumberType, PHONE_NUMBER_UTIL,
};

use super::chars::decimal_value;
use super::check_len;
use super::phone_text::{is_plus, leading_zeros, looks_like_two_numbers};

/// The libphonenumber metadata compiled into this build (rlibphonenumber is pinned to 2.2.15
/// in Cargo.toml, so this text stays true); a macro so that `--version` can include it.
#[macro_export]
macro_rules! phone_metadata {
    () => {
        "libphonenumber metadata 9.0.42 (rlibphonenumber 2.2.15)"
    };
}

/// The same, as a constant.
pub const METADATA_VERSION: &str = phone_metadata!();

/// How a number without a country code is completed (`--default-country`): a region, given
/// as such (`CN`) or as a calling code (`86` means that code's main region).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultCountry(pub Region);

impl FromStr for DefaultCountry {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('+');
        if let Ok(code) = t.parse::<i32>() {
            return PHONE_NUMBER_UTIL
                .get_region_for_country_code(code)
                .filter(|r| r.as_region_str().as_str() != "001")
                .map(DefaultCountry)
                .ok_or_else(|| format!("'{s}' is not a country calling code"));
        }
        let upper = t.to_ascii_uppercase();
        match Region::from_str(&upper) {
            Ok(r) if PHONE_NUMBER_UTIL.get_country_code_for_region(r).is_some() => {
                Ok(DefaultCountry(r))
            }
            _ => Err(format!(
                "'{s}' is neither a calling code (like 86 or +86) nor a two-letter region (like CN)"
            )),
        }
    }
}

/// Which number types count as a mobile (`--mobile-types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MobileTypes {
    /// MOBILE and FIXED_LINE_OR_MOBILE only: the number must be able to receive an SMS.
    #[default]
    Mobile,
    /// Every valid number (an escape hatch when the metadata lags behind a new range).
    Any,
}

/// To `CCCC-NATIONAL`: the calling code zero-padded to 4 digits, `-`, the national
/// significant number (an extension is not part of it).
pub fn mobile(
    raw: &str,
    default_country: Option<DefaultCountry>,
    types: MobileTypes,
) -> Result<String, String> {
    let s = strip_artefacts(raw.trim());
    if looks_like_scientific(s) {
        return Err(format!(
            "'{s}' is a number a spreadsheet turned into scientific notation; the digits are lost: \
             re-export the column formatted as text"
        ));
    }
    let region = default_country.map(|DefaultCountry(r)| r);
    let number = read_plain(s, region)
        .unwrap_or_else(|| read_text(s, region))
        .map_err(|e| parse_failure(&e, s, region))?;
    judge(&number, s, types)
}

/// The fast path, for a cell of ASCII digits, spaces, `- . ( ) /`, NBSP and a leading `+`:
/// the digits behind a `+` in one buffer are all libphonenumber needs, and read the same.
/// `None` for any other cell (libphonenumber then reads the text itself).
fn read_plain(s: &str, region: Option<Region>) -> Option<Result<PhoneNumber, ParseError>> {
    let mut plus = String::with_capacity(s.len() + 1);
    plus.push('+');
    let mut leading_plus = false;
    for c in s.chars() {
        match c {
            '0'..='9' => plus.push(c),
            // libphonenumber takes `++86…` as `+86…`.
            '+' if plus.len() == 1 => leading_plus = true,
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return None,
        }
    }
    let digits = &plus[1..];
    // `+0…` (libphonenumber retries it with the default region's prefix) and a cell with no
    // digits take the general path.
    if digits.is_empty() || (leading_plus && digits.starts_with('0')) {
        return None;
    }
    Some(match region {
        _ if leading_plus => PhoneNumber::parse(&plus, None),
        _ if digits.starts_with("00") => {
            if let Some(n) = region.and_then(|r| own_international_prefix(digits, r)) {
                return Some(Ok(n));
            }
            // `00CC…`, or our own key `00CC-…` (whose padding adds zeros).
            let zeros = digits.bytes().take_while(|&b| b == b'0').count();
            plus.replace_range(1..1 + zeros, "");
            PhoneNumber::parse(&plus, None)
        }
        Some(r) => PhoneNumber::parse(digits, Some(r)),
        None => Err(ParseError::InvalidCountryCode),
    })
}

/// The general path: libphonenumber reads the text (digits of any script, `＋`, `tel:` URIs,
/// labels, invisible characters, vanity letters, extensions), with the contract's `00` rule.
fn read_text(s: &str, region: Option<Region>) -> Result<PhoneNumber, ParseError> {
    let Some((start, end)) = leading_zeros(s) else {
        return PhoneNumber::parse(s, region);
    };
    if let Some(n) = region.and_then(|r| own_international_prefix(s, r)) {
        return Ok(n);
    }
    PhoneNumber::parse(format!("{}+{}", &s[..start], &s[end..]), region)
}

/// The reading of a cell that starts with `00…` through the default region's own international
/// prefix (Australia's `0011`, Singapore's `001`), when that reading is a valid number: then it
/// wins over `00` = `+`.
fn own_international_prefix(s: &str, region: Region) -> Option<PhoneNumber> {
    PHONE_NUMBER_UTIL
        .parse_and_keep_raw_input(s, Some(region))
        .ok()
        .filter(|n| n.country_code_source() == CountryCodeSource::FromNumberWithIdd && n.is_valid())
}

/// Why libphonenumber read no number, in the words a user can act on.
fn parse_failure(e: &ParseError, s: &str, region: Option<Region>) -> String {
    // (in the number, not in a tel: URI's parameters such as `;phone-context=+86`)
    let plus_after_digit = s
        .split(';')
        .next()
        .unwrap_or_default()
        .chars()
        .skip_while(|&c| decimal_value(c).is_none())
        .any(is_plus);
    match e {
        ParseError::InvalidCountryCode if region.is_none() && !s.chars().any(is_plus) => {
            "mobile has no country code: write it as +CC… or 00CC…, or pass --default-country"
                .into()
        }
        ParseError::TooLongNsn | ParseError::NotANumber(_) if looks_like_two_numbers(s) => {
            two_numbers(e)
        }
        ParseError::NotANumber(_) if plus_after_digit => {
            "mobile has a '+' that is not at the start".into()
        }
        _ => format!("not a phone number: {e}"),
    }
}

fn two_numbers(why: impl std::fmt::Display) -> String {
    format!("two numbers in one cell? Give one number per cell (libphonenumber: {why})")
}

/// The verdict on a parsed number: fully valid, of a type that can receive an SMS (unless
/// `--mobile-types any`), with a calling code the key can hold.
fn judge(number: &PhoneNumber, s: &str, types: MobileTypes) -> Result<String, String> {
    let code = number.country_code;
    let national = number.get_national_significant_number();
    // libphonenumber's full validation is "its type is not UNKNOWN" (is_valid() computes the
    // same type again): one call gives both answers.
    let kind = number.get_type();
    if kind == PhoneNumberType::Unknown {
        if looks_like_two_numbers(s) {
            return Err(two_numbers(format!(
                "+{code} {national} is not a valid number"
            )));
        }
        return Err(format!(
            "+{code} {national} is not a valid number (wrong length, or a range not assigned)"
        ));
    }
    let sms = matches!(
        kind,
        PhoneNumberType::Mobile | PhoneNumberType::FixedLineOrMobile
    );
    if !sms && types == MobileTypes::Mobile {
        return Err(format!(
            "+{code} {national} is a {} number, not a mobile (--mobile-types any accepts it)",
            type_name(kind)
        ));
    }
    if code > 99 {
        return Err(format!(
            "country code +{code} has 3 digits; the API's form CCCC-NATIONAL must start with 00, \
             so it cannot be checked"
        ));
    }
    let key = format!("{code:04}-{national}");
    check_len(&key)?;
    Ok(key)
}

/// Removes what a spreadsheet puts around a number kept as text: a leading `'` and the
/// `="…"` formula form.
fn strip_artefacts(s: &str) -> &str {
    let s = s.strip_prefix('\'').unwrap_or(s);
    s.strip_prefix("=\"")
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(s)
        .trim()
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

/// libphonenumber's name of a number type, for messages.
pub fn type_name(t: PhoneNumberType) -> &'static str {
    match t {
        PhoneNumberType::FixedLine => "FIXED_LINE",
        PhoneNumberType::Mobile => "MOBILE",
        PhoneNumberType::FixedLineOrMobile => "FIXED_LINE_OR_MOBILE",
        PhoneNumberType::TollFree => "TOLL_FREE",
        PhoneNumberType::PremiumRate => "PREMIUM_RATE",
        PhoneNumberType::SharedCost => "SHARED_COST",
        PhoneNumberType::VoIP => "VOIP",
        PhoneNumberType::PersonalNumber => "PERSONAL_NUMBER",
        PhoneNumberType::Pager => "PAGER",
        PhoneNumberType::UAN => "UAN",
        PhoneNumberType::VoiceMail => "VOICEMAIL",
        _ => "UNKNOWN",
    }
}
