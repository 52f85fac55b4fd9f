use super::*;
use proptest::prelude::*;

const PROP_SECRET: &str = "PropSecret/Key+42";

/// The secret written with each character plain, percent-encoded, JSON-, C- or octal-
/// escaped, as an HTML entity or quoted-printable.
fn disguised(choices: &[u8]) -> String {
    PROP_SECRET
        .chars()
        .zip(choices.iter().cycle())
        .map(|(c, k)| match k % FORMS {
            0 => format!("%{:02X}", c as u32),
            1 => format!("\\u{:04x}", c as u32),
            2 => c.to_ascii_lowercase().to_string(),
            3 => format!("&#{};", c as u32),
            4 => format!("&#x{:X};", c as u32),
            5 => format!("\\x{:02x}", c as u32),
            6 => format!("\\{:03o}", c as u32),
            7 => format!("={:02X}", c as u32),
            _ => c.to_string(),
        })
        .collect()
}

/// How many ways [`disguised`] writes a character.
const FORMS: u8 = 9;

/// Every reading of `out` (as sent, escapes decoded, folded), in lower case.
fn readings(out: &str) -> Vec<String> {
    decode::views(out.as_bytes())
        .into_iter()
        .map(|(seen, _)| String::from_utf8_lossy(&seen).to_lowercase())
        .collect()
}

proptest! {
    #[test]
    fn a_disguised_secret_never_survives(pre in "[a-z %&=\\\\]{0,12}", post in "[a-z %&=;]{0,12}", choices in proptest::collection::vec(0u8..FORMS, 1..8)) {
        register([PROP_SECRET.as_bytes()]);
        let out = text(&format!("{pre}{}{post}", disguised(&choices)));
        for seen in readings(&out) {
            prop_assert!(!seen.contains(&PROP_SECRET.to_lowercase()), "{out}");
        }
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
    '\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{180E}', '\u{FE0F}',
];

/// What a reader sees: escapes decoded, compatibility forms folded (NFKC), invisible
/// characters gone, lower case.
fn as_read(out: &str) -> String {
    readings(out)
        .iter()
        .map(|seen| {
            icu_normalizer::ComposingNormalizerBorrowed::new_nfkc()
                .normalize(seen)
                .chars()
                .filter(|c| !INVISIBLE.contains(c))
                .collect::<String>()
                .to_lowercase()
        })
        .collect::<Vec<_>>()
        .join("\n")
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
        text("SDK-HMAC-SHA256 Access=AKFAKE0001, SignedHeaders=host, Signature=9f86d081884c7d65"),
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
