//! Workbooks as input (`.xlsx`, `.xlsm`, `.xls`, `.ods`, recognised by their bytes, read with
//! `calamine`): one sheet becomes CSV text in a private temporary file, each cell as the text a
//! person sees in the spreadsheet, and is then read like any CSV (the first row is the header).
//!
//! Workbooks come from strangers, so a file is inspected before `calamine` opens it: its kind
//! by its content (an ods is not an xlsx whatever its name; an encrypted xlsx is an OLE file),
//! and what it may inflate to ([`limits`]). A panic inside `calamine` on a damaged file becomes
//! an error naming the file. Without `--sheet` the first *visible* worksheet is read, and a
//! checkuser output split at Excel's row limit (`Results`, `Results 2`, …) is read as one
//! table when the continuation sheets repeat its header.

mod biff;
pub mod limits;
mod ods;
mod ole;
mod sheet;
mod xlsx;
mod zipped;

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;

use anyhow::{bail, Context, Result};
use calamine::{Data, DataType, Reader, SheetType, SheetVisible};

use sheet::{Copied, Out, Rows};

/// A converted workbook.
pub struct Converted {
    /// The CSV text, at its start.
    pub file: File,
    /// The sheet or sheets read, for messages: `Leads`, `Results to Results 2`.
    pub shown: String,
    /// Cells holding a formula with no saved value (their checks are `invalid`).
    pub formula_cells: u64,
    /// The rows after the header among the first few, numbered as the sheet numbers them
    /// (see [`crate::input::RecordReader::later_rows`]).
    pub later_rows: Vec<(u64, Vec<String>)>,
}

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
    starts_like_workbook(&head[..n])
}

/// Whether these first bytes are a workbook's: a ZIP archive (xlsx, xlsm, ods) or an OLE
/// compound file (xls).
pub fn starts_like_workbook(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(&OLE)
}

const OLE: [u8; 4] = [0xD0, 0xCF, 0x11, 0xE0];

/// The chosen sheet (`--sheet NAME|#N`, else the first visible one) as UTF-8 CSV text in an
/// anonymous temporary file (private, gone when closed), and the sheet's name.
pub fn to_csv(path: &Path, sheet: Option<&str>) -> Result<(File, String)> {
    convert(path, sheet).map(|c| (c.file, c.shown))
}

/// [`to_csv`], with what the conversion counted. Never panics: a panic inside `calamine` is
/// an error.
pub fn convert(path: &Path, sheet: Option<&str>) -> Result<Converted> {
    convert_at(path, sheet, None)
}

/// [`convert`] with the header on row `header_row` (`--header-row`, 1-based): the rows
/// above it are not read, and that row must hold something.
pub fn convert_at(path: &Path, sheet: Option<&str>, header_row: Option<u64>) -> Result<Converted> {
    quiet_panics();
    let header_row = match header_row.map(|n| u32::try_from(n - 1)) {
        Some(Ok(r)) => Some(r),
        Some(Err(_)) => bail!("--header-row is past the last row a sheet can hold"),
        None => None,
    };
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
        QUIET.with(|q| q.set(true));
        let r = convert_inner(path, sheet, header_row);
        QUIET.with(|q| q.set(false));
        r
    }));
    QUIET.with(|q| q.set(false));
    match run {
        Ok(r) => r.with_context(|| format!("cannot read the workbook {}", path.display())),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no reason given".into());
            bail!(
                "cannot read the workbook {}: the workbook reader failed on it ({why}); the file \
                 is damaged or cut off (if it is still being copied, wait and run again; opening \
                 and saving it in Excel or LibreOffice may repair it)",
                path.display()
            )
        }
    }
}

thread_local! {
    /// Set while this thread converts a workbook: a panic then is reported as an error only.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for panics caught by [`convert`], and
/// passes every other panic to the hook that was there before.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                before(info)
            }
        }));
    });
}

fn convert_inner(path: &Path, want: Option<&str>, header_row: Option<u32>) -> Result<Converted> {
    let file_len = std::fs::metadata(path)?.len();
    let mut head = [0u8; 4];
    let n = File::open(path)?.read(&mut head)?;
    let writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(std::io::BufWriter::new(tempfile::tempfile()?));
    let mut out = Out::new(writer, limits::max_text(file_len));
    out.header_row = header_row;
    let shown = if head[..n] == OLE {
        read_xls(path, file_len, want, &mut out)?
    } else {
        let mut z = zipped::Zipped::open(path)?;
        match z.kind {
            zipped::Kind::Xlsx => read_xlsx(path, &mut z, want, &mut out)?,
            zipped::Kind::Ods => read_ods(path, &mut z, want, &mut out)?,
        }
    };
    if out.formulas > 0 {
        let cells = match out.formulas {
            1 => "1 cell holds".to_string(),
            n => format!("{n} cells hold"),
        };
        tracing::warn!(
            "{cells} a formula with no saved value (first: {}); the checks that read such a cell \
             are invalid: open and save the file in Excel or LibreOffice, which store the values",
            out.first_formula.as_deref().unwrap_or("")
        );
    }
    let formula_cells = out.formulas;
    let later_rows = std::mem::take(&mut out.later_rows);
    let mut file = out
        .csv
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))?;
    Ok(Converted {
        file,
        shown,
        formula_cells,
        later_rows,
    })
}

fn read_xls<W: Write>(
    path: &Path,
    file_len: u64,
    want: Option<&str>,
    out: &mut Out<W>,
) -> Result<String> {
    let ole::Ole::Xls(stream) = ole::open(path, limits::MEMORY / 2)?;
    biff::check(&stream, file_len)?;
    drop(stream);
    let mut book = calamine::Xls::new(BufReader::new(File::open(path)?))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let meta = book.sheets_metadata().to_vec();
    read_sheets(&meta, want, out, |name, rows| {
        let range = book
            .worksheet_range(name)
            .map_err(|e| anyhow::anyhow!("cannot read sheet '{name}': {e}"))?;
        sheet::range(&range, None, rows)
    })
}

fn read_xlsx<W: Write>(
    path: &Path,
    z: &mut zipped::Zipped,
    want: Option<&str>,
    out: &mut Out<W>,
) -> Result<String> {
    let facts = xlsx::inspect(z)?;
    let mut book = calamine::Xlsx::new(BufReader::new(File::open(path)?))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let meta = book.sheets_metadata().to_vec();
    read_sheets(&meta, want, out, |name, rows| {
        xlsx::scan_sheet(z, &facts, name)?;
        sheet::xlsx(&mut book, rows)
    })
}

fn read_ods<W: Write>(
    path: &Path,
    z: &mut zipped::Zipped,
    want: Option<&str>,
    out: &mut Out<W>,
) -> Result<String> {
    let facts = ods::inspect(z)?;
    let mut book = calamine::Ods::new(BufReader::new(File::open(path)?))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let meta = book.sheets_metadata().to_vec();
    read_sheets(&meta, want, out, |name, rows| {
        let range = book
            .worksheet_range(name)
            .map_err(|e| anyhow::anyhow!("cannot read sheet '{name}': {e}"))?;
        let formulas = match facts.formulas.iter().any(|f| f == name) {
            true => Some(
                book.worksheet_formula(name)
                    .map_err(|e| anyhow::anyhow!("cannot read sheet '{name}': {e}"))?,
            ),
            false => None,
        };
        sheet::range(&range, formulas.as_ref(), rows)
    })
}

/// Reads the chosen sheet, and its continuations if it is a split checkuser output; returns
/// the name(s) read.
fn read_sheets<W: Write>(
    meta: &[calamine::Sheet],
    want: Option<&str>,
    out: &mut Out<W>,
    mut copy: impl FnMut(&str, Rows<'_, W>) -> Result<Copied>,
) -> Result<String> {
    let names: Vec<String> = meta.iter().map(|s| s.name.clone()).collect();
    let name = choose(meta, &names, want)?;
    let (mut rows, header) = match copy(&name, Rows::new(out, &name, None))? {
        Copied::Rows(n, Some(h)) => (n, h),
        _ => match out.header_row {
            Some(h) => bail!(
                "--header-row {}: sheet '{name}' has no row {} or below",
                h + 1,
                h + 1
            ),
            None => bail!("sheet '{name}' is empty"),
        },
    };
    // The writer names its sheets `Results`, `Results 2`, …; a sheet asked for is read alone.
    let mut read = vec![name.clone()];
    let mut skipped = false;
    if want.is_none() && name == "Results" {
        for more in (2..).map(|n| format!("{name} {n}")) {
            if !names.contains(&more) {
                break;
            }
            match copy(&more, Rows::new(out, &more, Some(&header)))? {
                Copied::Rows(n, _) => {
                    rows += n;
                    read.push(more)
                }
                Copied::OtherHeader(h) => {
                    skipped = true;
                    tracing::warn!(
                        "sheet '{more}' is named like a continuation of '{name}' but its header \
                         row differs ({}, starting {:?}): it is not read",
                        crate::output::summary::count(h.len() as u64, "column"),
                        h.first().map(String::as_str).unwrap_or("")
                    );
                }
            }
        }
    }
    let shown = match read.as_slice() {
        [one] => one.clone(),
        [first, .., last] if !skipped => format!("{first} to {last}"),
        many => many.join(", "),
    };
    tracing::debug!(
        "{} from {shown}",
        crate::output::summary::count(rows, "row")
    );
    Ok(shown)
}

/// The sheet to read: the one asked for, else the first visible worksheet (saying which
/// sheets before it were passed over and why).
fn choose(meta: &[calamine::Sheet], names: &[String], want: Option<&str>) -> Result<String> {
    if want.is_some() {
        return pick(names, want);
    }
    let readable = |s: &calamine::Sheet| s.typ == SheetType::WorkSheet;
    let Some(at) = meta
        .iter()
        .position(|s| readable(s) && s.visible == SheetVisible::Visible)
        .or_else(|| meta.iter().position(readable))
    else {
        return pick(names, None);
    };
    let chosen = &meta[at].name;
    let passed: Vec<String> = meta[..at]
        .iter()
        .map(|s| match (s.typ, s.visible) {
            (SheetType::WorkSheet, SheetVisible::VeryHidden) => {
                format!("'{}' (very hidden)", s.name)
            }
            (SheetType::WorkSheet, _) => format!("'{}' (hidden)", s.name),
            _ => format!("'{}' (not a worksheet)", s.name),
        })
        .collect();
    if !passed.is_empty() {
        tracing::warn!(
            "reading sheet '{chosen}', the first visible worksheet, not {} before it (pass \
             --sheet NAME to read another)",
            passed.join(", ")
        );
    }
    Ok(chosen.clone())
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
                "--sheet #{n}: the workbook has {}: {}",
                crate::output::summary::count(names.len() as u64, "sheet"),
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

    /// An ods of stored (uncompressed) parts, so that damage reaches its XML.
    fn ods_bytes() -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let parts = [
            ("mimetype", "application/vnd.oasis.opendocument.spreadsheet".to_string()),
            (
                "META-INF/manifest.xml",
                r#"<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>"#.into(),
            ),
            (
                "content.xml",
                format!(
                    r#"<office:document-content xmlns:office="o" xmlns:table="t" xmlns:text="x"><office:body><office:spreadsheet><table:table table:name="Leads">{}</table:table></office:spreadsheet></office:body></office:document-content>"#,
                    ["Email", "a@example.com", "b@example.com"]
                        .iter()
                        .map(|v| format!(r#"<table:table-row><table:table-cell office:value-type="string" table:number-columns-repeated="2"><text:p>{v}</text:p></table:table-cell><table:table-cell table:formula="of:=1"/></table:table-row>"#))
                        .collect::<String>()
                ),
            ),
        ];
        for (name, body) in parts {
            z.start_file(name, stored).unwrap();
            std::io::Write::write_all(&mut z, body.as_bytes()).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    fn xlsx_bytes() -> Vec<u8> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (r, v) in ["Email", "a@example.com", "b@example.com"]
            .iter()
            .enumerate()
        {
            sheet.write_string(r as u32, 0, *v).unwrap();
            sheet.write_number(r as u32, 1, r as f64).unwrap();
        }
        book.save_to_buffer().unwrap()
    }

    /// Converts `bytes` on a thread that must finish within a minute, whatever it returns.
    fn converts_in_time(bytes: &[u8], name: &str) -> Result<Converted> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(convert(&p, None));
        });
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("converting {name} did not finish"))
    }

    #[test]
    fn no_workbook_cut_short_or_damaged_panics_or_hangs() {
        let xls = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/leads.xls"
        ))
        .unwrap();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (name, whole) in [
            ("a.xls", xls),
            ("a.xlsx", xlsx_bytes()),
            ("a.ods", ods_bytes()),
        ] {
            assert!(converts_in_time(&whole, name).is_ok(), "{name} whole");
            let step = (whole.len() / 40).max(1);
            for cut in (0..whole.len()).step_by(step) {
                if let Ok(c) = converts_in_time(&whole[..cut], name) {
                    drop(c);
                }
            }
            for _ in 0..150 {
                let mut bytes = whole.clone();
                for _ in 0..1 + next() % 8 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = next() as u8;
                }
                let _ = converts_in_time(&bytes, name);
            }
        }
    }

    #[test]
    fn a_truncated_xls_says_it_is_cut_off() {
        let xls = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/leads.xls"
        ))
        .unwrap();
        let err = converts_in_time(&xls[..xls.len() - 600], "cut.xls")
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("cut off"), "{err:#}");
    }

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
