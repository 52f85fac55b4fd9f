//! An ods before `calamine` opens it. `calamine` reads every table of `content.xml` at once
//! into dense ranges, expanding `table:number-rows-repeated` and
//! `table:number-columns-repeated` (up to 100 million cells) and `<text:s text:c="N"/>` (without
//! bound): 849 bytes can ask for gigabytes. This scan follows the same rules over the same
//! events, adds up what that expansion would hold in memory, and refuses before it happens. It
//! also refuses a `content.xml` that ends inside a table, on which `calamine` loops forever.

use std::io::BufReader;

use anyhow::{bail, Result};
use quick_xml::events::{BytesStart, Event};

use super::limits::{self, MAX_CELL, MAX_COLUMNS, MAX_PART, MAX_ROWS, MEMORY};
use super::zipped::{attr, xml, Zipped};

/// What the scan learnt about each table.
#[derive(Debug, Default)]
pub struct OdsFacts {
    /// Tables holding a cell with a formula and no value (their formulas are then read too).
    pub formulas: Vec<String>,
}

/// One table's running figures, as `calamine`'s `read_table` and `get_range` would hold them.
#[derive(Default)]
struct Table {
    name: String,
    /// Rows so far, with repeats (capped at the grid as calamine caps them).
    rows: u64,
    first_content_row: Option<u64>,
    /// Rows up to the end of the last row with content.
    content_rows_end: u64,
    col_min: u64,
    col_max: u64,
    /// Cells pushed before expansion (a value and a formula each: 56 bytes), row elements.
    raw_cells: u64,
    row_elements: u64,
    /// Text held by the cells pushed, and by the expanded range.
    raw_text: u64,
    dense_text: u64,
    has_formula: bool,
    uncached: bool,
}

impl Table {
    fn dense_cells(&self) -> u64 {
        self.first_content_row.map_or(0, |first| {
            (self.content_rows_end - first) * (self.col_max + 1 - self.col_min)
        })
    }

    /// Memory of the ranges once read (values, and formulas if any), with their text.
    fn held(&self) -> u64 {
        let per_cell = if self.has_formula { 56 } else { 32 };
        self.dense_cells() * per_cell + self.dense_text
    }

    /// Memory while the table is read and expanded.
    fn reading(&self) -> u64 {
        self.raw_cells * 56 + self.row_elements * 16 + self.raw_text + self.held()
    }
}

/// A row being read: `calamine`'s `read_row`, counted instead of stored.
#[derive(Default)]
struct Row {
    repeats: u64,
    pushed: u64,
    /// Empty cells waiting for a cell with content (calamine keeps only the last run).
    pending_empty: u64,
    first: Option<u64>,
    last: u64,
    text: u64,
}

/// The cell being read: copies kept, and its text so far.
struct Cell {
    copies: u64,
    at: u64,
    text: u64,
    /// Whether the text comes from the content (`<text:p>`), still to be counted.
    from_content: bool,
}

/// Reads `content.xml` (and the manifest) the way `calamine` will, within [`MEMORY`].
pub fn inspect(z: &mut Zipped) -> Result<OdsFacts> {
    let manifest = z.read("META-INF/manifest.xml", MAX_PART)?;
    if manifest.is_empty() {
        bail!("the OpenDocument spreadsheet has no META-INF/manifest.xml: the file is damaged");
    }
    if String::from_utf8_lossy(&manifest).contains("encryption-data") {
        bail!(
            "the spreadsheet is password-protected (encrypted): open it with its password, save \
             it without one, and run again"
        );
    }
    let Some(part) = z.part("content.xml", u64::MAX)? else {
        bail!("the OpenDocument spreadsheet has no content.xml: the file is damaged");
    };
    let mut x = xml(BufReader::new(part));
    let mut facts = OdsFacts::default();
    let mut held = 0u64; // tables read so far
    let mut most = 0u64; // the largest of them, copied again when it is read
    let mut extra = 0u64; // style and name entries calamine keeps
    let mut table: Option<Table> = None;
    let mut row: Option<Row> = None;
    let mut cell: Option<Cell> = None;
    let mut annotation = 0u32;
    let mut buf = Vec::new();
    loop {
        let ev = match x.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => match x.get_ref().get_ref().tripped() {
                Some(why) => bail!("{why}"),
                None => bail!("content.xml is not well-formed XML: {e}"),
            },
        };
        match ev {
            Event::Start(e) => match e.name().as_ref() {
                "table:table" if table.is_none() => {
                    table = Some(Table {
                        name: attr(&e, "table:name", false)?.unwrap_or_default(),
                        col_min: u64::MAX,
                        ..Table::default()
                    });
                }
                "table:table-row" => {
                    if let Some(t) = table.as_mut() {
                        let repeats = number(&e, "table:number-rows-repeated")?;
                        t.row_elements += 1;
                        row = Some(Row {
                            repeats: repeats.min(MAX_ROWS.saturating_sub(t.rows)),
                            ..Row::default()
                        });
                    }
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    if let (Some(t), Some(r)) = (table.as_mut(), row.as_mut()) {
                        let c = start_cell(t, r, &e)?;
                        check_cell(t, c.at, c.text)?;
                        cell = Some(c);
                    }
                }
                "office:annotation" => annotation += 1,
                "text:p" | "text:tab" | "text:line-break" => text(&mut cell, annotation, 1),
                "text:s" => {
                    let n = attr(&e, "text:c", false)?.map_or(1, |c| c.trim().parse().unwrap_or(1));
                    text(&mut cell, annotation, n);
                }
                "style:table-properties" | "table:named-range" | "table:named-expression" => {
                    extra += 128;
                }
                _ => {}
            },
            Event::Text(t) => text(&mut cell, annotation, t.len() as u64),
            Event::GeneralRef(_) => text(&mut cell, annotation, 4),
            Event::End(e) => match e.name().as_ref() {
                "office:annotation" => annotation = annotation.saturating_sub(1),
                "table:table-cell" | "table:covered-table-cell" => {
                    if let (Some(c), Some(r), Some(t)) = (cell.take(), row.as_mut(), table.as_ref())
                    {
                        check_cell(t, c.at, c.text)?;
                        if c.text > 0 {
                            // A string's allocation: its bytes and the allocator's
                            // header, rounded, 32 bytes at least.
                            let heap = (c.text + 16).max(32);
                            r.text = r.text.saturating_add(c.copies.saturating_mul(heap));
                        }
                    }
                }
                "table:table-row" => {
                    if let (Some(r), Some(t)) = (row.take(), table.as_mut()) {
                        end_row(t, r)?;
                        // The peak: this table read and expanded (its cells as a list and
                        // as a range at once), or all tables held and the largest copied.
                        let need =
                            extra + (held + t.reading()).max(held + t.held() + most.max(t.held()));
                        if need > MEMORY {
                            let rows = t.content_rows_end - t.first_content_row.unwrap_or(0);
                            let cols = (t.col_max + 1).saturating_sub(t.col_min.min(t.col_max));
                            bail!(
                                "sheet '{}' expands its repeated rows and cells to {} rows × {} \
                                 columns ({} cells so far), which would take more than the {} \
                                 of memory allowed (an ods is read whole): remove repeated cells \
                                 far from the data, or save it as .xlsx (read as a stream) or \
                                 CSV",
                                t.name,
                                limits::thousands(rows),
                                limits::thousands(cols),
                                limits::thousands(rows.saturating_mul(cols)),
                                limits::size(MEMORY)
                            );
                        }
                    }
                }
                "table:table" => {
                    if let Some(t) = table.take() {
                        held += t.held() + t.name.len() as u64 + 128;
                        most = most.max(t.held());
                        if t.uncached {
                            facts.formulas.push(t.name);
                        }
                    }
                }
                _ => {}
            },
            Event::Eof => {
                if let Some(t) = table {
                    bail!(
                        "content.xml ends inside sheet '{}': the file is cut off or damaged",
                        t.name
                    );
                }
                return Ok(facts);
            }
            _ => {}
        }
        buf.clear();
    }
}

/// Text of the cell being read, if it comes from its content (notes are not read).
fn text(cell: &mut Option<Cell>, annotation: u32, n: u64) {
    if let Some(c) = cell.as_mut().filter(|c| c.from_content && annotation == 0) {
        c.text = c.text.saturating_add(n);
    }
}

/// A cell starts: `calamine` pushes the waiting empty cells and this one's copies if it has
/// a value or a formula, else remembers its repeats as the waiting empty run.
fn start_cell(t: &mut Table, r: &mut Row, e: &BytesStart<'_>) -> Result<Cell> {
    let repeats = number(e, "table:number-columns-repeated")?;
    let (mut value, mut formula, mut string_type) = (false, 0u64, false);
    let mut text = 0u64;
    for a in e.attributes().with_checks(false) {
        let a = a?;
        match a.key.as_ref() {
            "office:value" | "office:boolean-value" => value = true,
            "office:string-value" | "office:date-value" | "office:time-value" => {
                value = true;
                text = a.value.len() as u64;
            }
            "office:value-type" => string_type = a.value == "string",
            "table:formula" => formula = a.value.len() as u64,
            _ => {}
        }
    }
    let from_content = string_type && !value;
    let room = |pushed: u64| MAX_COLUMNS.saturating_sub(pushed);
    if !(value || from_content) && formula == 0 {
        r.pending_empty = repeats.min(room(r.pushed));
        return Ok(Cell {
            copies: 0,
            at: r.pushed,
            text: 0,
            from_content: false,
        });
    }
    if formula > 0 {
        t.has_formula = true;
        t.uncached |= !(value || from_content);
    }
    r.pushed += r.pending_empty.min(room(r.pushed));
    r.pending_empty = 0;
    let at = r.pushed;
    let copies = repeats.min(room(r.pushed));
    if copies > 0 {
        r.first.get_or_insert(r.pushed);
        r.last = r.pushed + copies - 1;
    }
    r.pushed += copies;
    Ok(Cell {
        copies,
        at,
        text: text + formula,
        from_content,
    })
}

/// A cell of more than [`MAX_CELL`] bytes is refused, named.
fn check_cell(t: &Table, col: u64, text: u64) -> Result<()> {
    if text > MAX_CELL {
        bail!(
            "cell {} of sheet '{}' holds more than {} of text, more than a cell may hold here \
             (Excel's own limit is 32,767 characters)",
            limits::cell_ref(t.rows, col),
            t.name,
            limits::size(MAX_CELL)
        );
    }
    Ok(())
}

fn end_row(t: &mut Table, r: Row) -> Result<()> {
    if let Some(first) = r.first {
        if r.repeats == 0 {
            bail!(
                "sheet '{}' has cells below row {}, the last a worksheet has",
                t.name,
                limits::thousands(MAX_ROWS)
            );
        }
        t.first_content_row.get_or_insert(t.rows);
        t.content_rows_end = t.rows + r.repeats;
        t.col_min = t.col_min.min(first);
        t.col_max = t.col_max.max(r.last);
    }
    t.raw_cells += r.pushed;
    t.raw_text = t.raw_text.saturating_add(r.text);
    t.dense_text = t
        .dense_text
        .saturating_add(r.text.saturating_mul(r.repeats));
    t.rows += r.repeats;
    Ok(())
}

/// `table:number-…-repeated`, 1 if absent; an unreadable one is an error, as in calamine.
fn number(e: &BytesStart<'_>, key: &str) -> Result<u64> {
    match attr(e, key, false)? {
        None => Ok(1),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("content.xml has {key}=\"{v}\", which is not a count")),
    }
}
