//! The workbook for people: sheet `Results` (every row, input and result columns, header bold
//! and frozen, autofilter, `result` cells coloured by value; per check only the key, result,
//! reason and previous result shown, the other result columns grouped and collapsed one click
//! away) and sheet `Summary` (the figures rounded for people, a legend and a chart of the
//! result counts). Every sheet prints landscape, fit to the page width. Rows stream to disk
//! (constant-memory mode); a sheet holds at most 1,048,576 rows, so longer results continue
//! on `Results 2`, …

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use rust_xlsxwriter::{Chart, ChartType, Color, Format, Workbook, Worksheet, XlsxError};

use super::atomic::Out;
use super::cells::{result_cells, Cell, TimeText, RESULT_INDEX};
use super::Summary;
use crate::model::{Outcome, ResultKind, RESULT_COLUMNS};

/// Excel's limit, header row included.
pub const EXCEL_MAX_ROWS: u32 = 1_048_576;
/// The most columns a worksheet holds (Excel's limit, XFD).
pub const EXCEL_MAX_COLUMNS: usize = 16_384;
/// Rows looked at to size the columns.
const WIDTH_SAMPLE: u32 = 1000;
/// Column widths, in characters, are kept between these.
const WIDTH_RANGE: (usize, usize) = (6, 48);

/// Excel's limit on the characters of one cell.
const MAX_CELL_CHARS: usize = 32_767;

/// The result columns of a check kept out of sight, grouped and collapsed (ranges of indexes
/// into the 13): what is left shown is `checked_key`, `result`, `error_msg` and
/// `previous_result`, the columns a person reads.
const DETAIL_GROUPS: [(u16, u16); 3] = [(2, 4), (6, 10), (12, 12)];

/// Prints landscape, as wide as the page (as many pages down as it takes).
fn print_setup(sheet: &mut Worksheet) {
    sheet.set_landscape().set_print_fit_to_pages(1, 0);
}

pub struct XlsxSink {
    book: Workbook,
    target: Option<PathBuf>,
    header: Vec<String>,
    width: usize,
    checks: usize,
    rows_per_sheet: u32,
    /// Index and name of each results sheet, with its last written row.
    sheets: Vec<(usize, String, u32)>,
    row: u32,
    bold: Format,
    colours: Vec<(ResultKind, Format)>,
    times: TimeText,
    truncated: u64,
    /// Rows wider than a sheet, cut at its last column.
    cut_rows: u64,
    /// Widest text per column among the header and the first rows, for the column widths.
    widths: Vec<usize>,
    /// The `Changes` sheet (a `run`'s rows whose answer changed): its index and next row.
    changes: Option<(usize, u32)>,
}

fn xlsx(e: XlsxError) -> anyhow::Error {
    anyhow!("cannot write the workbook: {e}")
}

/// Fill and font colours per result (the usual Excel "good / neutral / bad" styles).
fn colour_of(kind: ResultKind) -> Option<(u32, u32)> {
    match kind {
        ResultKind::Free | ResultKind::Valid => Some((0xC6EFCE, 0x006100)),
        ResultKind::Taken | ResultKind::Uplimit => Some((0xFFEB9C, 0x9C5700)),
        ResultKind::Invalid => Some((0xD9D9D9, 0x404040)),
        ResultKind::Error | ResultKind::Pending => Some((0xFFC7CE, 0x9C0006)),
        ResultKind::Skipped => None,
    }
}

/// A result name in the first column, in its colour.
fn write_kind(
    sheet: &mut Worksheet,
    row: u32,
    kind: ResultKind,
    colours: &[(ResultKind, Format)],
) -> Result<()> {
    match colours.iter().find(|(k, _)| *k == kind) {
        Some((_, f)) => sheet.write_string_with_format(row, 0, kind.as_str(), f),
        None => sheet.write_string(row, 0, kind.as_str()),
    }
    .map_err(xlsx)?;
    Ok(())
}

/// A figure of the Summary sheet: counts and rates are number cells (a spreadsheet sums and
/// right-aligns them), with a number format for the fractional ones; the rest is text.
enum Figure<'a> {
    Number(f64, Option<&'a Format>),
    Text(String),
}

/// What a result means, for the Summary sheet's legend (`valid`, `validate`'s own, has none).
fn meaning(kind: ResultKind) -> Option<&'static str> {
    Some(match kind {
        ResultKind::Free => "can still be registered",
        ResultKind::Taken => "already registered",
        ResultKind::Uplimit => "mobile at its registration limit",
        ResultKind::Invalid => "fails the rules; never sent",
        ResultKind::Error => "no answer; run again",
        ResultKind::Pending => "not checked yet (run stopped); run again",
        ResultKind::Skipped => "empty cell",
        ResultKind::Valid => return None,
    })
}

/// Where a workbook's rows wait until it is written: beside its target (not in a possibly
/// small /tmp), except for a device or a FIFO (`/dev` is no place for files) or standard
/// output, which spool in the system's temporary folder (`None`).
pub fn spool_dir(target: Option<&std::path::Path>) -> Option<PathBuf> {
    let target = target.filter(|t| !crate::output::atomic::is_special(t))?;
    let landing = crate::output::atomic::landing(target);
    landing
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.to_path_buf())
}

/// Refuses, before any request, a workbook whose rows could not be spooled: the folder must
/// take a private file.
pub fn check_spool(target: Option<&std::path::Path>) -> Result<()> {
    let dir = spool_dir(target).unwrap_or_else(std::env::temp_dir);
    tempfile::tempfile_in(&dir).map(drop).map_err(|e| {
        anyhow::anyhow!(
            "a workbook is built in {} before it is written, and that folder does not take \
             files ({e}); free it or set TMPDIR",
            dir.display()
        )
    })
}

/// A duration or a rate as people read it: to the tenth (0.0675 s is 0.1 s).
fn tenths(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Groups the detail result columns of each of `checks` checks (after `width` input columns)
/// into collapsed outlines: hidden, one click on `+` (or the outline's level 2) away.
fn group_details(sheet: &mut Worksheet, width: usize, checks: usize) -> Result<()> {
    for check in 0..checks {
        let base = (width + check * RESULT_COLUMNS.len()) as u16;
        for (first, last) in DETAIL_GROUPS {
            let (first, last) = (base + first, base + last);
            // The column after a collapsed group carries its `+`; past the sheet's last column
            // there is none, and the group is hidden all the same.
            if last < u16::MAX >> 2 {
                sheet.group_columns_collapsed(first, last)
            } else {
                sheet.group_columns(first, last)
            }
            .map_err(xlsx)?;
        }
    }
    Ok(())
}

impl XlsxSink {
    /// `target` `None` is standard output. `rows_per_sheet` is Excel's limit except in tests.
    pub fn create(
        target: Option<PathBuf>,
        header: &[String],
        width: usize,
        rows_per_sheet: u32,
    ) -> Result<XlsxSink> {
        let mut book = Workbook::new();
        if let Some(dir) = spool_dir(target.as_deref()) {
            // Row data is spooled next to the output, not in a possibly small /tmp.
            book.set_tempdir(&dir).map_err(xlsx)?;
        }
        let colours = ResultKind::ALL
            .into_iter()
            .filter_map(|k| {
                let (fill, font) = colour_of(k)?;
                Some((
                    k,
                    Format::new()
                        .set_background_color(Color::RGB(fill))
                        .set_font_color(Color::RGB(font)),
                ))
            })
            .collect();
        let checks = header.len().saturating_sub(width) / RESULT_COLUMNS.len();
        let mut sink = XlsxSink {
            book,
            target,
            header: header.to_vec(),
            width,
            checks,
            rows_per_sheet: rows_per_sheet.max(2),
            sheets: Vec::new(),
            row: 0,
            bold: Format::new().set_bold(),
            colours,
            times: TimeText::default(),
            truncated: 0,
            cut_rows: 0,
            widths: header.iter().map(|h| h.chars().count()).collect(),
            changes: None,
        };
        sink.new_sheet()?;
        Ok(sink)
    }

    /// Adds the `Changes` sheet after `Results`: every row with an answer that changed since
    /// the value's previous answer is also written there.
    pub fn with_changes_sheet(mut self) -> Result<XlsxSink> {
        let index = self.add_sheet("Changes")?;
        self.changes = Some((index, 1));
        Ok(self)
    }

    /// A constant-memory sheet with the bold, frozen header; returns its index.
    fn add_sheet(&mut self, name: &str) -> Result<usize> {
        let sheet = self
            .book
            .add_worksheet_with_constant_memory()
            .map_err(xlsx)?;
        sheet.set_name(name).map_err(xlsx)?;
        for (col, h) in self.header.iter().enumerate() {
            sheet
                .write_string_with_format(0, col as u16, h, &self.bold)
                .map_err(xlsx)?;
        }
        sheet.set_freeze_panes(1, 0).map_err(xlsx)?;
        Ok(self.book.worksheets().len() - 1)
    }

    fn new_sheet(&mut self) -> Result<()> {
        let n = self.sheets.len() + 1;
        let name = if n == 1 {
            "Results".to_string()
        } else {
            format!("Results {n}")
        };
        let index = self.add_sheet(&name)?;
        self.sheets.push((index, name, 0));
        self.row = 1;
        Ok(())
    }

    /// One row, like the CSV: input fields, padding, result columns, extra fields; also on the
    /// `Changes` sheet if an answer changed.
    pub fn write_row(&mut self, fields: &csv::StringRecord, outcomes: &[Outcome]) -> Result<()> {
        if self.row >= self.rows_per_sheet {
            self.new_sheet()?;
        }
        let index = self.sheets.last().map(|s| s.0).unwrap_or(0);
        self.put_row(index, self.row, fields, outcomes)?;
        if let Some(s) = self.sheets.last_mut() {
            s.2 = self.row;
        }
        self.row += 1;
        if let Some((index, row)) = self.changes {
            if outcomes.iter().any(|o| o.transition().is_some()) {
                self.put_row(index, row, fields, outcomes)?;
                self.changes = Some((index, row + 1));
            }
        }
        Ok(())
    }

    fn put_row(
        &mut self,
        index: usize,
        row: u32,
        fields: &csv::StringRecord,
        outcomes: &[Outcome],
    ) -> Result<()> {
        let width = self.width;
        let mut col: u16 = 0;
        for i in 0..width {
            self.text(index, row, col, fields.get(i).unwrap_or(""), None)?;
            col += 1;
        }
        for o in outcomes {
            let colour = self.colours.iter().position(|(k, _)| *k == o.result);
            for (i, cell) in result_cells(o).into_iter().enumerate() {
                match cell {
                    Cell::Text(t) => {
                        self.text(index, row, col, t, colour.filter(|_| i == RESULT_INDEX))?
                    }
                    Cell::Number(n) => {
                        self.book
                            .worksheet_from_index(index)
                            .map_err(xlsx)?
                            .write_number(row, col, n as f64)
                            .map_err(xlsx)?;
                    }
                    Cell::Time(t) => {
                        let mut times = std::mem::take(&mut self.times);
                        let res = self.text(index, row, col, times.get(t), None);
                        self.times = times;
                        res?
                    }
                    Cell::Empty => {}
                }
                col += 1;
            }
        }
        for extra in fields.iter().skip(width) {
            if usize::from(col) >= EXCEL_MAX_COLUMNS {
                // Counted and said at the end; a run sent none of this row's checks and says
                // why on the row.
                self.cut_rows += 1;
                break;
            }
            self.text(index, row, col, extra, None)?;
            col += 1;
        }
        Ok(())
    }

    /// Writes text as text (never a formula); cells over Excel's limit are cut and counted.
    fn text(
        &mut self,
        index: usize,
        row: u32,
        col: u16,
        s: &str,
        colour: Option<usize>,
    ) -> Result<()> {
        if s.is_empty() {
            return Ok(());
        }
        let chars = s.chars().count();
        if self.row <= WIDTH_SAMPLE {
            let col = usize::from(col);
            if self.widths.len() <= col {
                self.widths.resize(col + 1, 0);
            }
            self.widths[col] = self.widths[col].max(chars);
        }
        let s = if chars > MAX_CELL_CHARS {
            self.truncated += 1;
            s.char_indices()
                .nth(MAX_CELL_CHARS)
                .map_or(s, |(i, _)| &s[..i])
        } else {
            s
        };
        let format = colour
            .and_then(|i| self.colours.get(i))
            .map(|(_, f)| f.clone());
        let sheet = self.book.worksheet_from_index(index).map_err(xlsx)?;
        match format {
            Some(f) => sheet.write_string_with_format(row, col, s, &f),
            None => sheet.write_string(row, col, s),
        }
        .map_err(xlsx)?;
        Ok(())
    }

    /// Names of the results sheets (more than one past Excel's row limit).
    pub fn sheet_names(&self) -> Vec<String> {
        self.sheets.iter().map(|s| s.1.clone()).collect()
    }

    /// Adds autofilters and the Summary sheet, then writes the file atomically.
    pub fn finish(mut self, summary: &Summary) -> Result<()> {
        let last_col = self.header.len().saturating_sub(1) as u16;
        let widths: Vec<f64> = self
            .widths
            .iter()
            .map(|w| (w + 2).clamp(WIDTH_RANGE.0, WIDTH_RANGE.1) as f64)
            .collect();
        let mut tables: Vec<(usize, u32)> = self.sheets.iter().map(|s| (s.0, s.2)).collect();
        tables.extend(self.changes.map(|(index, next)| (index, next - 1)));
        for (index, last_row) in tables {
            let sheet = self.book.worksheet_from_index(index).map_err(xlsx)?;
            sheet
                .autofilter(0, 0, last_row.max(1), last_col)
                .map_err(xlsx)?;
            for (col, w) in widths.iter().enumerate() {
                sheet.set_column_width(col as u16, *w).map_err(xlsx)?;
            }
            group_details(sheet, self.width, self.checks)?;
            print_setup(sheet);
            sheet.set_repeat_rows(0, 0).map_err(xlsx)?;
        }
        if self.truncated > 0 {
            let cells = match self.truncated {
                1 => "1 cell was".to_string(),
                n => format!("{n} cells were"),
            };
            tracing::warn!("{cells} longer than Excel's 32,767 characters and cut in the workbook");
        }
        if self.cut_rows > 0 {
            let rows = match self.cut_rows {
                1 => "1 row was".to_string(),
                n => format!("{n} rows were"),
            };
            tracing::warn!(
                "{rows} wider than a workbook's {EXCEL_MAX_COLUMNS} columns and cut at its last \
                 column: write a CSV (-o NAME.csv) to keep them whole"
            );
        }
        self.summary_sheet(summary)?;
        let mut out = Out::create(self.target.as_deref())?;
        self.book.save_to_writer(&mut out).map_err(xlsx)?;
        out.commit().context("cannot write the workbook")
    }

    fn summary_sheet(&mut self, s: &Summary) -> Result<()> {
        let bold = self.bold.clone();
        let colours = self.colours.clone();
        let sheets = self.sheet_names().join(", ");
        let checks = self.checks;
        let sheet = self.book.add_worksheet();
        sheet.set_name("Summary").map_err(xlsx)?;
        print_setup(sheet);
        sheet.set_column_width(0, 22).map_err(xlsx)?;
        sheet.set_column_width(1, 48).map_err(xlsx)?;
        sheet
            .write_string_with_format(0, 0, "result", &bold)
            .map_err(xlsx)?;
        sheet
            .write_string_with_format(0, 1, "checks", &bold)
            .map_err(xlsx)?;
        let counts: Vec<(ResultKind, u64)> = s.counts.results().collect();
        for (i, (kind, n)) in counts.iter().enumerate() {
            let row = i as u32 + 1;
            write_kind(sheet, row, *kind, &colours)?;
            sheet.write_number(row, 1, *n as f64).map_err(xlsx)?;
        }
        let mut row = counts.len() as u32 + 2;
        let one = Format::new().set_num_format("0.0");
        let figures = figures(s, checks as u64, sheets, &one);
        for (name, value) in figures {
            sheet
                .write_string_with_format(row, 0, name, &bold)
                .map_err(xlsx)?;
            match value {
                Figure::Number(n, Some(f)) => sheet.write_number_with_format(row, 1, n, f),
                Figure::Number(n, None) => sheet.write_number(row, 1, n),
                Figure::Text(t) => sheet.write_string(row, 1, t),
            }
            .map_err(xlsx)?;
            row += 1;
        }
        row += 1;
        sheet
            .write_string_with_format(row, 0, "legend", &bold)
            .map_err(xlsx)?;
        let legend = ResultKind::ALL
            .into_iter()
            .filter_map(|k| Some((k, meaning(k)?)));
        for (kind, meaning) in legend {
            row += 1;
            write_kind(sheet, row, kind, &colours)?;
            sheet.write_string(row, 1, meaning).map_err(xlsx)?;
        }
        let mut chart = Chart::new(ChartType::Bar);
        chart.title().set_name("Checks by result");
        chart.legend().set_hidden();
        chart
            .add_series()
            .set_name("checks")
            .set_categories(("Summary", 1, 0, counts.len() as u32, 0))
            .set_values(("Summary", 1, 1, counts.len() as u32, 1));
        sheet.insert_chart(0, 3, &chart).map_err(xlsx)?;
        Ok(())
    }
}

/// The Summary sheet's figures below the results: the counts, the pace, where from and to.
fn figures<'a>(
    s: &Summary,
    checks_per_row: u64,
    sheets: String,
    one: &'a Format,
) -> Vec<(&'static str, Figure<'a>)> {
    let count = |n: u64| Figure::Number(n as f64, None);
    let c = &s.counts;
    let first = [
        ("rows", c.rows),
        ("checks", c.checks),
        ("checks per row", checks_per_row),
    ];
    let mut named: Vec<(&str, Figure)> = first.map(|(name, n)| (name, count(n))).into();
    // The counts beside the results, in the glossary's words.
    named.extend(c.figures().map(|(_, words, n)| (words, count(n))));
    let rest: Vec<(&str, Figure)> = vec![
        (
            "elapsed seconds",
            Figure::Number(tenths(s.elapsed_seconds), Some(one)),
        ),
        (
            "requests per second",
            Figure::Number(tenths(s.requests_per_second), Some(one)),
        ),
        (
            "stopped",
            Figure::Text(s.stop_message.clone().unwrap_or_else(|| "no".into())),
        ),
        (
            "simulated",
            Figure::Text(if s.simulated {
                "yes: answers from the built-in sandbox, not Huawei Cloud".into()
            } else {
                "no".into()
            }),
        ),
        ("input", Figure::Text(s.input.clone())),
        ("output", Figure::Text(s.output.clone())),
        ("results sheets", Figure::Text(sheets)),
        (
            "written at",
            Figure::Text(crate::model::rfc3339(chrono::Utc::now())),
        ),
    ];
    named.extend(rest);
    named
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Source;
    use calamine::{open_workbook, Reader, Xlsx};

    #[test]
    fn rows_past_the_sheet_limit_continue_on_the_next_sheet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.xlsx");
        let mut header = vec!["id".to_string()];
        header.extend(RESULT_COLUMNS.iter().map(|c| c.to_string()));
        let mut sink = XlsxSink::create(Some(path.clone()), &header, 1, 3).unwrap();
        for i in 0..5 {
            let o = Outcome::new(format!("k{i}"), ResultKind::Free, Source::Api);
            sink.write_row(&csv::StringRecord::from(vec![format!("{i:03}")]), &[o])
                .unwrap();
        }
        assert_eq!(sink.sheet_names(), ["Results", "Results 2", "Results 3"]);
        let mut summary = Summary::default();
        summary.counts.rows = 5;
        sink.finish(&summary).unwrap();
        let mut book: Xlsx<_> = open_workbook(&path).unwrap();
        assert_eq!(
            book.sheet_names(),
            ["Results", "Results 2", "Results 3", "Summary"]
        );
        let mut ids = Vec::new();
        for name in ["Results", "Results 2", "Results 3"] {
            let range = book.worksheet_range(name).unwrap();
            let mut rows = range.rows();
            assert_eq!(
                rows.next().unwrap()[0].to_string(),
                "id",
                "{name} repeats the header"
            );
            ids.extend(rows.map(|r| r[0].to_string()));
        }
        assert_eq!(ids, ["000", "001", "002", "003", "004"]);
    }
}
