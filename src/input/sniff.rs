//! Guessing what the user did not say: the byte-order mark, the text encoding and the delimiter,
//! all from the first bytes of the input so that the rest can be streamed.

use anyhow::{bail, Result};
use encoding_rs::Encoding;

/// Delimiters the contract promises to detect, in order of preference on ties.
pub const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How cells are turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8. `strict` when the user asked for it: a bad byte makes the row invalid.
    /// Otherwise a record that is not UTF-8 is decoded on its own (the good rows never are).
    Utf8 { strict: bool },
    /// Any other encoding: the whole stream is transcoded to UTF-8 before it is parsed, so
    /// that a multi-byte character can never be taken for a delimiter or a quote.
    Other(&'static Encoding),
}

impl TextEncoding {
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 { .. } => "UTF-8",
            TextEncoding::Other(e) => e.name(),
        }
    }
}

/// Parses an `--encoding` label (`utf-8`, `windows-1252`, `latin1`, `gbk`, `utf-16le`, …).
pub fn encoding_from_label(label: &str) -> Result<TextEncoding> {
    let Some(enc) = Encoding::for_label(label.trim().as_bytes()) else {
        bail!(
            "unknown encoding '{label}': try utf-8, gbk, gb18030, big5, shift_jis, euc-kr, \
             windows-1252 or utf-16le"
        );
    };
    if enc == encoding_rs::UTF_8 {
        return Ok(TextEncoding::Utf8 { strict: true });
    }
    if enc == encoding_rs::REPLACEMENT {
        bail!("encoding '{label}' cannot be decoded: save the file as UTF-8");
    }
    Ok(TextEncoding::Other(enc))
}

/// The byte-order mark at the start of the input: how long it is and what it says.
pub fn bom(prefix: &[u8]) -> Option<(usize, TextEncoding)> {
    Encoding::for_bom(prefix).map(|(enc, len)| {
        let t = if enc == encoding_rs::UTF_8 {
            TextEncoding::Utf8 { strict: false }
        } else {
            TextEncoding::Other(enc)
        };
        (len, t)
    })
}

/// The region of the user's locale (`LC_ALL`, `LC_CTYPE`, then `LANG`), lower case, as the
/// top-level-domain hint `chardetng` takes: `zh_CN.UTF-8` gives `cn`, `ja_JP` `jp`; `C`,
/// `POSIX` or nothing give `None`. A few bytes of GBK are as likely Cyrillic to a detector
/// that knows nothing else; knowing the user reads Chinese settles it the way browsers do.
pub fn locale_region(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|k| env(k))
        .find(|v| !v.is_empty())?;
    let name = locale.split(['.', '@']).next().unwrap_or("");
    let (lang, region) = name.split_once('_').unwrap_or((name, ""));
    let two_letters = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic());
    match (lang, region) {
        (_, r) if two_letters(r) => Some(r.to_ascii_lowercase()),
        ("zh", _) => Some("cn".into()),
        _ => None,
    }
}

/// Non-ASCII bytes below which a legacy encoding is a guess on little evidence (a few names
/// in a short file), worth a warning that says how to choose.
pub const FEW_NON_ASCII: usize = 64;

/// UTF-8 if the sample is UTF-8, allowing a few bad lines among good ones (they are then
/// decoded row by row); otherwise the legacy encoding `chardetng` finds in the bytes (GBK,
/// Big5, Shift_JIS, EUC-KR, Windows-125x, ...), decided once for the whole file, with the
/// locale's region as a hint (see [`locale_region`]).
pub fn detect_encoding(sample: &[u8], region: Option<&str>) -> TextEncoding {
    // Judged line by line: in legacy text nearly every line with a non-ASCII byte is invalid
    // UTF-8 (a line that is valid by chance is rare), while a UTF-8 file with a stray byte
    // has many good non-ASCII lines and a few bad ones.
    let (mut good, mut bad) = (0usize, 0usize);
    for line in sample.split(|&b| b == b'\n') {
        if line.is_ascii() {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(_) => good += 1,
            // A character cut at the sample's end is not an error.
            Err(e) if e.error_len().is_none() => good += 1,
            Err(_) => bad += 1,
        }
    }
    if bad == 0 || good >= bad {
        return TextEncoding::Utf8 { strict: false };
    }
    TextEncoding::Other(guess_legacy(sample, region))
}

/// chardetng's guess for bytes that are not UTF-8. The locale's region is heard in one case
/// only: a short sample (fewer than [`FEW_NON_ASCII`] non-ASCII bytes) whose non-ASCII bytes
/// all come in runs of two or more, as double-byte text does, which chardetng alone read as a
/// single-byte encoding (4 bytes of GBK look as much like Cyrillic). A double-byte guess is
/// kept (a Big5 file on a zh_CN machine is still Big5), and so is a file of accented Latin
/// letters, whose non-ASCII bytes stand alone.
pub fn guess_legacy(bytes: &[u8], region: Option<&str>) -> &'static Encoding {
    let mut d = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    d.feed(bytes, true);
    let alone = d.guess(None, chardetng::Utf8Detection::Deny);
    let non_ascii = bytes.iter().filter(|b| !b.is_ascii()).count();
    let paired = bytes
        .split(|b| b.is_ascii())
        .all(|run| run.is_empty() || run.len() >= 2);
    // chardetng panics on a hint that is not lower-case ASCII letters.
    let tld = region.filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase()));
    match tld {
        Some(tld) if non_ascii < FEW_NON_ASCII && paired && alone.is_single_byte() => {
            d.guess(Some(tld.as_bytes()), chardetng::Utf8Detection::Deny)
        }
        _ => alone,
    }
}

/// The candidate that occurs most often, outside quotes, in the first line (the header).
pub fn detect_delimiter(sample: &[u8]) -> u8 {
    let mut counts = [0usize; CANDIDATES.len()];
    let mut quoted = false;
    for &b in sample {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(i) = CANDIDATES.iter().position(|&c| c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    let best = (0..CANDIDATES.len())
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        CANDIDATES[best]
    }
}

/// Parses `--delimiter`: one ASCII character, or the words `tab`, `comma`, `semicolon`, `pipe`.
pub fn delimiter_from_arg(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        "comma" => Ok(b','),
        "semicolon" => Ok(b';'),
        "pipe" => Ok(b'|'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "'{s}' is not a delimiter: give one character such as , ; | or the word tab"
        )),
    }
}

/// An Excel `sep=X` first line (written for locales whose lists use `;`): the delimiter it
/// names and the line's length with its line end. A spreadsheet that read the line as a row
/// of empty cells writes it back as `sep=;;;`, which names `;` too.
pub fn sep_line(text: &[u8]) -> Option<(u8, usize)> {
    if !text.get(..4)?.eq_ignore_ascii_case(b"sep=") {
        return None;
    }
    let d = *text.get(4)?;
    if matches!(d, b'"' | b'\r' | b'\n') || !d.is_ascii() {
        return None;
    }
    let mut n = 5;
    while text.get(n) == Some(&d) {
        n += 1;
    }
    if text.get(n) == Some(&b'\r') {
        n += 1;
    }
    match text.get(n) {
        Some(b'\n') => Some((d, n + 1)),
        None => Some((d, n)),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excel_sep_line_names_the_delimiter() {
        assert_eq!(sep_line(b"sep=;\r\nName;Mail"), Some((b';', 7)));
        assert_eq!(sep_line(b"SEP=|\nName|Mail"), Some((b'|', 6)));
        assert_eq!(sep_line(b"sep=\t\n"), Some((b'\t', 6)));
        assert_eq!(sep_line(b"sep=;;;\r\n"), Some((b';', 9)));
        assert_eq!(sep_line(b"sep=,"), Some((b',', 5)));
        assert_eq!(sep_line(b"sep=;x\n"), None, "a row that starts so");
        assert_eq!(sep_line(b"sep=\n"), None);
        assert_eq!(sep_line(b"separator,b\n"), None);
    }

    #[test]
    fn detects_each_candidate_from_the_header() {
        assert_eq!(detect_delimiter(b"a,b,c\n1;2;3;4;5"), b',');
        assert_eq!(detect_delimiter(b"a;b;c\r\n1,2"), b';');
        assert_eq!(detect_delimiter(b"a\tb\tc\n"), b'\t');
        assert_eq!(detect_delimiter(b"a|b|c"), b'|');
        assert_eq!(detect_delimiter(b"\"x;y;z\",b,c\n"), b',');
        assert_eq!(detect_delimiter(b"single"), b',');
    }

    #[test]
    fn detects_encoding_and_bom() {
        assert_eq!(
            detect_encoding("héllo".as_bytes(), None),
            TextEncoding::Utf8 { strict: false }
        );
        assert_eq!(
            detect_encoding(&"héllo".as_bytes()[..2], None),
            TextEncoding::Utf8 { strict: false }
        );
        assert_eq!(
            detect_encoding("name\nJosé Müller,café\n".repeat(3).as_bytes(), None),
            TextEncoding::Utf8 { strict: false }
        );
        let mut mostly = "name\nJosé Müller,café\n".repeat(3).into_bytes();
        mostly.extend(b"one bad \xe9 row\n");
        assert_eq!(
            detect_encoding(&mostly, None),
            TextEncoding::Utf8 { strict: false },
            "one stray byte does not make a UTF-8 file legacy"
        );
        assert_eq!(
            detect_encoding(b"name\nJos\xe9 M\xfcller,caf\xe9 na\xefve\n", None),
            TextEncoding::Other(encoding_rs::WINDOWS_1252)
        );
        let (gbk, _, _) = encoding_rs::GBK
            .encode("姓名,邮箱\n王丽,wangli@example.cn\n张伟,zhangwei@example.cn\n");
        assert_eq!(
            detect_encoding(&gbk, None),
            TextEncoding::Other(encoding_rs::GBK)
        );
        assert_eq!(bom(b"\xEF\xBB\xBFa,b").map(|b| b.0), Some(3));
        assert_eq!(bom(b"a,b"), None);
        assert_eq!(
            bom(b"\xFF\xFEa\0"),
            Some((2, TextEncoding::Other(encoding_rs::UTF_16LE)))
        );
    }

    #[test]
    fn a_few_cjk_names_are_read_right_with_the_locale_as_hint() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            locale_region(env(&[("LANG", "zh_CN.UTF-8")])).as_deref(),
            Some("cn")
        );
        assert_eq!(
            locale_region(env(&[
                ("LC_ALL", ""),
                ("LC_CTYPE", "ja_JP.eucJP"),
                ("LANG", "C")
            ]))
            .as_deref(),
            Some("jp")
        );
        assert_eq!(
            locale_region(env(&[("LANG", "zh.GBK")])).as_deref(),
            Some("cn")
        );
        assert_eq!(locale_region(env(&[("LANG", "C.UTF-8")])), None);
        assert_eq!(
            locale_region(env(&[("LANG", "sr_RS@latin")])).as_deref(),
            Some("rs")
        );
        assert_eq!(locale_region(env(&[])), None);
        // Accented Latin letters stand alone: a Chinese locale does not make them GBK.
        let (latin, _, _) = encoding_rs::WINDOWS_1252.encode("n,e\nMüller GmbH,Jürgen Müller\n");
        let got = detect_encoding(&latin, Some("cn"));
        assert_eq!(got, TextEncoding::Other(encoding_rs::WINDOWS_1252));
        // A double-byte guess stands whatever the locale.
        let (big5, _, _) = encoding_rs::BIG5.encode("name,email\n陳美玲,a@b.com\n");
        assert_eq!(
            detect_encoding(&big5, None),
            TextEncoding::Other(encoding_rs::BIG5)
        );
        assert_eq!(
            detect_encoding(&big5, Some("cn")),
            TextEncoding::Other(encoding_rs::BIG5)
        );
        for (text, enc, region) in [
            ("name,email\n田中,a@b.com\n", encoding_rs::GBK, "cn"),
            ("name,email\n李,a@b.com\n", encoding_rs::GBK, "cn"),
            ("name,email\n陳大文,a@b.com\n", encoding_rs::BIG5, "tw"),
            ("name,email\n김민수,a@b.com\n", encoding_rs::EUC_KR, "kr"),
            ("name,email\n田中,a@b.com\n", encoding_rs::SHIFT_JIS, "jp"),
        ] {
            let (bytes, _, _) = enc.encode(text);
            let got = detect_encoding(&bytes, Some(region));
            assert_eq!(got, TextEncoding::Other(enc), "{text} in {}", enc.name());
        }
    }

    #[test]
    fn with_enough_text_the_bytes_decide_whatever_the_locale() {
        let text = "客户编号,公司名称,联系人,电话\n".to_string()
            + &"1001,北京华信科技有限公司,王丽,13800138000\n".repeat(20);
        for enc in [encoding_rs::GBK, encoding_rs::BIG5] {
            let (bytes, _, _) = enc.encode(&text);
            for region in [
                None,
                Some("cn"),
                Some("tw"),
                Some("jp"),
                Some("kr"),
                Some("ru"),
            ] {
                let got = detect_encoding(&bytes, region);
                assert_eq!(
                    got,
                    TextEncoding::Other(enc),
                    "{} with {region:?}",
                    enc.name()
                );
            }
        }
    }

    #[test]
    fn encoding_labels() {
        assert_eq!(
            encoding_from_label("UTF-8").unwrap(),
            TextEncoding::Utf8 { strict: true }
        );
        assert_eq!(
            encoding_from_label("latin1").unwrap().name(),
            "windows-1252"
        );
        assert_eq!(encoding_from_label("utf-16le").unwrap().name(), "UTF-16LE");
        assert!(encoding_from_label("klingon").is_err());
    }
}
