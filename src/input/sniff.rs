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
    /// Otherwise a record that is not UTF-8 is read as Windows-1252, as the contract says.
    Utf8 { strict: bool },
    /// Any other ASCII-compatible encoding (Windows-1252 by default).
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

/// Parses an `--encoding` label (`utf-8`, `windows-1252`, `latin1`, `gbk`, …).
pub fn encoding_from_label(label: &str) -> Result<TextEncoding> {
    let Some(enc) = Encoding::for_label(label.trim().as_bytes()) else {
        bail!("unknown encoding '{label}': try utf-8, windows-1252, iso-8859-15 or gbk");
    };
    if enc == encoding_rs::UTF_8 {
        return Ok(TextEncoding::Utf8 { strict: true });
    }
    if !enc.is_ascii_compatible() {
        bail!(
            "encoding {} is not supported: save the file as UTF-8 (or an ASCII-compatible encoding)",
            enc.name()
        );
    }
    Ok(TextEncoding::Other(enc))
}

/// Strips a UTF-8 BOM (returning how many bytes to skip) and refuses UTF-16/32 ones.
pub fn bom_len(prefix: &[u8]) -> Result<usize> {
    if prefix.starts_with(b"\xEF\xBB\xBF") {
        return Ok(3);
    }
    if prefix.starts_with(b"\xFF\xFE") || prefix.starts_with(b"\xFE\xFF") {
        bail!(
            "the input is UTF-16 (it starts with a UTF-16 byte-order mark): save it as UTF-8 CSV"
        );
    }
    Ok(0)
}

/// UTF-8 if the sample is valid UTF-8 (a character cut at the sample's end is fine),
/// Windows-1252 otherwise.
pub fn detect_encoding(sample: &[u8]) -> TextEncoding {
    match std::str::from_utf8(sample) {
        Ok(_) => TextEncoding::Utf8 { strict: false },
        Err(e) if e.error_len().is_none() => TextEncoding::Utf8 { strict: false },
        Err(_) => TextEncoding::Other(encoding_rs::WINDOWS_1252),
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

#[cfg(test)]
mod tests {
    use super::*;

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
            detect_encoding("héllo".as_bytes()),
            TextEncoding::Utf8 { strict: false }
        );
        assert_eq!(
            detect_encoding(&"héllo".as_bytes()[..2]),
            TextEncoding::Utf8 { strict: false }
        );
        assert_eq!(
            detect_encoding(b"h\xe9llo"),
            TextEncoding::Other(encoding_rs::WINDOWS_1252)
        );
        assert_eq!(bom_len(b"\xEF\xBB\xBFa,b").unwrap(), 3);
        assert_eq!(bom_len(b"a,b").unwrap(), 0);
        assert!(bom_len(b"\xFF\xFEa\0").is_err());
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
        assert!(encoding_from_label("utf-16le").is_err());
        assert!(encoding_from_label("klingon").is_err());
    }
}
