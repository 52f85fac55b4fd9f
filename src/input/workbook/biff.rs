//! The records of an `.xls` workbook stream, walked the way `calamine` walks them, to add up
//! what it will hold before it holds it. `calamine` parses every sheet when it opens the file,
//! reserves room for the cells a `DIMENSIONS` record claims, and turns each sheet into a dense
//! range over its cells' bounding box (32 bytes a cell, 24 more where formulas are): two cells
//! at A1 and IV65536 make 16.7 million. It also stops on an encrypted file (`FILEPASS`), which
//! is said here as what it is.

use anyhow::{bail, Result};

use super::limits::{self, MEMORY};

/// One record, with the data of the `CONTINUE` records that follow it.
struct Rec<'a> {
    typ: u16,
    data: &'a [u8],
    cont: Vec<&'a [u8]>,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(i)?,
        *b.get(i + 1)?,
        *b.get(i + 2)?,
        *b.get(i + 3)?,
    ]))
}

fn damaged(what: &str) -> anyhow::Error {
    anyhow::anyhow!("its {what} is damaged (or the file is cut off)")
}

/// The records from `stream`, as `calamine`'s `RecordIter` yields them.
fn records(mut stream: &[u8]) -> impl Iterator<Item = Result<Rec<'_>>> {
    std::iter::from_fn(move || {
        if stream.is_empty() {
            return None;
        }
        let (Some(typ), Some(len)) = (u16_at(stream, 0), u16_at(stream, 2)) else {
            stream = &[];
            return Some(Err(damaged("record list")));
        };
        let len = usize::from(len);
        if stream.len() < len + 4 {
            stream = &[];
            return Some(Err(damaged("record list")));
        }
        let data = &stream[4..len + 4];
        stream = &stream[len + 4..];
        let mut cont = Vec::new();
        while stream.len() > 4 && u16_at(stream, 0) == Some(0x003C) {
            let l = usize::from(u16_at(stream, 2).unwrap_or(0));
            if stream.len() < l + 4 {
                stream = &[];
                return Some(Err(damaged("record list")));
            }
            cont.push(&stream[4..l + 4]);
            stream = &stream[l + 4..];
        }
        Some(Ok(Rec { typ, data, cont }))
    })
}

/// A sheet's cells as `calamine` will hold them.
#[derive(Default)]
struct Sheet {
    name: String,
    cells: u64,
    reserved: u64,
    bbox: Option<(u64, u64, u64, u64)>,
    text: u64,
    formulas: u64,
    formula_bbox: Option<(u64, u64, u64, u64)>,
    formula_text: u64,
}

fn grow(b: &mut Option<(u64, u64, u64, u64)>, row: u64, col: u64) {
    *b = Some(match *b {
        None => (row, col, row, col),
        Some((r0, c0, r1, c1)) => (r0.min(row), c0.min(col), r1.max(row), c1.max(col)),
    });
}

fn area(b: Option<(u64, u64, u64, u64)>) -> u64 {
    b.map_or(0, |(r0, c0, r1, c1)| (r1 - r0 + 1) * (c1 - c0 + 1))
}

impl Sheet {
    fn cell(&mut self, row: u64, col: u64, text: u64) {
        self.cells += 1;
        grow(&mut self.bbox, row, col);
        if text > 0 {
            self.text += (text + 16).max(32);
        }
    }

    /// Held once read: dense values and formulas with their text.
    fn held(&self) -> u64 {
        area(self.bbox) * 32 + self.text + area(self.formula_bbox) * 24 + self.formula_text
    }

    /// While read: the cells as a list too (40 bytes each, or as many as reserved).
    fn reading(&self) -> u64 {
        self.cells.max(self.reserved) * 40 + self.formulas * 32 + self.held()
    }
}

/// Refuses an encrypted workbook, and one whose sheets would not fit [`MEMORY`].
pub fn check(stream: &[u8], file_len: u64) -> Result<()> {
    let mut sheets: Vec<(usize, String)> = Vec::new();
    let mut strings: Vec<u64> = Vec::new();
    let mut names = false;
    for r in records(stream) {
        let r = r?;
        match r.typ {
            0x002F if u16_at(r.data, 0).unwrap_or(0) != 0 => bail!(
                "the workbook is password-protected: open it in Excel with its password, save \
                 a copy without one, and run again on that copy"
            ),
            0x0085 => {
                let pos = u32_at(r.data, 0).ok_or_else(|| damaged("sheet list"))?;
                sheets.push((pos as usize, sheet_name(r.data)));
            }
            0x00FC => strings = shared_strings(&r)?,
            0x0018 => names = true,
            0x000A => break,
            _ => {}
        }
    }
    let sst = strings.len() as u64 * 24 + strings.iter().sum::<u64>();
    // Formula text: a token of a few bytes may name a defined name of up to 255 characters.
    let per_formula_byte = if names { 52 } else { 10 };
    let (mut held, mut clone) = (0u64, 0u64);
    let base = file_len + stream.len() as u64 + sst;
    for (pos, name) in sheets {
        let Some(at) = stream.get(pos..) else {
            return Err(damaged(&format!("sheet '{name}'")));
        };
        let s = sheet(at, name, &strings, per_formula_byte)?;
        // The peak: this sheet parsed (its cells as a list and as a range at once), or all
        // sheets held and the largest copied when it is read.
        let parsing = held + s.reading();
        held += s.held();
        clone = clone.max(area(s.bbox) * 32 + s.text);
        let need = base + parsing.max(held + clone);
        if need > MEMORY {
            let (r0, c0, r1, c1) = s.bbox.unwrap_or_default();
            bail!(
                "sheet '{}' spans {}:{} ({} cells, {} of them filled): reading the workbook \
                 would take about {} of memory, more than the {} allowed; delete the stray cells \
                 far from the data (or save the sheet as CSV) and run again",
                s.name,
                limits::cell_ref(r0, c0),
                limits::cell_ref(r1, c1),
                limits::thousands(area(s.bbox)),
                limits::thousands(s.cells),
                limits::size(need),
                limits::size(MEMORY)
            );
        }
    }
    Ok(())
}

/// A `BoundSheet8` record's name, for messages.
fn sheet_name(d: &[u8]) -> String {
    let cch = usize::from(*d.get(6).unwrap_or(&0));
    match d.get(7) {
        Some(&flags) if flags & 1 == 1 => {
            let units: Vec<u16> = d
                .get(8..8 + 2 * cch)
                .unwrap_or(&[])
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => d
            .get(8..8 + cch)
            .unwrap_or(&[])
            .iter()
            .map(|&b| char::from(b))
            .collect(),
    }
}

/// Upper bounds of the UTF-8 length of each shared string, read as `calamine` reads them
/// (characters continue across `CONTINUE` records, each continuation with its own flags).
fn shared_strings(r: &Rec<'_>) -> Result<Vec<u64>> {
    let bad = || damaged("shared string table");
    let mut data = r.data.get(8..).ok_or_else(bad)?;
    let mut cont = r.cont.iter();
    let mut out = Vec::new();
    fn skip<'a>(
        data: &mut &'a [u8],
        cont: &mut std::slice::Iter<'_, &'a [u8]>,
        mut n: usize,
    ) -> Result<()> {
        while n > 0 {
            if data.is_empty() {
                *data = cont.next().ok_or_else(|| damaged("shared string table"))?;
                continue;
            }
            let l = n.min(data.len());
            *data = &data[l..];
            n -= l;
        }
        Ok(())
    }
    loop {
        if data.is_empty() {
            match cont.next() {
                Some(next) => data = next,
                None => return Ok(out),
            }
            continue;
        }
        let cch = usize::from(u16_at(data, 0).ok_or_else(bad)?);
        let flags = *data.get(2).ok_or_else(bad)?;
        data = &data[3..];
        let mut runs = 0usize;
        if flags & 0x8 != 0 {
            runs = usize::from(u16_at(data, 0).ok_or_else(bad)?);
            data = &data[2..];
        }
        let mut ext = 0usize;
        if flags & 0x4 != 0 {
            ext = u32_at(data, 0).ok_or_else(bad)? as usize;
            data = &data[4..];
        }
        let mut wide = flags & 1 != 0;
        let mut left = cch;
        while left > 0 {
            let width = if wide { 2 } else { 1 };
            let n = left.min(data.len() / width);
            data = &data[n * width..];
            left -= n;
            if left > 0 {
                let next = cont.next().ok_or_else(bad)?;
                wide = *next.first().ok_or_else(bad)? & 1 != 0;
                data = &next[1..];
            }
        }
        skip(&mut data, &mut cont, runs * 4)?;
        skip(&mut data, &mut cont, ext)?;
        out.push(cch as u64 * 3);
    }
}

/// One sheet's substream from its `BOF`, as `calamine` reads it.
fn sheet(stream: &[u8], name: String, strings: &[u64], per_formula_byte: u64) -> Result<Sheet> {
    let mut s = Sheet {
        name,
        ..Sheet::default()
    };
    let sheet_name = s.name.clone();
    let bad = |what: &str| damaged(&format!("sheet '{sheet_name}' ({what})"));
    let (mut seen_bof, mut depth) = (false, 0usize);
    let mut formula_at = (0u64, 0u64);
    for r in records(stream) {
        let r = r?;
        let d = r.data;
        if depth > 0 {
            match r.typ {
                0x0809 => depth += 1,
                0x000A => depth -= 1,
                _ => {}
            }
            continue;
        }
        let at =
            || -> Option<(u64, u64)> { Some((u64::from(u16_at(d, 0)?), u64::from(u16_at(d, 2)?))) };
        match r.typ {
            0x0809 if seen_bof => depth += 1,
            0x0809 => seen_bof = true,
            0x0200 => {
                let (rf, rl, mut cf, cl) = match d.len() {
                    10 => (
                        u64::from(u16_at(d, 0).unwrap_or(0)),
                        u64::from(u16_at(d, 2).unwrap_or(0)),
                        u64::from(u16_at(d, 4).unwrap_or(0)),
                        u64::from(u16_at(d, 6).unwrap_or(0)),
                    ),
                    14 | 16 => (
                        u64::from(u32_at(d, 0).unwrap_or(0)),
                        u64::from(u32_at(d, 4).unwrap_or(0)),
                        u64::from(u16_at(d, 8).unwrap_or(0)),
                        u64::from(u16_at(d, 10).unwrap_or(0)),
                    ),
                    _ => return Err(bad("DIMENSIONS")),
                };
                if cf > 0xFF || cl < cf {
                    cf = 0;
                }
                if rl >= 1 && cl >= 1 {
                    if rl - 1 < rf {
                        return Err(bad("DIMENSIONS"));
                    }
                    s.reserved = (rl - rf) * (cl - cf);
                }
            }
            0x0203 | 0x0205 | 0x027E => {
                let (row, col) = at().ok_or_else(|| bad("cell"))?;
                s.cell(row, col, 0);
            }
            0x0204 | 0x00D6 => {
                let (row, col) = at().ok_or_else(|| bad("cell"))?;
                s.cell(row, col, u64::from(u16_at(d, 6).unwrap_or(0)) * 3);
            }
            0x0207 => s.cell(
                formula_at.0,
                formula_at.1,
                u64::from(u16_at(d, 0).unwrap_or(0)) * 3,
            ),
            0x00FD => {
                let (row, col) = at().ok_or_else(|| bad("cell"))?;
                let i = u32_at(d, 6).ok_or_else(|| bad("cell"))? as usize;
                if let Some(&len) = strings.get(i) {
                    s.cell(row, col, len);
                }
            }
            0x00BD => {
                let (row, first) = at().ok_or_else(|| bad("cell"))?;
                let last = u64::from(u16_at(d, d.len().saturating_sub(2)).unwrap_or(0));
                if last < first {
                    return Err(bad("MULRK"));
                }
                grow(&mut s.bbox, row, first);
                grow(&mut s.bbox, row, last);
                s.cells += last - first + 1;
            }
            0x0006 => {
                if d.len() < 20 {
                    return Err(bad("FORMULA"));
                }
                let (row, col) = at().ok_or_else(|| bad("cell"))?;
                formula_at = (row, col);
                s.cell(row, col, 0);
                s.formulas += 1;
                grow(&mut s.formula_bbox, row, col);
                s.formula_text += (d.len() as u64 - 20) * per_formula_byte + 32;
            }
            0x000A => break,
            _ => {}
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut v = typ.to_le_bytes().to_vec();
        v.extend((data.len() as u16).to_le_bytes());
        v.extend(data);
        v
    }

    #[test]
    fn shared_string_lengths_follow_continue_records() {
        // Two strings: "ab" (compressed), then "cdef" split over a CONTINUE, wide after it.
        let mut sst = vec![0u8; 8];
        sst.extend([2, 0, 0, b'a', b'b']);
        sst.extend([4, 0, 0, b'c', b'd']);
        let mut stream = rec(0x00FC, &sst);
        stream.extend(rec(0x003C, &[1, b'e', 0, b'f', 0]));
        let r = records(&stream).next().unwrap().unwrap();
        assert_eq!(shared_strings(&r).unwrap(), [6, 12]);
    }

    #[test]
    fn an_encrypted_workbook_and_a_sprawling_sheet_are_refused() {
        let mut s = rec(0x0809, &[0, 6, 5, 0]);
        s.extend(rec(0x002F, &[1, 0]));
        let err = check(&s, 0).unwrap_err().to_string();
        assert!(err.contains("password"), "{err}");
        // A sheet with cells at A1 and IV65536.
        let mut globals = rec(0x0809, &[0, 6, 5, 0]);
        let sheet_at = globals.len() + 4 + 12 + 4;
        globals.extend(rec(
            0x0085,
            &[&(sheet_at as u32).to_le_bytes()[..], &[0, 0, 4, 0], b"Wide"].concat(),
        ));
        globals.extend(rec(0x000A, &[]));
        assert_eq!(globals.len(), sheet_at);
        let mut sheet = rec(0x0809, &[0, 6, 16, 0]);
        sheet.extend(rec(0x0203, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        sheet.extend(rec(
            0x0203,
            &[0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ));
        sheet.extend(rec(0x000A, &[]));
        let stream = [globals, sheet].concat();
        let err = check(&stream, 0).unwrap_err().to_string();
        assert!(err.contains("'Wide'") && err.contains("IV65536"), "{err}");
    }
}
