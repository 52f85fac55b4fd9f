//! Secrets out of server text. A server may echo what it was sent: the AK, the SK, a token, or
//! the request's `Authorization` header with its signature. Whatever it echoes, in any letter
//! case, in the raw body and again in the text decoded from its JSON (where `\u0041` is `A`),
//! becomes `[redacted]` before it reaches an output, a log or an error.

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// The marker of a signature in an `Authorization` header: the hex after it is a secret too.
const SIGNATURE: &[u8] = b"signature=";

/// The secrets of one request.
pub struct Redactor {
    /// Lower-cased; shorter ones are left out (they would match ordinary text).
    secrets: Vec<Vec<u8>>,
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) -> Redactor {
        Redactor {
            secrets: secrets
                .into_iter()
                .filter(|s| s.len() >= 4)
                .map(|s| s.to_ascii_lowercase())
                .collect(),
        }
    }

    /// The bytes with every secret, and every `Signature=` value, replaced.
    pub fn bytes(&self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            let starts =
                |s: &[u8]| rest.len() >= s.len() && rest[..s.len()].eq_ignore_ascii_case(s);
            if let Some(s) = self.secrets.iter().find(|s| starts(s)) {
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
            } else {
                out.push(text[i]);
                i += 1;
            }
        }
        out
    }

    /// The same for text.
    pub fn text(&self, text: &str) -> String {
        // Only whole secrets (valid UTF-8) and ASCII runs are replaced: still UTF-8.
        String::from_utf8_lossy(&self.bytes(text.as_bytes())).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_in_any_case_and_signatures_with_them() {
        let r = Redactor::new([b"AKFAKE0001".as_slice(), b"skSECRET99", b"ab"]);
        assert_eq!(
            r.text("bad ak akfake0001, sk SKSECRET99, ab stays"),
            "bad ak [redacted], sk [redacted], ab stays"
        );
        assert_eq!(
            r.text(
                "SDK-HMAC-SHA256 Access=AKFAKE0001, SignedHeaders=host, Signature=9f86d081884c7d65"
            ),
            "SDK-HMAC-SHA256 Access=[redacted], SignedHeaders=host, Signature=[redacted]"
        );
        assert_eq!(r.text("王丽 AKFAKE0001 王丽"), "王丽 [redacted] 王丽");
        assert_eq!(r.text("signature="), "signature=");
    }
}
