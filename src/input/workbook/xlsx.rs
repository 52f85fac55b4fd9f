//! An xlsx before `calamine` opens it: its parts found as `calamine` finds them, the shared
//! strings counted and sized (`calamine` holds them all, and trusts the count the file
//! declares), and each sheet to be read scanned once for what its streaming reader cannot
//! refuse: a cell outside the grid, a cell too big, a shared-string index that does not exist
//! (`calamine` reads `-1` as string 0).

use std::collections::HashMap;
use std::io::BufReader;

use anyhow::{bail, Result};
use quick_xml::events::Event;

use super::limits::{
    self, MAX_CELL, MAX_COLUMNS, MAX_PART, MAX_ROWS, MAX_SHARED_STRINGS_PART, MEMORY,
};
use super::zipped::{attr, xml, Zipped};

/// What the scan learnt: where each sheet's part is, and each shared string's length.
pub struct XlsxFacts {
    sheets: HashMap<String, String>,
    /// Bytes of text of each shared string, in order.
    strings: Vec<u32>,
}

/// Reads the parts `calamine` reads whole, within their limits.
pub fn inspect(z: &mut Zipped) -> Result<XlsxFacts> {
    let rels = z.read("_rels/.rels", MAX_PART)?;
    let Some(target) = relationships(&rels)?
        .into_iter()
        .find(|r| r.1.ends_with("/relationships/officeDocument"))
        .map(|r| r.2)
    else {
        bail!("the xlsx names no workbook part in _rels/.rels: the file is damaged");
    };
    let (dir, name) = match target.rfind('/') {
        Some(i) => target.split_at(i + 1),
        None => ("", target.as_str()),
    };
    let dir = dir.strip_prefix('/').unwrap_or(dir).to_string();
    let book_rels: HashMap<String, String> =
        relationships(&z.read(&format!("{dir}_rels/{name}.rels"), MAX_PART)?)?
            .into_iter()
            .map(|(id, _, target)| (id, target))
            .collect();
    let book = z.read(&format!("{dir}{name}"), MAX_PART)?;
    let mut sheets = HashMap::new();
    let mut x = xml(&book[..]);
    let mut buf = Vec::new();
    loop {
        match x.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "sheet" => {
                let name = attr(&e, "name", false)?.unwrap_or_default();
                let id = attr(&e, "id", true)?.unwrap_or_default();
                if let Some(t) = book_rels.get(&id) {
                    let path = match t.strip_prefix('/') {
                        Some(abs) => abs.to_string(),
                        None => format!("{dir}{t}"),
                    };
                    sheets.insert(name, path);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let strings = shared_strings(z, &format!("{dir}sharedStrings.xml"))?;
    z.drain(&format!("{dir}styles.xml"))?;
    z.drain(&format!("{dir}theme/theme1.xml"))?;
    Ok(XlsxFacts { sheets, strings })
}

/// `(Id, Type, Target)` of each relationship.
fn relationships(xml_bytes: &[u8]) -> Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    let mut x = xml(xml_bytes);
    let mut buf = Vec::new();
    loop {
        match x.read_event_into(&mut buf)? {
            Event::Start(e) if e.local_name().as_ref() == "Relationship" => out.push((
                attr(&e, "Id", false)?.unwrap_or_default(),
                attr(&e, "Type", false)?.unwrap_or_default(),
                attr(&e, "Target", false)?.unwrap_or_default(),
            )),
            Event::Eof => return Ok(out),
            _ => {}
        }
        buf.clear();
    }
}

/// The length of each shared string; refuses a table that would not fit [`MEMORY`].
fn shared_strings(z: &mut Zipped, path: &str) -> Result<Vec<u32>> {
    let Some(part) = z.part(path, MAX_SHARED_STRINGS_PART)? else {
        return Ok(Vec::new());
    };
    let mut x = xml(BufReader::new(part));
    let (mut lens, mut declared, mut text) = (Vec::new(), 0u64, 0u64);
    let mut current: Option<u64> = None;
    let mut buf = Vec::new();
    // Each string costs its text, a `String` (24 bytes) and the allocator's rounding (~16).
    let estimate = |n: u64, text: u64, declared: u64| n.max(declared) * 24 + n * 16 + text;
    loop {
        let ev = match x.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => match x.get_ref().get_ref().tripped() {
                Some(why) => bail!("{why}"),
                None => bail!("the part {path} is not well-formed XML: {e}"),
            },
        };
        match ev {
            Event::Start(e) if e.local_name().as_ref() == "sst" => {
                if let Some(n) = attr(&e, "uniqueCount", false)? {
                    declared = n.trim().parse().unwrap_or(0);
                }
                if estimate(0, 0, declared) > MEMORY {
                    bail!(
                        "the part {path} declares {declared} shared strings, and making room \
                         for them would take {}, more than the {} allowed",
                        limits::size(declared * 24),
                        limits::size(MEMORY)
                    );
                }
            }
            Event::Start(e) if e.local_name().as_ref() == "si" => current = Some(0),
            Event::End(e) if e.local_name().as_ref() == "si" => {
                let len = current.take().unwrap_or(0);
                lens.push(len.min(u64::from(u32::MAX)) as u32);
                text += len;
            }
            Event::Text(t) => {
                if let Some(n) = current.as_mut() {
                    *n += t.len() as u64;
                }
            }
            Event::GeneralRef(_) => {
                if let Some(n) = current.as_mut() {
                    *n += 4;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
        let est = estimate(lens.len() as u64, text, declared);
        if est > MEMORY {
            let declared = match declared > lens.len() as u64 {
                true => format!(" of {} it declares", limits::thousands(declared)),
                false => String::new(),
            };
            bail!(
                "the shared strings ({path}: {} strings{declared}, {} of text so far) would take \
                 more than the {} of memory allowed for them: save the workbook as CSV and check \
                 that",
                limits::thousands(lens.len() as u64),
                limits::size(text),
                limits::size(MEMORY)
            );
        }
    }
    Ok(lens)
}

/// A cell being scanned.
struct CellScan {
    row: u64,
    col: u64,
    shared: bool,
    in_v: bool,
    in_f: bool,
    text: u64,
    index: String,
}

/// Scans the part of sheet `name` for cells outside the grid, cells with more than
/// [`MAX_CELL`] bytes of text, and shared-string indexes that do not exist.
pub fn scan_sheet(z: &mut Zipped, facts: &XlsxFacts, name: &str) -> Result<()> {
    let Some(path) = facts.sheets.get(name) else {
        return Ok(()); // calamine says what is missing
    };
    let Some(part) = z.part(path, u64::MAX)? else {
        return Ok(());
    };
    let mut x = xml(BufReader::new(part));
    let (mut row, mut col) = (0u64, 0u64);
    let mut cell: Option<CellScan> = None;
    let mut buf = Vec::new();
    let here =
        |row: u64, col: u64| format!("cell {} of sheet '{name}'", limits::cell_ref(row, col));
    loop {
        let ev = match x.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => match x.get_ref().get_ref().tripped() {
                Some(why) => bail!("sheet '{name}': {why}"),
                None => bail!("sheet '{name}' ({path}) is not well-formed XML: {e}"),
            },
        };
        match ev {
            Event::Start(e) => match e.local_name().as_ref() {
                "row" => {
                    if let Some(r) = raw_attr(&e, "r")? {
                        let r: u64 = r.trim().parse().unwrap_or(0);
                        if r == 0 || r > MAX_ROWS {
                            bail!(
                                "sheet '{name}' has a row numbered {r}, outside the {} rows a \
                                 worksheet has",
                                limits::thousands(MAX_ROWS)
                            );
                        }
                        row = r - 1;
                    }
                }
                "c" => {
                    // One pass over the attributes, their raw text (no copies: this is the
                    // loop over every cell).
                    let mut shared = false;
                    for a in e.attributes().with_checks(false) {
                        let a = a?;
                        match a.key.as_ref() {
                            "r" => {
                                (row, col) = position(&a.value).ok_or_else(|| {
                                    anyhow::anyhow!(
                                        "sheet '{name}' has a cell named '{}', which is no cell",
                                        a.value
                                    )
                                })?
                            }
                            "t" => shared = a.value == "s",
                            _ => {}
                        }
                    }
                    check_grid(name, row, col)?;
                    cell = Some(CellScan {
                        row,
                        col,
                        shared,
                        in_v: false,
                        in_f: false,
                        text: 0,
                        index: String::new(),
                    });
                }
                "v" => cell.iter_mut().for_each(|c| c.in_v = true),
                "f" => cell.iter_mut().for_each(|c| c.in_f = true),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "row" => (row, col) = (row + 1, 0),
                "v" => cell.iter_mut().for_each(|c| c.in_v = false),
                "f" => cell.iter_mut().for_each(|c| c.in_f = false),
                "c" => {
                    if let Some(c) = cell.take() {
                        let text = if c.shared {
                            shared_text(&c, &facts.strings)
                                .map_err(|why| anyhow::anyhow!("{} {why}", here(c.row, c.col)))?
                        } else {
                            c.text
                        };
                        if text > MAX_CELL {
                            bail!(
                                "{} holds {} of text, more than the {} a cell may hold here \
                                 (Excel's own limit is 32,767 characters)",
                                here(c.row, c.col),
                                limits::size(text),
                                limits::size(MAX_CELL)
                            );
                        }
                    }
                    col += 1;
                }
                _ => {}
            },
            Event::Text(t) => {
                if let Some(c) = cell.as_mut().filter(|c| !c.in_f) {
                    if c.shared && c.in_v {
                        if c.index.len() < 24 {
                            c.index.push_str(&t);
                        }
                    } else {
                        c.text += t.len() as u64;
                    }
                }
            }
            Event::GeneralRef(_) => {
                if let Some(c) = cell.as_mut().filter(|c| !c.in_f) {
                    c.text += 4;
                    if c.shared && c.in_v {
                        c.index.push('&');
                    }
                }
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// An attribute's raw text (cell names and counts hold no entities).
fn raw_attr<'a>(
    e: &'a quick_xml::events::BytesStart<'_>,
    key: &str,
) -> Result<Option<std::borrow::Cow<'a, str>>> {
    for a in e.attributes().with_checks(false) {
        let a = a?;
        if a.key.as_ref() == key {
            return Ok(Some(a.value));
        }
    }
    Ok(None)
}

/// The length of the shared string a cell names, or why it names none.
fn shared_text(c: &CellScan, strings: &[u32]) -> Result<u64, String> {
    let v = c.index.trim();
    if v.is_empty() {
        return Ok(0);
    }
    let index = v
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| v.parse::<usize>().ok())
        .flatten();
    match index.and_then(|i| strings.get(i)) {
        Some(&len) => Ok(u64::from(len)),
        None => Err(format!(
            "refers to shared string {v}, which does not exist (the workbook has {}): the file \
             is damaged",
            strings.len()
        )),
    }
}

fn check_grid(name: &str, row: u64, col: u64) -> Result<()> {
    if col >= MAX_COLUMNS {
        bail!(
            "sheet '{name}' has a cell at {}, beyond the {} columns a worksheet has",
            limits::cell_ref(row, col),
            limits::thousands(MAX_COLUMNS)
        );
    }
    if row >= MAX_ROWS {
        bail!(
            "sheet '{name}' has a cell at {}, beyond the {} rows a worksheet has",
            limits::cell_ref(row, col),
            limits::thousands(MAX_ROWS)
        );
    }
    Ok(())
}

/// `B2` as 0-based (row, column); `None` if it is not a cell name.
fn position(r: &str) -> Option<(u64, u64)> {
    let r = r.trim();
    let split = r.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = r.split_at(split);
    if letters.is_empty() || letters.len() > 7 || !letters.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return None;
    }
    let col = letters.bytes().fold(0u64, |c, b| {
        c * 26 + u64::from(b.to_ascii_uppercase() - b'A') + 1
    });
    let row: u64 = digits
        .parse()
        .ok()
        .filter(|r| *r > 0 && digits.len() <= 12)?;
    Some((row - 1, col - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_names() {
        assert_eq!(position("A1"), Some((0, 0)));
        assert_eq!(position("XFD1048576"), Some((1_048_575, 16_383)));
        assert_eq!(position("XFE2"), Some((1, 16_384)));
        assert_eq!(position("A0"), None);
        assert_eq!(position("12"), None);
        assert_eq!(position("A-1"), None);
    }

    #[test]
    fn a_shared_string_index_must_name_a_string() {
        let c = |index: &str| CellScan {
            row: 1,
            col: 1,
            shared: true,
            in_v: false,
            in_f: false,
            text: 0,
            index: index.into(),
        };
        assert_eq!(shared_text(&c("1"), &[3, 5]), Ok(5));
        assert_eq!(shared_text(&c(""), &[3]), Ok(0));
        for bad in ["-1", "2", "x", "1.0", "+1", "99999999999999999999999"] {
            assert!(shared_text(&c(bad), &[3, 5]).is_err(), "{bad}");
        }
    }
}
