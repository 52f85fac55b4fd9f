//! Secrets out of server text. A server may echo what it was sent: the AK, the SK, a token, or
//! the request's `Authorization` header with its signature. The credentials are registered
//! here once; every text that comes from a server is passed through [`text`] (by
//! `api::sanitize`, before anything is cut to length) and every body through [`bytes`], so that
//! whatever is echoed, in any letter case, percent-encoded or decoded from JSON escapes,
//! becomes `[redacted]` before it reaches an output, a log or an error.

use std::sync::RwLock;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// The marker of a signature in an `Authorization` header: the value after it is a secret.
const SIGNATURE: &[u8] = b"signature=";

/// A run of exactly this many hex digits is an HMAC-SHA256 signature (or some other hash);
/// no server text needs one shown.
const SIGNATURE_HEX: usize = 64;

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

/// The bytes with every registered secret, every `Signature=` value and every 64-digit hex
/// run replaced (a body keeps its shape: nothing is decoded).
pub fn bytes(text: &[u8]) -> Vec<u8> {
    let secrets = SECRETS.read().map(|s| s.clone()).unwrap_or_default();
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let starts = |s: &[u8]| rest.len() >= s.len() && rest[..s.len()].eq_ignore_ascii_case(s);
        let hex = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        let at_word_start = i == 0 || !text[i - 1].is_ascii_hexdigit();
        if let Some(s) = secrets.iter().find(|s| starts(s)) {
            out.extend_from_slice(REDACTED.as_bytes());
            i += s.len();
        } else if starts(SIGNATURE) {
            out.extend_from_slice(&rest[..SIGNATURE.len()]);
            let value = rest[SIGNATURE.len()..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if value > 0 {
                out.extend_from_slice(REDACTED.as_bytes());
            }
            i += SIGNATURE.len() + value;
        } else if at_word_start && hex == SIGNATURE_HEX {
            out.extend_from_slice(REDACTED.as_bytes());
            i += hex;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

/// The same for text to show, percent-decoded first when it holds `%` (a `Location`, a
/// message quoting a URL), so that an encoded secret is found too.
pub fn text(text: &str) -> String {
    let raw = text.as_bytes();
    let decoded: Vec<u8> = match raw.contains(&b'%') {
        true => percent_encoding::percent_decode(raw).collect(),
        false => raw.to_vec(),
    };
    // Only whole secrets (valid UTF-8) and ASCII runs are replaced; decoding may make invalid
    // UTF-8, shown with replacement characters.
    String::from_utf8_lossy(&bytes(&decoded)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_in_any_case_or_encoding_and_signatures_with_them() {
        register([b"AKFAKE0001".as_slice(), b"skSECRET99", b"ab"]);
        assert_eq!(
            text("bad ak akfake0001, sk SKSECRET99, ab stays"),
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
        assert_eq!(text("go%20to%2FAKFAKE%300%301"), "go to/[redacted]");
        let sig = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        assert_eq!(text(&format!("echo {sig}.")), "echo [redacted].");
        let longer = format!("{sig}0");
        assert_eq!(text(&longer), longer, "a 65-digit run is no signature");
        assert_eq!(text("100% sure"), "100% sure");
    }
}
