//! Secrets out of server text. A server may echo what it was sent: the AK, the SK, a token, or
//! the request's `Authorization` header with its signature. The credentials are registered
//! here once; every text that comes from a server is passed through [`text`] (by
//! `api::sanitize`, before anything is cut to length) and every body through [`bytes`].
//! Secrets are looked for as a reader would see them: as sent and in any letter case; through
//! percent-encoding (`%41`), backslash escapes (`\u0041`, `\x41`, octal `\101`, `\/`), HTML and
//! XML entities (`&#65;`, `&#x41;`, `&sol;`), MIME encoded-words (`=?UTF-8?Q?...?=`,
//! `=?UTF-8?B?...?=`) and quoted-printable (`=41`, soft line breaks), also escaped twice; in
//! compatibility forms such as full-width letters (folded by NFKC), with
//! invisible characters (zero-width spaces, joiners, soft hyphens) between their letters; in
//! hex (contiguous or with `:`, `-` or a space between pairs); and base64- or
//! base64url-encoded, alone or inside a longer encoded text (at each of the three byte
//! alignments). Only the stretch that spells a secret is replaced by `[redacted]`, so the rest
//! of the text (a request id, a URL) reaches the user unchanged.

use std::sync::RwLock;

mod decode;

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// The marker of a signature in an `Authorization` header: the value after it is a secret.
const SIGNATURE: &[u8] = b"signature=";

/// Base64 letters shorter than this are not looked for: they would match ordinary text.
const MIN_ENCODED: usize = 6;

/// A registered secret and how it looks encoded.
struct Secret {
    /// The secret as given (to tell secrets apart).
    raw: Vec<u8>,
    /// Lower-cased, for matching in any letter case.
    lower: Vec<u8>,
    /// The base64 and base64url letters that spell the secret alone, whatever comes before
    /// or after it in the encoded text: one run for each byte alignment.
    encoded: Vec<Vec<u8>>,
}

/// The registered secrets, and the pairs of bytes a stretch to hide can start with (at any
/// other pair the search moves on at once).
struct Registry {
    secrets: Vec<Secret>,
    starts: Pairs,
}

/// A set of byte pairs, each in any letter case.
struct Pairs([u64; 1024]);

impl Pairs {
    const fn add(&mut self, a: u8, b: u8) {
        let (a, b) = (
            [a.to_ascii_lowercase(), a.to_ascii_uppercase()],
            [b.to_ascii_lowercase(), b.to_ascii_uppercase()],
        );
        let mut k = 0;
        while k < 4 {
            let at = (a[k / 2] as usize) << 8 | b[k % 2] as usize;
            self.0[at / 64] |= 1 << (at % 64);
            k += 1;
        }
    }

    fn holds(&self, a: u8, b: u8) -> bool {
        let at = usize::from(a) << 8 | usize::from(b);
        self.0[at / 64] & 1 << (at % 64) != 0
    }
}

static SECRETS: RwLock<Registry> = RwLock::new(Registry {
    secrets: Vec::new(),
    starts: {
        let mut starts = Pairs([0; 1024]);
        starts.add(SIGNATURE[0], SIGNATURE[1]);
        starts
    },
});

/// Adds secrets to look for from now on; shorter than 4 bytes they would match ordinary text
/// and are left out.
pub fn register<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) {
    if let Ok(mut registry) = SECRETS.write() {
        for s in secrets.into_iter().filter(|s| s.len() >= 4) {
            if registry.secrets.iter().any(|known| known.raw == s) {
                continue;
            }
            let secret = Secret {
                raw: s.to_vec(),
                lower: s.to_ascii_lowercase(),
                encoded: encodings(s),
            };
            let hex = |n: u8| b"0123456789abcdef"[usize::from(n & 15)];
            registry.starts.add(hex(s[0] >> 4), hex(s[0]));
            registry.starts.add(s[0], s[1]);
            for e in &secret.encoded {
                registry.starts.add(e[0], e[1]);
            }
            registry.secrets.push(secret);
        }
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The letters of `secret` in base64 and base64url when it starts 0, 1 or 2 bytes into a
/// 3-byte group: only the letters made of the secret's bits alone (the ones at its edges
/// also hold bits of its neighbours, which can be anything).
fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut found: Vec<Vec<u8>> = Vec::new();
    for offset in 0..3 {
        let bytes: Vec<u8> = std::iter::repeat_n(0, offset)
            .chain(secret.iter().copied())
            .collect();
        let bits = |i: usize| (bytes[i / 8] >> (7 - i % 8)) & 1;
        let (first, end) = (8 * offset, 8 * bytes.len());
        // Letter k holds bits 6k..6k+6: wholly the secret's from the first letter starting
        // at or after its first bit, up to the last letter ending by its last bit.
        let letters: Vec<u8> = (first.div_ceil(6)..end / 6)
            .map(|k| BASE64[(0..6).fold(0, |v, b| v << 1 | bits(6 * k + b)) as usize])
            .collect();
        if letters.len() < MIN_ENCODED {
            continue;
        }
        let url: Vec<u8> = letters
            .iter()
            .map(|&c| match c {
                b'+' => b'-',
                b'/' => b'_',
                c => c,
            })
            .collect();
        for form in [letters, url] {
            if !found.contains(&form) {
                found.push(form);
            }
        }
    }
    found
}

/// The length of the hex spelling of `secret` (its bytes as pairs of hex digits in any case,
/// with or without one separator, `:`, `-` or a space, between every two pairs) at the start
/// of `rest`.
fn hex_spelled(rest: &[u8], secret: &[u8]) -> Option<usize> {
    let digit = |at: usize| rest.get(at).and_then(|&c| char::from(c).to_digit(16));
    let (mut at, mut sep) = (0, None);
    for (k, &b) in secret.iter().enumerate() {
        if k == 1 && matches!(rest.get(at), Some(b':' | b'-' | b' ')) {
            sep = rest.get(at).copied();
        }
        if k > 0 && sep.is_some() {
            if rest.get(at).copied() != sep {
                return None;
            }
            at += 1;
        }
        if digit(at)? << 4 | digit(at + 1)? != u32::from(b) {
            return None;
        }
        at += 2;
    }
    Some(at)
}

/// The bytes with every registered secret and every `Signature=` value replaced.
pub fn bytes(raw: &[u8]) -> Vec<u8> {
    let guard = SECRETS.read();
    let Ok(registry) = guard.as_deref() else {
        return raw.to_vec();
    };
    let (secrets, starts) = (registry.secrets.as_slice(), &registry.starts);
    // Stretches of the raw text to hide, found in every reading of it; plain ASCII with no
    // escape character has one reading, itself.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    if raw.iter().all(decode::plain) {
        spans = found(raw, secrets, starts);
    } else {
        decode::each_view(raw, |text, from| {
            for (start, end) in found(text, secrets, starts) {
                spans.push((from[start].0, from[end - 1].1));
            }
        });
    }
    // Overlapping stretches merged (a character folded into several letters may hold the end
    // of one and the start of the next; readings find the same secret), each replaced once.
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for (start, end) in merged {
        out.extend_from_slice(&raw[at..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        at = end;
    }
    out.extend_from_slice(&raw[at..]);
    out
}

/// The stretches of `text` that spell a secret (in any case, base64- or hex-encoded) or a
/// `Signature=` value; `pairs` tells the pairs of bytes such a stretch can start with.
fn found(text: &[u8], secrets: &[Secret], pairs: &Pairs) -> Vec<(usize, usize)> {
    let mut hide: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if i + 1 == text.len() || !pairs.holds(text[i], text[i + 1]) {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        let starts = |s: &[u8]| rest.len() >= s.len() && rest[..s.len()].eq_ignore_ascii_case(s);
        let spelled = secrets
            .iter()
            .find(|s| starts(&s.lower))
            .map(|s| s.lower.len());
        let encoded = || {
            secrets
                .iter()
                .flat_map(|s| s.encoded.iter())
                .find(|e| rest.starts_with(e))
                .map(|e| e.len())
        };
        let hex = || secrets.iter().find_map(|s| hex_spelled(rest, &s.raw));
        if let Some(len) = spelled.or_else(encoded).or_else(hex) {
            hide.push((i, i + len));
            i += len;
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
    hide
}

/// The same for text.
pub fn text(text: &str) -> String {
    // Whole escapes or characters are replaced: the result is still UTF-8 unless a `%XX`
    // escape stood inside a multi-byte character, which is then shown replaced.
    String::from_utf8_lossy(&bytes(text.as_bytes())).into_owned()
}

#[cfg(test)]
mod encoding_tests;
#[cfg(test)]
mod tests;
