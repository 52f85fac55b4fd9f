//! A token echoed in each encoding a server (or a mail gateway, or a web page) may use: hex,
//! quoted-printable, MIME encoded-words, HTML/XML entities, backslash escapes, and mixtures.
//! Each table row is a text and what must come out of it.

use super::*;
use base64::Engine;

/// The token these tests register: long enough to be told from ordinary text, with the
/// punctuation a real token holds.
const TOKEN: &str = "MIItokenEnc/0123+xyz";

fn setup() {
    register([TOKEN.as_bytes()]);
}

/// Each byte of `s` written by `f`.
fn each(s: &str, f: impl Fn(u8) -> String) -> String {
    s.bytes().map(f).collect()
}

fn check(rows: &[(String, String)]) {
    setup();
    let failed: Vec<String> = rows
        .iter()
        .filter_map(|(input, want)| {
            let got = text(input);
            (&got != want).then(|| format!("\n  {input:?}\n    gave {got:?}\n    want {want:?}"))
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.concat());
}

fn row(input: impl Into<String>, want: impl Into<String>) -> (String, String) {
    (input.into(), want.into())
}

/// Rows whose text holds no secret: it must come out as it went in.
fn kept(texts: &[&str]) -> Vec<(String, String)> {
    texts.iter().map(|t| row(*t, *t)).collect()
}

#[test]
fn a_secret_in_hex_goes() {
    let lower = |s: &str| each(s, |b| format!("{b:02x}"));
    let upper = |s: &str| each(s, |b| format!("{b:02X}"));
    let spaced = |s: &str, sep: &str| {
        s.bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(sep)
    };
    let mut rows = vec![
        row(format!("bad {} end", lower(TOKEN)), "bad [redacted] end"),
        row(format!("bad {} end", upper(TOKEN)), "bad [redacted] end"),
        row(format!("bad 0x{}", upper(TOKEN)), "bad 0x[redacted]"),
        row(format!("[{}]", spaced(TOKEN, ":")), "[[redacted]]"),
        row(format!("[{}]", spaced(TOKEN, " ")), "[[redacted]]"),
        row(format!("[{}]", spaced(TOKEN, "-")), "[[redacted]]"),
        // Inside a longer hex text: only the token's pairs go.
        row(
            lower(&format!("token={TOKEN};")),
            format!("{}[redacted]{}", lower("token="), lower(";")),
        ),
    ];
    rows.extend(kept(&[
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "4d49 49 74",
        "4d:49:49:74:6f",
    ]));
    check(&rows);
}

#[test]
fn a_secret_in_quoted_printable_goes() {
    register([b"BEEFtokenQP99".as_slice()]);
    let qp = |s: &str| each(s, |b| format!("={b:02X}"));
    let mut rows = vec![
        row(qp(TOKEN), "[redacted]"),
        row(qp(TOKEN).to_lowercase(), "[redacted]"),
        row(
            format!("token{}", qp(&format!("={TOKEN};"))),
            "token=3D[redacted]=3B",
        ),
        row("MII=74oken=45nc=2F0123=2Bxyz ok", "[redacted] ok"),
        // Soft line breaks, where a mailer wraps a long line.
        row("x MIItok=\r\nenEnc/0123+x=\r\nyz y", "x [redacted] y"),
        row("x MIItok=\nenEnc/01=\n23+xyz y", "x [redacted] y"),
        // `key=value` whose value starts with two hex digits is no quoted-printable escape:
        // a secret percent-encoded after it is still found.
        row("t=BE%45FtokenQP99", "t=[redacted]"),
    ];
    rows.extend(kept(&["count=10&x=AB", "a=3D=3d", "line=\r\nnext"]));
    check(&rows);
}

#[test]
fn a_secret_in_mime_encoded_words_goes() {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let q = |s: &str| {
        each(s, |b| match b {
            b' ' => "_".into(),
            b if b.is_ascii_alphanumeric() => char::from(b).to_string(),
            b => format!("={b:02X}"),
        })
    };
    // The token split over two B-words: neither holds its base64 letters whole.
    let (w1, w2) = (b64("token: MIItokenE"), b64("nc/0123+xyz end"));
    let mut rows = vec![
        row(
            format!("=?UTF-8?Q?{}?=", q(&format!("bad token {TOKEN} end"))),
            "=?UTF-8?Q?bad_token_[redacted]_end?=",
        ),
        row(
            format!("=?utf-8?q?{}?=", q(TOKEN).replace("MII", "=4D=49=49")),
            "=?utf-8?q?[redacted]?=",
        ),
        row(
            format!("Subject: =?UTF-8?B?{w1}?=\r\n =?UTF-8?B?{w2}?= !"),
            format!("Subject: =?UTF-8?B?{}[redacted]{}?= !", &w1[..9], &w2[15..]),
        ),
        row(
            format!(
                "=?ISO-8859-1?Q?{}?= =?ISO-8859-1?Q?{}?=",
                q("MIItoken"),
                q("Enc/0123+xyz")
            ),
            "=?ISO-8859-1?Q?[redacted]?=",
        ),
    ];
    rows.extend(kept(&[
        "=?UTF-8?Q?hello_world?=",
        "=?UTF-8?B?aGVsbG8=?= =?UTF-8?Q?x?=",
        "=?broken?Q?",
    ]));
    check(&rows);
}

#[test]
fn a_secret_in_html_entities_goes() {
    let dec = |s: &str| each(s, |b| format!("&#{b};"));
    let hex = |s: &str| each(s, |b| format!("&#x{b:x};"));
    let mut rows = vec![
        row(format!("<p>{}</p>", dec(TOKEN)), "<p>[redacted]</p>"),
        row(format!("<p>{}</p>", hex(TOKEN)), "<p>[redacted]</p>"),
        row(format!("&#X4D;&#0000073;{}", &TOKEN[2..]), "[redacted]"),
        row("MIItokenEnc&sol;0123&plus;xyz", "[redacted]"),
        row("MIItokenEnc&#47;0123&#43;xyz&amp;x=1", "[redacted]&amp;x=1"),
        // Escaped twice, as HTML put inside XML.
        row("&amp;#77;IItokenEnc&amp;#x2F;0123+xyz", "[redacted]"),
    ];
    rows.extend(kept(&["a &amp; b &lt;c&gt; &#; &#xZZ; &nosuch;", "&"]));
    check(&rows);
}

#[test]
fn a_secret_in_backslash_escapes_goes() {
    let x = |s: &str| each(s, |b| format!("\\x{b:02x}"));
    let octal = |s: &str| each(s, |b| format!("\\{b:03o}"));
    let mut rows = vec![
        row(format!("'{}'", x(TOKEN)), "'[redacted]'"),
        row(
            format!("'{}'", x(TOKEN).to_uppercase().replace("\\X", "\\x")),
            "'[redacted]'",
        ),
        row(format!("'{}'", octal(TOKEN)), "'[redacted]'"),
        row(r"\u{4d}IItokenEnc\u{2f}0123+xyz", "[redacted]"),
        row(r"\U0000004dIItokenEnc/0123+xyz", "[redacted]"),
        row(r"MIItokenEnc\/0123\+xyz", "[redacted]"),
        // A `\x` escape written into a JSON string has its backslash escaped.
        row(
            format!(r#"{{"msg":"{}"}}"#, x(TOKEN).replace('\\', "\\\\")),
            r#"{"msg":"[redacted]"}"#,
        ),
    ];
    rows.extend(kept(&[r"C:\new\x\9 \q \x4", r#"say \"hi\""#]));
    check(&rows);
}

#[test]
fn a_secret_in_mixed_encodings_goes() {
    let mut rows = vec![
        // A full-width letter as an entity, an entity percent-encoded.
        row("&#xFF2D;IItokenEnc/0123+xyz", "[redacted]"),
        row("%26%2377%3BIItokenEnc/0123+xyz", "[redacted]"),
        // Hex of the token, quoted-printable.
        row(
            each(&each(TOKEN, |b| format!("{b:02x}")), |b| {
                format!("={b:02X}")
            }),
            "[redacted]",
        ),
        // Each letter a different escape.
        row(
            r"%4D&#73;\x49=74\157ken\u0045nc\/0123&plus;xyz",
            "[redacted]",
        ),
    ];
    // A secret that holds escape characters itself is found as it was sent.
    register([br"sk=41%41&amp;\x41".as_slice()]);
    rows.push(row(r"got sk=41%41&amp;\x41 back", "got [redacted] back"));
    check(&rows);
}
