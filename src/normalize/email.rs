//! Email addresses: an unquoted dot-atom local part (RFC 5321; beyond ASCII, letters, marks
//! and digits only, NFC-normalized for the key) and a domain that passes IDNA/UTS-46 (the
//! `idna` crate) and IDNA2008's code points, has a real-looking top-level domain, and is not a
//! special-use name that can never be registered.

use std::borrow::Cow;

use icu_normalizer::ComposingNormalizerBorrowed;
use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use super::chars::{is_letter_mark_or_digit, is_mark};
use super::{check_len, idna2008, is_invisible};

/// Top-level names reserved for special use (RFC 6761, 6762, 7686, 3172): no address under
/// them can be a real customer's.
const SPECIAL_USE: [&str; 6] = ["test", "invalid", "localhost", "local", "onion", "arpa"];

/// Characters allowed in a dot-atom besides letters and digits (RFC 5322 `atext`).
const ATEXT: &str = "!#$%&'*+-/=?^_`{|}~";

/// `mailto:` and `<>` stripped, the local part NFC-normalized, the domain in its UTS-46 form
/// (lower case, full-width dots mapped), `local@domain.tld`, at most 64 characters.
pub fn email(raw: &str) -> Result<String, String> {
    let s = unwrap(raw.trim());
    if let Some(c) = s
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || is_invisible(*c))
    {
        return Err(format!(
            "email contains a space, control or invisible character ({c:?})"
        ));
    }
    // What a Chinese or Japanese input method types for '@'.
    let s = match s.contains('\u{FF20}') {
        true => Cow::Owned(s.replace('\u{FF20}', "@")),
        false => Cow::Borrowed(s),
    };
    let (local, domain) = s
        .rsplit_once('@')
        .ok_or_else(|| "email has no '@'".to_string())?;
    if local.is_empty() {
        return Err("email has nothing before the '@'".into());
    }
    if local.contains('@') {
        return Err("email has more than one '@'".into());
    }
    check_local(local)?;
    let local = nfc(local);
    if let Cow::Owned(normalized) = &local {
        check_local(normalized).map_err(|e| format!("after Unicode normalization (NFC), {e}"))?;
    }
    let domain = check_domain(domain)?;
    let mut key = String::with_capacity(local.len() + 1 + domain.len());
    key.push_str(&local);
    key.push('@');
    key.push_str(&domain);
    check_len(&key)?;
    Ok(key)
}

/// Strips `mailto:` prefixes and pairs of surrounding `<>`, in any order and as often as
/// they were put around the address (`<<a@b.com>>`, `mailto:mailto:a@b.com`); an unbalanced
/// bracket stays and makes the address invalid.
fn unwrap(mut s: &str) -> &str {
    fn mailto(s: &str) -> Option<&str> {
        (s.len() >= 7 && s.is_char_boundary(7) && s[..7].eq_ignore_ascii_case("mailto:"))
            .then(|| s[7..].trim())
    }
    loop {
        let t = mailto(s).unwrap_or(s);
        let t = t
            .strip_prefix('<')
            .and_then(|x| x.strip_suffix('>'))
            .map(str::trim)
            .unwrap_or(t);
        if t.len() == s.len() {
            return s;
        }
        s = t;
    }
}

/// The local part in Unicode normalization form C (RFC 6532 3.1): `é` typed as `e` + U+0301
/// and as U+00E9 is one key. ASCII is its own NFC form.
fn nfc(local: &str) -> Cow<'_, str> {
    if local.is_ascii() {
        return Cow::Borrowed(local);
    }
    ComposingNormalizerBorrowed::new_nfc().normalize(local)
}

/// A dot-atom: atoms of `atext` (or non-ASCII letters, marks and digits, for internationalized
/// addresses; spaces, controls and invisible characters were refused before) joined by single
/// dots.
fn check_local(local: &str) -> Result<(), String> {
    if local.starts_with('"') {
        return Err("email's local part is quoted; quoted addresses cannot be checked".into());
    }
    if local.starts_with('.')
        || local.ends_with('.')
        || local.as_bytes().windows(2).any(|w| w == b"..")
    {
        return Err("email's local part has a misplaced dot".into());
    }
    let bad = local.chars().find(|c| {
        c.is_ascii()
            && !(c.is_ascii_alphanumeric() || *c == '.' || ATEXT.as_bytes().contains(&(*c as u8)))
    });
    match bad {
        Some(c) => Err(format!(
            "email's local part contains '{c}', which an address cannot hold unquoted"
        )),
        None if local.is_ascii() => Ok(()),
        None => check_local_unicode(local),
    }
}

/// Beyond ASCII, letters, marks and digits (general categories L, M, Nd), and no combining mark
/// first (it would combine with whatever precedes the address).
fn check_local_unicode(local: &str) -> Result<(), String> {
    if local.chars().next().is_some_and(is_mark) {
        return Err("email's local part starts with a combining mark".into());
    }
    match local
        .chars()
        .find(|&c| !c.is_ascii() && !is_letter_mark_or_digit(c))
    {
        Some(c) => Err(format!(
            "email's local part contains '{c}' (U+{:04X}); beyond ASCII an address may hold only \
             letters, marks and digits",
            c as u32
        )),
        None => Ok(()),
    }
}

/// The domain as it will be sent: UTS-46 processed (the Unicode form when it was written in
/// Unicode, the ASCII form when it was written in ASCII).
fn check_domain(domain: &str) -> Result<String, String> {
    let uts46 = Uts46::new();
    // UTS-46 maps ASCII capitals to lower case; doing it first lets `idna` take its fast path.
    let lowered = match domain.bytes().any(|b| b.is_ascii_uppercase()) {
        true => std::borrow::Cow::Owned(domain.to_ascii_lowercase()),
        false => std::borrow::Cow::Borrowed(domain),
    };
    let ascii = uts46
        .to_ascii(
            lowered.as_bytes(),
            AsciiDenyList::STD3,
            // IDNA2008: no hyphen first or last, and no `--` in positions 3-4 but in `xn--`
            Hyphens::Check,
            DnsLength::Verify,
        )
        .map_err(|_| format!("email domain '{domain}' is not a valid domain name"))?;
    let Some((_, tld)) = ascii.rsplit_once('.') else {
        return Err(format!(
            "email domain '{domain}' has no top-level domain (expected like example.com)"
        ));
    };
    let real_tld = (tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()))
        || (tld.starts_with("xn--") && tld.len() > 4);
    if !real_tld {
        return Err(format!(
            "email domain '{domain}' has no valid top-level domain ('{tld}')"
        ));
    }
    if SPECIAL_USE.contains(&tld) {
        return Err(format!(
            "email domain '{domain}' is under .{tld}, a special-use name no address can be \
             registered under"
        ));
    }
    if !ascii.split('.').any(|label| label.starts_with("xn--")) {
        return Ok(ascii.into_owned()); // letters, digits and hyphens only
    }
    let (unicode, result) = uts46.to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Check);
    result.map_err(|_| format!("email domain '{domain}' is not a valid domain name"))?;
    if let Some(c) = unicode.split('.').find_map(idna2008::forbidden_char) {
        return Err(format!(
            "email domain '{domain}' holds '{c}' (U+{:04X}), which IDNA2008 does not permit in a \
             domain name (no symbols or emoji)",
            c as u32
        ));
    }
    match domain.is_ascii() {
        true => Ok(ascii.into_owned()),
        false => Ok(unicode.into_owned()),
    }
}
