//! Email addresses: an unquoted dot-atom local part (RFC 5321) and a domain that passes
//! IDNA/UTS-46 (the `idna` crate), has a real-looking top-level domain, and is not a
//! special-use name that can never be registered.

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use super::{check_len, is_invisible};

/// Top-level names reserved for special use (RFC 6761, 6762, 7686, 3172): no address under
/// them can be a real customer's.
const SPECIAL_USE: [&str; 6] = ["test", "invalid", "localhost", "local", "onion", "arpa"];

/// Characters allowed in a dot-atom besides letters and digits (RFC 5322 `atext`).
const ATEXT: &str = "!#$%&'*+-/=?^_`{|}~";

/// `mailto:` and `<>` stripped, the domain in its UTS-46 form (lower case, full-width dots
/// mapped), `local@domain.tld`, at most 64 characters.
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
    let domain = check_domain(domain)?;
    let mut key = String::with_capacity(local.len() + 1 + domain.len());
    key.push_str(local);
    key.push('@');
    key.push_str(&domain);
    check_len(&key)?;
    Ok(key)
}

/// Strips a `mailto:` prefix and one pair of surrounding `<>` (in either order); anything
/// more is not an address.
fn unwrap(s: &str) -> &str {
    fn mailto(s: &str) -> Option<&str> {
        (s.len() >= 7 && s.is_char_boundary(7) && s[..7].eq_ignore_ascii_case("mailto:"))
            .then(|| s[7..].trim())
    }
    let s = mailto(s).unwrap_or(s);
    let s = s
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .map(str::trim)
        .unwrap_or(s);
    mailto(s).unwrap_or(s)
}

/// A dot-atom: atoms of `atext` (or non-ASCII characters, for internationalized addresses;
/// spaces, controls and invisible ones were refused before) joined by single dots.
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
        !(c.is_ascii_alphanumeric()
            || *c == '.'
            || (c.is_ascii() && ATEXT.as_bytes().contains(&(*c as u8)))
            || !c.is_ascii())
    });
    match bad {
        Some(c) => Err(format!(
            "email's local part contains '{c}', which an address cannot hold unquoted"
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
            Hyphens::CheckFirstLast,
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
    if domain.is_ascii() {
        return Ok(ascii.into_owned());
    }
    let (unicode, result) = uts46.to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow);
    result.map_err(|_| format!("email domain '{domain}' is not a valid domain name"))?;
    Ok(unicode.into_owned())
}
