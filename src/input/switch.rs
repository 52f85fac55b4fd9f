//! Encodings that switch inside a file. Two exports joined into one (`cat a.csv b.csv`) can
//! start in UTF-16 and go on in UTF-8: decoded as UTF-16, the UTF-8 tail turns into a run of
//! CJK-looking characters without a single line end, and its rows collapse into one garbage
//! row. [`Utf16Watch`] looks at the raw bytes on their way to the UTF-16 decoder and stops the
//! read where they turn into UTF-8.
//!
//! In UTF-16 text every line ends in a code unit whose high byte is zero (`\n` is `0A 00` in
//! little-endian), and so do the delimiters, digits and Latin letters a lead list is made of.
//! UTF-8 text holds no zero byte at all. So the watch follows runs of code units with a
//! non-zero high byte; a run of at least [`MIN_RUN`] bytes that is valid UTF-8 by itself, holds
//! no zero byte, two line feeds and a delimiter or `@` is a UTF-8 tail. (A run of genuine
//! UTF-16 text passes that test only if all of its 8 or more characters have two bytes below
//! 0x80, two of them a 0x0A byte and one a byte like `,` or `@`: such characters are rare, and
//! eight in a row between two delimiters rarer still.)

use std::io::{self, Read};

/// Bytes of a run before it can be called UTF-8 (8 characters of UTF-16; two short rows).
pub const MIN_RUN: usize = 16;

/// Bytes of a run kept to judge it.
const KEEP: usize = 4096;

pub struct Utf16Watch<R> {
    inner: R,
    big_endian: bool,
    label: String,
    /// Raw bytes seen so far.
    offset: u64,
    /// The first byte of a code unit whose second byte has not come yet.
    half: Option<u8>,
    /// The current run of code units with a non-zero high byte: where it starts, its bytes.
    run_start: u64,
    run: Vec<u8>,
    /// Line feeds (`0x000A` units) before the run, to name its line.
    lines: u64,
    judged: bool,
}

impl<R: Read> Utf16Watch<R> {
    pub fn new(inner: R, big_endian: bool, label: String) -> Utf16Watch<R> {
        Utf16Watch {
            inner,
            big_endian,
            label,
            offset: 0,
            half: None,
            run_start: 0,
            run: Vec::new(),
            lines: 0,
            judged: false,
        }
    }

    /// An error if the run so far is UTF-8 text.
    fn judge(&mut self) -> io::Result<()> {
        if self.judged || self.run.len() < MIN_RUN {
            return Ok(());
        }
        let utf8 = match std::str::from_utf8(&self.run) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none() && self.run.len() >= KEEP,
        };
        let feeds = self.run.iter().filter(|&&b| b == b'\n').count();
        let nul = self.run.contains(&0);
        let delimited = self.run.iter().any(|b| b",;\t|@".contains(b));
        if utf8 && feeds >= 2 && !nul && delimited {
            self.judged = true;
            let from = if self.big_endian {
                "UTF-16BE"
            } else {
                "UTF-16LE"
            };
            return Err(io::Error::other(format!(
                "{} switches from {from} to UTF-8 at byte {} (line {}): two exports joined into \
                 one file? Its rest would be read as garbage: save it as one file in one \
                 encoding (or split it at that line) and run again",
                self.label,
                self.run_start,
                self.lines + 1
            )));
        }
        Ok(())
    }

    fn unit(&mut self, first: u8, second: u8) -> io::Result<()> {
        let (high, low) = if self.big_endian {
            (first, second)
        } else {
            (second, first)
        };
        if high == 0 {
            self.judge()?;
            self.run.clear();
            self.run_start = self.offset;
            if low == b'\n' {
                self.lines += 1;
            }
        } else if self.run.len() < KEEP {
            self.run.extend([first, second]);
            if self.run.len() >= KEEP {
                self.judge()?;
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Utf16Watch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            // An odd byte at the end belongs to the run too (UTF-8 has no pairs).
            if let Some(b) = self.half.take() {
                self.run.push(b);
            }
            self.judge()?;
            return Ok(0);
        }
        for &b in &buf[..n] {
            self.offset += 1;
            match self.half.take() {
                None => self.half = Some(b),
                Some(first) => self.unit(first, b)?,
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], big_endian: bool) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Utf16Watch::new(bytes, big_endian, "f".into()).read_to_end(&mut out)?;
        Ok(out)
    }

    fn utf16(s: &str, big_endian: bool) -> Vec<u8> {
        s.encode_utf16()
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn a_utf8_tail_is_stopped_and_located() {
        for be in [false, true] {
            let mut bytes = utf16("\u{feff}姓名,邮箱\n王丽,wl@example.cn\n", be);
            let at = bytes.len();
            bytes.extend("name,email\nAnn,a@example.com\n李娜,ln@example.cn\n".as_bytes());
            let err = read(&bytes, be).unwrap_err().to_string();
            assert!(
                err.contains(&format!("byte {at}")) && err.contains("line 3"),
                "{err}"
            );
        }
    }

    #[test]
    fn utf16_text_of_any_script_passes() {
        // Runs of CJK text whose bytes are all below 0x80, with 上 (U+4E0A: a 0x0A byte).
        let text = "名称,备注\n上海,上上上上上上上上上上上上上上上上上上上上\n丽丽丽丽丽丽丽丽丽丽丽丽丽丽丽丽丽丽丽,x\n한국어 텍스트입니다,ok\nПривет мир,ok\n";
        for be in [false, true] {
            let bytes = utf16(text, be);
            assert_eq!(read(&bytes, be).unwrap(), bytes);
        }
    }
}
