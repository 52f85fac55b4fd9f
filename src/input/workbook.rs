//! Workbooks as input (`.xlsx`, `.xlsm`, `.xls`, `.ods`, recognised by their bytes, read with
//! `calamine`): one sheet becomes CSV text in memory, each cell as the text a person sees in
//! the spreadsheet, and is then read like any CSV (the first row is the header).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use calamine::{Data, DataType, Reader};

/// True if `path` is a regular file that starts like a workbook: a ZIP archive (xlsx, xlsm,
/// ods) or an OLE compound file (xls). Nothing else is opened (a FIFO read here would lose
/// bytes).
pub fn is_workbook(path: &Path) -> bool {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    head[..n].starts_with(b"PK\x03\x04") || head[..n].starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
}

/// The chosen sheet (`--sheet NAME|#N`, else the first) as UTF-8 CSV text in an anonymous
/// temporary file (private, gone when closed), and the sheet's name. An xlsx sheet is streamed
/// cell by cell, so memory does not grow with the sheet; xls and ods sheets are read whole.
/// Without `--sheet`, a checkuser output past Excel's row limit (`Results`, `Results 2`, …)
/// is read as the one table it is: the continuation sheets follow, their header rows skipped.
pub fn to_csv(path: &Path, sheet: Option<&str>) -> Result<(File, String)> {
    let mut book =
        open(path).with_context(|| format!("cannot read the workbook {}", path.display()))?;
    let names = book.sheet_names();
    let name = pick(&names, sheet)?;
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(std::io::BufWriter::new(tempfile::tempfile()?));
    let mut rows = copy_sheet(&mut book, path, &name, &mut w, false)?;
    if rows == 0 {
        bail!("sheet '{name}' of {} is empty", path.display());
    }
    // The writer names its sheets `Results`, `Results 2`, …; a sheet asked for is read alone.
    let split_output = sheet.is_none() && name == "Results";
    let continued = (2..)
        .map(|n| format!("{name} {n}"))
        .take_while(|more| split_output && names.contains(more));
    let mut shown = name.clone();
    for more in continued {
        rows += copy_sheet(&mut book, path, &more, &mut w, true)?;
        shown = format!("{name} to {more}");
    }
    tracing::debug!("{rows} rows from {shown}");
    let mut file = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))?;
    Ok((file, shown))
}

/// Writes one sheet's rows as CSV (without its first row if `skip_header`); returns how many.
fn copy_sheet<W: std::io::Write>(
    book: &mut calamine::Sheets<BufReader<File>>,
    path: &Path,
    name: &str,
    w: &mut csv::Writer<W>,
    skip_header: bool,
) -> Result<u64> {
    let ctx = || format!("cannot read sheet '{name}' of {}", path.display());
    let mut rows = 0u64;
    let mut put = |w: &mut csv::Writer<W>, row: &mut Vec<String>| -> Result<()> {
        if skip_header && rows == 0 {
            row.clear();
        } else {
            write_row(w, row)?;
        }
        rows += 1;
        Ok(())
    };
    match book {
        calamine::Sheets::Xlsx(x) => {
            let mut cells = x.worksheet_cells_reader(name).with_context(ctx)?;
            let mut row: Vec<String> = Vec::new();
            let mut at: Option<u32> = None;
            while let Some(cell) = cells.next_cell().with_context(ctx)? {
                let (r, c) = cell.get_position();
                let value = text(&Data::from(cell.get_value().clone()));
                if at != Some(r) {
                    if let Some(prev) = at {
                        put(w, &mut row)?;
                        // Empty rows in between stay rows.
                        for _ in prev + 1..r {
                            put(w, &mut Vec::new())?;
                        }
                    }
                    at = Some(r);
                }
                if value.is_empty() {
                    continue;
                }
                let c = c as usize;
                if row.len() <= c {
                    row.resize(c + 1, String::new());
                }
                row[c] = value;
            }
            if at.is_some() {
                put(w, &mut row)?;
            }
        }
        other => {
            let range = other.worksheet_range(name).with_context(ctx)?;
            for cells in range.rows() {
                let mut row: Vec<String> = cells.iter().map(text).collect();
                put(w, &mut row)?;
            }
        }
    }
    Ok(rows.saturating_sub(u64::from(skip_header)))
}

/// Writes one row without its trailing empty cells (a blank row as one empty field).
fn write_row<W: std::io::Write>(w: &mut csv::Writer<W>, row: &mut Vec<String>) -> Result<()> {
    while row.last().is_some_and(String::is_empty) {
        row.pop();
    }
    if row.is_empty() {
        w.write_record([""])?;
    } else {
        w.write_record(row.iter())?;
    }
    row.clear();
    Ok(())
}

/// Opens the workbook by its bytes, whatever its name: OLE is xls; a ZIP is xlsx/xlsm, or
/// else ods.
fn open(path: &Path) -> Result<calamine::Sheets<BufReader<File>>> {
    let file = || -> Result<BufReader<File>> { Ok(BufReader::new(File::open(path)?)) };
    let mut head = [0u8; 4];
    let n = file()?.read(&mut head)?;
    if head[..n] == [0xD0, 0xCF, 0x11, 0xE0] {
        return Ok(calamine::Sheets::Xls(calamine::open_workbook_from_rs(
            file()?,
        )?));
    }
    match calamine::open_workbook_from_rs::<calamine::Xlsx<_>, _>(file()?) {
        Ok(x) => Ok(calamine::Sheets::Xlsx(x)),
        Err(xlsx) => calamine::open_workbook_from_rs::<calamine::Ods<_>, _>(file()?)
            .map(calamine::Sheets::Ods)
            .map_err(|_| anyhow::anyhow!("{xlsx}")),
    }
}

/// `--sheet`: a name (exact, then case-insensitive) or `#N` (1-based); the first by default.
fn pick(names: &[String], sheet: Option<&str>) -> Result<String> {
    let list = || {
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(want) = sheet else {
        return names
            .first()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the workbook has no sheet"));
    };
    if let Some(n) = want.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
        return names.get(n.wrapping_sub(1)).cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "--sheet #{n}: the workbook has {} sheets: {}",
                names.len(),
                list()
            )
        });
    }
    names
        .iter()
        .find(|n| *n == want)
        .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(want)))
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!("--sheet {want}: no such sheet; the workbook has {}", list())
        })
}

/// A cell as a person sees it: whole numbers without `.0` or an exponent (a mobile stored as
/// a number stays `8613800138000`), dates as ISO dates, formulas as their cached values.
pub fn text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number(*f),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Data::Error(e) => e.to_string(),
        Data::DateTime(dt) => match d.as_datetime() {
            Some(t) if !dt.is_duration() => {
                if t.time() == chrono::NaiveTime::MIN {
                    t.format("%Y-%m-%d").to_string()
                } else {
                    t.format("%Y-%m-%d %H:%M:%S").to_string()
                }
            }
            _ => number(dt.as_f64()),
        },
    }
}

fn number(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_split_at_the_row_limit_is_read_as_one_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.xlsx");
        let mut book = rust_xlsxwriter::Workbook::new();
        for (name, rows) in [
            ("Results", &["a", "b"][..]),
            ("Results 2", &["c"]),
            ("Summary", &["x"]),
        ] {
            let sheet = book.add_worksheet().set_name(name).unwrap();
            sheet.write_string(0, 0, "lead").unwrap();
            for (i, v) in rows.iter().enumerate() {
                sheet.write_string(i as u32 + 1, 0, *v).unwrap();
            }
        }
        book.save(&path).unwrap();
        let read = |sheet: Option<&str>| {
            let (f, name) = to_csv(&path, sheet).unwrap();
            let mut r = csv::ReaderBuilder::new().has_headers(false).from_reader(f);
            let cells: Vec<String> = r.records().map(|r| r.unwrap()[0].to_string()).collect();
            (cells, name)
        };
        assert_eq!(
            read(None),
            (
                vec!["lead".into(), "a".into(), "b".into(), "c".into()],
                "Results to Results 2".into()
            )
        );
        // Asked for by name, a sheet is that sheet alone.
        assert_eq!(read(Some("Results")).0, ["lead", "a", "b"]);
    }

    #[test]
    fn numbers_read_as_people_see_them() {
        assert_eq!(text(&Data::Float(8613800138000.0)), "8613800138000");
        assert_eq!(text(&Data::Float(0.5)), "0.5");
        assert_eq!(text(&Data::Int(-3)), "-3");
        assert_eq!(text(&Data::Bool(true)), "TRUE");
        assert_eq!(text(&Data::Empty), "");
    }

    #[test]
    fn sheets_by_name_or_position() {
        let names = vec!["Results".to_string(), "Summary".to_string()];
        assert_eq!(pick(&names, None).unwrap(), "Results");
        assert_eq!(pick(&names, Some("summary")).unwrap(), "Summary");
        assert_eq!(pick(&names, Some("#2")).unwrap(), "Summary");
        assert!(pick(&names, Some("#3"))
            .unwrap_err()
            .to_string()
            .contains("2 sheets"));
        assert!(pick(&names, Some("#0")).is_err());
        assert!(pick(&names, Some("Leads"))
            .unwrap_err()
            .to_string()
            .contains("\"Results\""));
    }
}
