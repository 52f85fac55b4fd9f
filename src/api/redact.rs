//! Secrets out of server text. A server may echo what it was sent: the AK, the SK, a token, or
//! the request's `Authorization` header with its signature. The credentials are registered
//! here once; every text that comes from a server is passed through [`text`] (by
//! `api::sanitize`, before anything is cut to length) and every body through [`bytes`].
//! Secrets are looked for in any letter case and through percent-encoding (`%41`) and JSON
//! escapes (`\u0041`, `\/`); only the stretch that spells a secret is replaced by
//! `[redacted]`, so the rest of the text (a request id, a URL) reaches the user unchanged.

use std::sync::RwLock;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// The marker of a signature in an `Authorization` header: the value after it is a secret.
const SIGNATURE: &[u8] = b"signature=";

/// The registered secrets, lower-cased.
static SECRETS: RwLock<Vec<Vec<u8>>> = RwLock::new(Vec::new());

/// Adds secrets to look for from now on; shorter than 4 bytes they would match ordinary text
/// and are left out.
pub fn register<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) {
    if let Ok(mut all) = SECRETS.write() {
        for s in secrets.into_iter().filter(|s| s.len() >= 4) {
            let lower = s.to_ascii_lowercase();
            if !all.contains(&lower) {
                all.push(lower);
            }
        }
    }
}

/// The text as a reader of escapes sees it, each decoded byte with the raw range it came
/// from: `%XX` and `\uXXXX` (outside the surrogate range) and `\/` are decoded.
fn decoded(raw: &[u8]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let hex = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let (mut out, mut from) = (Vec::with_capacity(raw.len()), Vec::with_capacity(raw.len()));
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        let mut utf8 = [0u8; 4];
        let (bytes, used): (&[u8], usize) = match rest {
            [b'%', a, b, ..] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
                utf8[0] = hex(&rest[1..3]).unwrap_or(0) as u8;
                (&utf8[..1], 3)
            }
            [b'\\', b'u', ..] if rest.len() >= 6 => match hex(&rest[2..6]).and_then(char::from_u32)
            {
                Some(c) => (c.encode_utf8(&mut utf8).as_bytes(), 6),
                None => (&rest[..1], 1),
            },
            [b'\\', b'/', ..] => (b"/", 2),
            _ => (&rest[..1], 1),
        };
        out.extend_from_slice(bytes);
        from.extend(std::iter::repeat_n((i, i + used), bytes.len()));
        i += used;
    }
    (out, from)
}

/// The bytes with every registered secret and every `Signature=` value replaced.
pub fn bytes(raw: &[u8]) -> Vec<u8> {
    let guard = SECRETS.read();
    let secrets: &[Vec<u8>] = guard.as_deref().map_or(&[], |s| s.as_slice());
    let (text, from) = decoded(raw);
    // Stretches of the decoded text to hide.
    let mut hide: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let starts = |s: &[u8]| rest.len() >= s.len() && rest[..s.len()].eq_ignore_ascii_case(s);
        if let Some(s) = secrets.iter().find(|s| starts(s)) {
            hide.push((i, i + s.len()));
            i += s.len();
        } else if starts(SIGNATURE) {
            let start = i + SIGNATURE.len();
            let value = text[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if value > 0 {
                hide.push((start, start + value));
            }
            i = start + value;
        } else {
            i += 1;
        }
    }
    // The same stretches in the raw text, each replaced once.
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for (start, end) in hide {
        let (raw_start, raw_end) = (from[start].0, from[end - 1].1);
        if raw_start < at {
            continue;
        }
        out.extend_from_slice(&raw[at..raw_start]);
        out.extend_from_slice(REDACTED.as_bytes());
        at = raw_end;
    }
    out.extend_from_slice(&raw[at..]);
    out
}

/// The same for text.
pub fn text(text: &str) -> String {
    // Whole escapes or characters are replaced: the result is still UTF-8 unless a `%XX`
    // escape stood inside a multi-byte character, which is then shown replaced.
    String::from_utf8_lossy(&bytes(text.as_bytes())).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PROP_SECRET: &str = "PropSecret/Key+42";

    /// The secret written with each character plain, percent-encoded or JSON-escaped.
    fn disguised(choices: &[u8]) -> String {
        PROP_SECRET
            .chars()
            .zip(choices.iter().cycle())
            .map(|(c, k)| match k % 4 {
                0 => format!("%{:02X}", c as u32),
                1 => format!("\\u{:04x}", c as u32),
                2 => c.to_ascii_lowercase().to_string(),
                _ => c.to_string(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn a_disguised_secret_never_survives(pre in "[a-z %\\\\]{0,12}", post in "[a-z %]{0,12}", choices in proptest::collection::vec(0u8..4, 1..8)) {
            register([PROP_SECRET.as_bytes()]);
            let out = text(&format!("{pre}{}{post}", disguised(&choices)));
            let (seen, _) = decoded(out.as_bytes());
            let seen = String::from_utf8_lossy(&seen).to_lowercase();
            prop_assert!(!seen.contains(&PROP_SECRET.to_lowercase()), "{out}");
            prop_assert!(out.contains(REDACTED));
        }

        #[test]
        fn text_without_secrets_is_kept_as_sent(s in "[a-zA-Z0-9 %/\\\\u=.-]{0,60}") {
            register([PROP_SECRET.as_bytes()]);
            prop_assume!(!s.to_lowercase().contains("signature="));
            prop_assert_eq!(text(&s), s);
        }
    }

    #[test]
    fn secrets_go_in_any_case_or_escape_and_the_rest_stays_as_written() {
        register([b"AKFAKE0001".as_slice(), b"skSECRET/99", b"ab"]);
        assert_eq!(
            text("bad ak akfake0001, sk SKSECRET/99, ab stays"),
            "bad ak [redacted], sk [redacted], ab stays"
        );
        assert_eq!(
            text(
                "SDK-HMAC-SHA256 Access=AKFAKE0001, SignedHeaders=host, Signature=9f86d081884c7d65"
            ),
            "SDK-HMAC-SHA256 Access=[redacted], SignedHeaders=host, Signature=[redacted]"
        );
        assert_eq!(text("王丽 AKFAKE0001 王丽"), "王丽 [redacted] 王丽");
        assert_eq!(text("signature="), "signature=");
        assert_eq!(
            text("go%20to/%41KFAKE%300%301?x=%2F"),
            "go%20to/[redacted]?x=%2F"
        );
        assert_eq!(
            text(r"ak \u0041KFAKE0001 sk skSECRET\/99"),
            "ak [redacted] sk [redacted]"
        );
        assert_eq!(
            text("100% sure, %zz, req%41%42-%zz"),
            "100% sure, %zz, req%41%42-%zz"
        );
        let sig = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(text(sig), sig, "a hash the user may need stays");
    }
}
