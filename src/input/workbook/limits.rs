//! What a workbook may inflate to. A workbook is a ZIP of XML parts (xlsx, ods) or a compound
//! file of binary records (xls), and a few kilobytes of either can stand for gigabytes of cells
//! or text. `calamine` reads some parts whole and expands ranges densely, so these bounds are
//! checked before it is given the file; what it streams (xlsx sheets) is only bounded per node
//! and per cell. The limits are chosen so that checkuser's own largest outputs (1,048,576 rows
//! per sheet, continued in `Results 2`, …, written with inline strings) are read, while peak
//! memory stays well under 256 MB:
//!
//! - nothing is bounded by the size of a sheet, only by cells and bytes per cell: an xlsx
//!   sheet is streamed; xls and ods sheets are held as ranges, bounded by [`MEMORY`];
//! - [`MAX_ROWS`] × [`MAX_COLUMNS`] is the grid of Excel and LibreOffice: a cell outside it is
//!   refused;
//! - [`MAX_CELL`] bytes of text per cell (Excel holds at most 32,767 characters);
//! - [`MAX_NODE`] bytes of XML without a `<` (one text or tag that big is no spreadsheet's);
//! - [`MAX_PART`] for each part read whole that holds no cells (relationships, workbook,
//!   styles, theme, manifest) and [`MAX_SHARED_STRINGS_PART`] for the shared strings, whose
//!   memory is also counted against [`MEMORY`];
//! - [`MAX_ZIP_ENTRIES`] entries in the archive;
//! - [`max_text`] bytes of converted text in all, proportional to the file (cells that repeat
//!   one long shared string are a disk bomb otherwise).

use std::io::{self, Read};

/// Entries of a ZIP workbook (a real one has a few dozen).
pub const MAX_ZIP_ENTRIES: u64 = 10_000;
/// Uncompressed bytes of a part that is read whole and holds no cells.
pub const MAX_PART: u64 = 16 << 20;
/// Uncompressed bytes of the shared-strings part.
pub const MAX_SHARED_STRINGS_PART: u64 = 96 << 20;
/// Bytes of XML without a `<`: the longest text or tag `calamine`'s XML reader may buffer.
pub const MAX_NODE: u64 = 4 << 20;
/// Bytes of text in one cell.
pub const MAX_CELL: u64 = 256 << 10;
/// Estimated memory for what `calamine` holds at once: shared strings, and xls/ods ranges
/// (32 bytes per cell of their bounding box, 24 more where formulas are kept) with their text.
pub const MEMORY: u64 = 160 << 20;
/// Rows of a worksheet (Excel's and LibreOffice's grid).
pub const MAX_ROWS: u64 = 1_048_576;
/// Columns of a worksheet (`XFD`).
pub const MAX_COLUMNS: u64 = 16_384;

/// Bytes of text the converted sheets may hold in all: 256 MiB plus 64 times the file.
pub fn max_text(file_len: u64) -> u64 {
    (256 << 20) + file_len.saturating_mul(64)
}

/// `160 MiB`, `256 KiB`.
pub fn size(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n.div_ceil(1 << 20))
    } else {
        format!("{} KiB", n.div_ceil(1 << 10))
    }
}

/// `16,384`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A cell's name from 0-based row and column: `(1, 1)` is `B2`.
pub fn cell_ref(row: u64, col: u64) -> String {
    let mut letters = Vec::new();
    let mut c = col + 1;
    while c > 0 {
        letters.push(b'A' + ((c - 1) % 26) as u8);
        c = (c - 1) / 26;
    }
    letters.reverse();
    format!("{}{}", String::from_utf8_lossy(&letters), row + 1)
}

/// An inflating part held to its limits: at most `max_total` bytes in all and [`MAX_NODE`]
/// without a `<`. Past a limit it fails, and [`Capped::tripped`] says which and where.
pub struct Capped<R> {
    inner: R,
    part: String,
    total: u64,
    max_total: u64,
    since_lt: u64,
    tripped: Option<String>,
}

impl<R: Read> Capped<R> {
    pub fn new(inner: R, part: &str, max_total: u64) -> Capped<R> {
        Capped {
            inner,
            part: part.to_string(),
            total: 0,
            max_total,
            since_lt: 0,
            tripped: None,
        }
    }

    /// Why reading stopped, if a limit stopped it.
    pub fn tripped(&self) -> Option<&str> {
        self.tripped.as_deref()
    }

    /// Bytes read so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn trip(&mut self, why: String) -> io::Error {
        self.tripped = Some(why.clone());
        io::Error::other(why)
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(why) = &self.tripped {
            return Err(io::Error::other(why.clone()));
        }
        let n = self.inner.read(buf)?;
        self.total += n as u64;
        if self.total > self.max_total {
            let why = format!(
                "the part {} inflates to more than {}, the limit for it",
                self.part,
                size(self.max_total)
            );
            return Err(self.trip(why));
        }
        match buf[..n].iter().rposition(|&b| b == b'<') {
            Some(at) => self.since_lt = (n - at - 1) as u64,
            None => self.since_lt += n as u64,
        }
        if self.since_lt > MAX_NODE {
            let why = format!(
                "the part {} holds more than {} of text without markup (near byte {}), more than \
                 any cell or tag a spreadsheet writes",
                self.part,
                size(MAX_NODE),
                thousands(self.total)
            );
            return Err(self.trip(why));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_for_messages() {
        assert_eq!(cell_ref(0, 0), "A1");
        assert_eq!(cell_ref(1, 1), "B2");
        assert_eq!(cell_ref(65535, 255), "IV65536");
        assert_eq!(cell_ref(0, 16_383), "XFD1");
        assert_eq!(thousands(16_384), "16,384");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_048_576), "1,048,576");
        assert_eq!(size(MEMORY), "160 MiB");
        assert_eq!(size(MAX_CELL), "256 KiB");
    }

    #[test]
    fn a_capped_part_stops_at_its_limits() {
        let mut ok = Capped::new(&b"<a>text</a>"[..], "p", 100);
        let mut s = String::new();
        ok.read_to_string(&mut s).unwrap();
        assert_eq!(ok.tripped(), None);
        let big = vec![b'x'; 300];
        let mut c = Capped::new(&big[..], "p.xml", 200);
        assert!(c.read_to_end(&mut Vec::new()).is_err());
        assert!(c.tripped().unwrap().contains("p.xml"));
        let node = vec![b'y'; MAX_NODE as usize + 10];
        let mut c = Capped::new(&node[..], "q.xml", u64::MAX);
        assert!(c.read_to_end(&mut Vec::new()).is_err());
        assert!(c.tripped().unwrap().contains("without markup"));
    }
}
