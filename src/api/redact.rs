//! Secrets out of server text. A server may echo what it was sent: the AK, the SK, a token, or
//! the request's `Authorization` header with its signature. The credentials are registered
//! here once; every text that comes from a server is passed through [`text`] (by
//! `api::sanitize`, before anything is cut to length) and every body through [`bytes`].
//! Secrets are looked for as a reader would see them: in any letter case, through
//! percent-encoding (`%41`) and JSON escapes (`\u0041`, `\/`), in compatibility forms such as
//! full-width letters (folded by NFKC), with invisible characters (zero-width spaces, joiners,
//! soft hyphens) between their letters, and base64- or base64url-encoded, alone or inside a
//! longer encoded text (at each of the three byte alignments). Only the stretch that spells a
//! secret is replaced by `[redacted]`, so the rest of the text (a request id, a URL) reaches
//! the user unchanged.

use std::sync::RwLock;

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

/// The registered secrets.
static SECRETS: RwLock<Vec<Secret>> = RwLock::new(Vec::new());

/// Adds secrets to look for from now on; shorter than 4 bytes they would match ordinary text
/// and are left out.
pub fn register<'a>(secrets: impl IntoIterator<Item = &'a [u8]>) {
    if let Ok(mut all) = SECRETS.write() {
        for s in secrets.into_iter().filter(|s| s.len() >= 4) {
            if !all.iter().any(|known| known.raw == s) {
                all.push(Secret {
                    raw: s.to_vec(),
                    lower: s.to_ascii_lowercase(),
                    encoded: encodings(s),
                });
            }
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

/// Characters that take no room on screen and may be slipped between a secret's letters:
/// format characters (zero-width spaces and joiners, bidi marks, the BOM, the soft hyphen),
/// variation selectors, fillers and tags.
fn hidden(c: char) -> bool {
    crate::normalize::is_invisible(c)
        || matches!(c,
            '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FFA0}' | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// The decoded text as a reader sees it, with the raw range of each byte: each character in
/// its NFKC form (`Ａ` is `A`), invisible ones left out; bytes that are not UTF-8 as they are.
fn normalized(text: &[u8], from: &[(usize, usize)]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let nfkc = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc();
    let (mut out, mut to) = (
        Vec::with_capacity(text.len()),
        Vec::with_capacity(text.len()),
    );
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii() {
            out.push(text[i]);
            to.push(from[i]);
            i += 1;
            continue;
        }
        let ch = (i + 2..=(i + 4).min(text.len()))
            .find_map(|end| std::str::from_utf8(&text[i..end]).ok().map(|c| (c, end)));
        let Some((ch, end)) = ch else {
            out.push(text[i]);
            to.push(from[i]);
            i += 1;
            continue;
        };
        let range = (from[i].0, from[end - 1].1);
        if !ch.chars().any(hidden) {
            let folded = nfkc.normalize(ch);
            out.extend_from_slice(folded.as_bytes());
            to.extend(std::iter::repeat_n(range, folded.len()));
        }
        i = end;
    }
    (out, to)
}

/// The bytes with every registered secret and every `Signature=` value replaced.
pub fn bytes(raw: &[u8]) -> Vec<u8> {
    let guard = SECRETS.read();
    let secrets: &[Secret] = guard.as_deref().map_or(&[], |s| s.as_slice());
    // Plain ASCII with no escape character reads as it is sent: no decoding or folding to do.
    let plain = |b: &u8| b.is_ascii() && !matches!(b, b'%' | b'\\' | b'&' | b'=');
    let (text, from) = if raw.iter().all(plain) {
        (raw.to_vec(), (0..raw.len()).map(|i| (i, i + 1)).collect())
    } else {
        let (plain, from) = decoded(raw);
        normalized(&plain, &from)
    };
    // The bytes a stretch to hide can start with: any other is passed at once.
    let mut first = [false; 256];
    for s in secrets {
        for &c in s
            .lower
            .first()
            .into_iter()
            .chain(s.encoded.iter().filter_map(|e| e.first()))
        {
            first[usize::from(c)] = true;
            first[usize::from(c.to_ascii_uppercase())] = true;
            first[usize::from(c.to_ascii_lowercase())] = true;
        }
    }
    first[usize::from(b's')] = true;
    first[usize::from(b'S')] = true;
    // Stretches of the normalized text to hide.
    let mut hide: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if !first[text[i] as usize] {
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
        if let Some(len) = spelled.or_else(encoded) {
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
    // The same stretches in the raw text, overlapping ones merged (a character folded into
    // several letters may hold the end of one and the start of the next), each replaced once.
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(hide.len());
    for (start, end) in hide {
        let (s, e) = (from[start].0, from[end - 1].1);
        match spans.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => spans.push((s, e)),
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    for (start, end) in spans {
        out.extend_from_slice(&raw[at..start]);
        out.extend_from_slice(REDACTED.as_bytes());
        at = end;
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

    /// Invisible characters a server may put between a secret's letters.
    const INVISIBLE: [char; 8] = [
        '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{180E}',
        '\u{FE0F}',
    ];

    /// What a reader sees: escapes decoded, compatibility forms folded (NFKC), invisible
    /// characters gone, lower case.
    fn as_read(out: &str) -> String {
        let (seen, _) = decoded(out.as_bytes());
        let seen = String::from_utf8_lossy(&seen).into_owned();
        icu_normalizer::ComposingNormalizerBorrowed::new_nfkc()
            .normalize(&seen)
            .chars()
            .filter(|c| !INVISIBLE.contains(c))
            .collect::<String>()
            .to_lowercase()
    }

    /// Every byte string a base64 (or base64url) decoder finds in `out`, from every run of
    /// base64 letters at each of its 4 offsets.
    fn base64_readings(out: &str) -> Vec<Vec<u8>> {
        use base64::Engine;
        let letter = |c: char| c.is_ascii_alphanumeric() || "+/-_".contains(c);
        let mut found = Vec::new();
        for run in out.split(|c: char| !letter(c)).filter(|r| r.len() >= 4) {
            let std_run: String = run
                .chars()
                .map(|c| match c {
                    '-' => '+',
                    '_' => '/',
                    c => c,
                })
                .collect();
            for skip in 0..4 {
                let part = &std_run[skip.min(std_run.len())..];
                let part = &part[..part.len() / 4 * 4];
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(part.trim_end_matches('='))
                    .or_else(|_| base64::engine::general_purpose::STANDARD.decode(part))
                {
                    found.push(bytes);
                }
            }
        }
        found
    }

    fn holds(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    proptest! {
        #[test]
        fn a_secret_in_base64_never_survives_at_any_alignment(
            pre in proptest::collection::vec(any::<u8>(), 0..7),
            post in proptest::collection::vec(any::<u8>(), 0..7),
            url_safe in any::<bool>(),
            padded in any::<bool>(),
        ) {
            use base64::Engine;
            use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
            register([PROP_SECRET.as_bytes()]);
            let plain = [pre.as_slice(), PROP_SECRET.as_bytes(), post.as_slice()].concat();
            let engine = match (url_safe, padded) {
                (false, true) => &STANDARD,
                (false, false) => &STANDARD_NO_PAD,
                (true, true) => &URL_SAFE,
                (true, false) => &URL_SAFE_NO_PAD,
            };
            let encoded = engine.encode(&plain);
            let out = text(&format!("request {encoded} failed"));
            for reading in base64_readings(&out) {
                prop_assert!(!holds(&reading, PROP_SECRET.as_bytes()), "{out}");
            }
            prop_assert!(out.contains(REDACTED), "{out}");
            prop_assert!(out.starts_with("request ") && out.ends_with(" failed"), "{out}");
        }

        #[test]
        fn a_secret_in_full_width_letters_or_with_invisible_characters_never_survives(
            forms in proptest::collection::vec(0u8..4, PROP_SECRET.len()),
            invisible in proptest::collection::vec(0usize..INVISIBLE.len(), PROP_SECRET.len()),
            pre in "[a-z ]{0,8}",
        ) {
            register([PROP_SECRET.as_bytes()]);
            let disguised: String = PROP_SECRET
                .chars()
                .zip(forms.iter().zip(&invisible))
                .map(|(c, (form, inv))| match form {
                    // The full-width form (U+FF01..U+FF5E) of an ASCII character.
                    0 => char::from_u32(c as u32 + 0xFEE0).unwrap().to_string(),
                    1 => format!("{c}{}", INVISIBLE[*inv]),
                    2 => format!("{}{}", char::from_u32(c as u32 + 0xFEE0).unwrap(), INVISIBLE[*inv]),
                    _ => c.to_string(),
                })
                .collect();
            let out = text(&format!("{pre}{disguised} rest"));
            prop_assert!(!as_read(&out).contains(&PROP_SECRET.to_lowercase()), "{out}");
            prop_assert!(out.contains(REDACTED) && out.ends_with(" rest"), "{out}");
        }
    }

    #[test]
    fn disguised_secrets_go_and_the_rest_stays_as_written() {
        register([b"AKFAKE0001".as_slice()]);
        // base64 of "ak=AKFAKE0001;" and full-width / zero-width spellings.
        assert_eq!(
            text("id YWs9QUtGQUtFMDAwMTs= end")
                .matches(REDACTED)
                .count(),
            1
        );
        assert_eq!(
            text("ｋｅｙ ＡＫＦＡＫＥ０００１ ｏｋ"),
            "ｋｅｙ [redacted] ｏｋ"
        );
        assert_eq!(text("A\u{200B}KFAKE\u{200D}0001!"), "[redacted]!");
        assert_eq!(
            text("ａ\u{200B}ｂ ｃ"),
            "ａ\u{200B}ｂ ｃ",
            "no secret: unchanged"
        );
        // Inside a longer base64 text (a Location's query): only the secret's letters go.
        let out = text("https://x.example/cb?s=eyJhayI6IkFLRkFLRTAwMDEiLCJvayI6dHJ1ZX0&n=1");
        assert!(
            out.starts_with("https://x.example/cb?s=eyJhayI6I") && out.ends_with("&n=1"),
            "{out}"
        );
        assert_eq!(
            out,
            "https://x.example/cb?s=eyJhayI6Ik[redacted]EiLCJvayI6dHJ1ZX0&n=1"
        );
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
