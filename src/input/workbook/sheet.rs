//! One sheet to CSV text, row by row: each cell as the text a person sees, a formula with no
//! saved value as a marked cell ([`crate::input::marks`]), a continuation sheet only if its
//! header row is the first sheet's, and no cell or total past its limit.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Write};

use anyhow::{bail, Context, Result};
use calamine::{Data, DataType, Range, XlsxFormulaMetadata};

use super::limits::{self, MAX_CELL};
use crate::input::marks;

/// The CSV being written, with what the conversion counted.
pub struct Out<W: Write> {
    pub csv: csv::Writer<W>,
    written: u64,
    max: u64,
    /// Cells holding a formula with no saved value, and where the first one is.
    pub formulas: u64,
    pub first_formula: Option<String>,
    /// `--header-row`, 0-based: the first sheet's rows above it are not read.
    pub header_row: Option<u32>,
    /// The first sheet's rows after its header among the first
    /// [`crate::input::reader::HEADER_SEARCH_ROWS`], numbered as the sheet numbers them.
    pub later_rows: Vec<(u64, Vec<String>)>,
}

impl<W: Write> Out<W> {
    pub fn new(csv: csv::Writer<W>, max: u64) -> Out<W> {
        Out {
            csv,
            written: 0,
            max,
            formulas: 0,
            first_formula: None,
            header_row: None,
            later_rows: Vec::new(),
        }
    }
}

/// How a sheet went.
pub enum Copied {
    /// Data rows written (not counting the header row), and the header row if any.
    Rows(u64, Option<Vec<String>>),
    /// A continuation sheet whose header row is another: nothing written.
    OtherHeader(Vec<String>),
}

/// Receives a sheet's rows: keeps the header, compares a continuation's, writes the rest.
pub struct Rows<'a, W: Write> {
    pub out: &'a mut Out<W>,
    pub sheet: &'a str,
    /// For a continuation sheet: the header its first row must repeat (it is then dropped).
    pub expect: Option<&'a [String]>,
    /// The sheet's first row, as written.
    pub header: Option<Vec<String>>,
    rows: u64,
}

impl<'a, W: Write> Rows<'a, W> {
    pub fn new(out: &'a mut Out<W>, sheet: &'a str, expect: Option<&'a [String]>) -> Self {
        Rows {
            out,
            sheet,
            expect,
            header: None,
            rows: 0,
        }
    }

    /// True for a row above the header row that `--header-row` names (not read).
    fn above(&self, r: u32) -> bool {
        self.expect.is_none() && self.out.header_row.is_some_and(|h| r < h)
    }

    /// Row `r` (0-based) of the first sheet: the header must be the row `--header-row` names,
    /// and the rows after it among the first few are kept to look for a header in.
    fn first_sheet_row(&mut self, r: u32, row: &[String]) -> Result<()> {
        if self.expect.is_some() {
            return Ok(());
        }
        match (&self.header, self.out.header_row) {
            (None, Some(h)) if r != h => bail!(
                "--header-row {}: row {} of sheet '{}' is empty; the header row holds the \
                 column names",
                h + 1,
                h + 1,
                self.sheet
            ),
            (Some(_), None) if (r as usize) < crate::input::reader::HEADER_SEARCH_ROWS => {
                self.out.later_rows.push((u64::from(r) + 1, row.to_vec()))
            }
            _ => {}
        }
        Ok(())
    }

    /// Row `r` (0-based); false when the sheet is to be left (its header is another).
    fn row(&mut self, r: u32, row: &mut Vec<String>) -> Result<bool> {
        while row.last().is_some_and(String::is_empty) {
            row.pop();
        }
        self.first_sheet_row(r, row)?;
        if self.header.is_none() {
            self.header = Some(row.clone());
            if let Some(want) = self.expect {
                let same = want == row.as_slice();
                row.clear();
                return Ok(same);
            }
        }
        self.rows += 1;
        let bytes: usize = row.iter().map(|c| c.len() + 1).sum();
        self.out.written += bytes as u64 + 1;
        if self.out.written > self.out.max {
            bail!(
                "its sheets expand to more than {} of text (the limit is 256 MiB plus 64 times \
                 the file's size): cells repeat long texts; save the sheet as CSV if it is meant",
                limits::size(self.out.max)
            );
        }
        if row.is_empty() {
            self.out.csv.write_record([""])?;
        } else {
            self.out.csv.write_record(row.iter())?;
        }
        row.clear();
        Ok(true)
    }

    fn done(self) -> Copied {
        match (self.expect, self.header) {
            (Some(want), Some(h)) if want != h.as_slice() => Copied::OtherHeader(h),
            // A continuation's header row was dropped, not counted.
            (Some(_), h) => Copied::Rows(self.rows, h),
            (None, h) => Copied::Rows(self.rows.saturating_sub(1), h),
        }
    }

    /// A cell's text, refused past [`MAX_CELL`], a leading mark defused.
    fn cell(&self, d: &Data, row: u32, col: u32) -> Result<String> {
        let t = super::text(d);
        if t.len() as u64 > MAX_CELL {
            bail!(
                "cell {} of sheet '{}' holds {} of text, more than the {} a cell may hold here \
                 (Excel's own limit is 32,767 characters)",
                limits::cell_ref(u64::from(row), u64::from(col)),
                self.sheet,
                limits::size(t.len() as u64),
                limits::size(MAX_CELL)
            );
        }
        Ok(match marks::defuse(&t) {
            std::borrow::Cow::Borrowed(_) => t,
            std::borrow::Cow::Owned(o) => o,
        })
    }

    /// A formula with no saved value: a marked cell, counted.
    fn formula(&mut self, formula: &str, row: u32, col: u32) -> String {
        let f = formula.strip_prefix("of:").unwrap_or(formula);
        let shown: String = if f.starts_with('=') {
            f.chars().take(200).collect()
        } else {
            std::iter::once('=').chain(f.chars().take(199)).collect()
        };
        let short: String = if shown.chars().count() > 60 {
            shown.chars().take(59).chain(std::iter::once('…')).collect()
        } else {
            shown.clone()
        };
        self.out.formulas += 1;
        let at = limits::cell_ref(u64::from(row), u64::from(col));
        self.out
            .first_formula
            .get_or_insert_with(|| format!("{at} of sheet '{}': {short}", self.sheet));
        marks::mark(
            &format!(
                "the cell holds a formula with no saved value ({short}): open and save the file \
                 in Excel or LibreOffice, which store the values, and run again"
            ),
            &shown,
        )
    }
}

/// Streams an xlsx sheet cell by cell (memory does not grow with the sheet).
pub fn xlsx<W: Write>(
    book: &mut calamine::Xlsx<BufReader<File>>,
    mut rows: Rows<'_, W>,
) -> Result<Copied> {
    let name = rows.sheet.to_string();
    let ctx = || format!("cannot read sheet '{name}'");
    let mut cells = book.worksheet_cells_reader(&name).with_context(ctx)?;
    // Shared formulas' text by index, to name a derived cell's (bounded).
    let mut shared: HashMap<usize, String> = HashMap::new();
    let mut row: Vec<String> = Vec::new();
    let mut at: Option<u32> = None;
    while let Some(rec) = cells.next_cell_with_formula_metadata().with_context(ctx)? {
        let (r, c) = rec.pos;
        if rows.above(r) {
            continue;
        }
        if at != Some(r) {
            if let Some(prev) = at {
                if !rows.row(prev, &mut row)? {
                    return Ok(rows.done());
                }
                // Empty rows in between stay rows.
                for empty in prev + 1..r {
                    rows.row(empty, &mut Vec::new())?;
                }
            }
            at = Some(r);
        }
        let formula = match &rec.formula {
            Some(XlsxFormulaMetadata::Normal { formula }) => Some(formula.clone()),
            Some(XlsxFormulaMetadata::Shared {
                shared_index,
                formula,
                ..
            }) => {
                if shared.len() < 65_536 {
                    shared.insert(*shared_index, formula.chars().take(200).collect());
                }
                Some(formula.clone())
            }
            Some(XlsxFormulaMetadata::SharedDerived { shared_index }) => Some(
                shared
                    .get(shared_index)
                    .map_or("a shared formula".into(), |f| format!("{f} (shared)")),
            ),
            _ => None,
        };
        let value = Data::from(rec.value);
        let text = match (&value, formula) {
            (Data::Empty, Some(f)) => rows.formula(&f, r, c),
            _ => rows.cell(&value, r, c)?,
        };
        if text.is_empty() {
            continue;
        }
        let c = c as usize;
        if row.len() <= c {
            row.resize(c + 1, String::new());
        }
        row[c] = text;
    }
    if let Some(last) = at {
        rows.row(last, &mut row)?;
    }
    Ok(rows.done())
}

/// An xls or ods sheet, read whole by `calamine`; `formulas` where some have no value.
pub fn range<W: Write>(
    range: &Range<Data>,
    formulas: Option<&Range<String>>,
    mut rows: Rows<'_, W>,
) -> Result<Copied> {
    let (r0, c0) = range.start().unwrap_or((0, 0));
    for (i, cells) in range.rows().enumerate() {
        let r = r0 + i as u32;
        if rows.above(r) {
            continue;
        }
        let mut row = Vec::with_capacity(cells.len());
        for (j, d) in cells.iter().enumerate() {
            let c = c0 + j as u32;
            let formula = formulas
                .filter(|_| d.is_empty())
                .and_then(|f| f.get_value((r, c)))
                .filter(|f| !f.is_empty());
            row.push(match formula {
                Some(f) => rows.formula(f, r, c),
                None => rows.cell(d, r, c)?,
            });
        }
        if !rows.row(r, &mut row)? {
            break;
        }
    }
    Ok(rows.done())
}
