//! The workbook output, read back with a real reader (calamine) and compared cell by cell with
//! the CSV output of the same input.

use std::io::Read;

use crate::common::*;
use calamine::{open_workbook, Data, Reader, Xlsx};

fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        other => other.to_string(),
    }
}

fn sheet_rows(path: &std::path::Path, sheet: &str) -> Vec<Vec<String>> {
    let mut book: Xlsx<_> = open_workbook(path).unwrap();
    let range = book.worksheet_range(sheet).unwrap();
    range
        .rows()
        .map(|r| r.iter().map(cell_text).collect())
        .collect()
}

fn zip_entry(path: &std::path::Path, name: &str) -> Option<String> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut entry = zip.by_name(name).ok()?;
    let mut s = String::new();
    entry.read_to_string(&mut s).unwrap();
    Some(s)
}

#[test]
fn the_workbook_matches_the_csv_cell_for_cell_and_keeps_text_as_text() {
    let fx = Fixture::new();
    let input = fx.file(
        "leads.csv",
        "Id,Mail,Phone,Note\n007,a@example.com,+86 138 0013 8000,=HYPERLINK(\"http://x\")\n008,bad,,12345678901234567890\n009,,0086-13900139000,\"multi\nline\"\n010\n",
    );
    let csv_out = fx.path("out.csv");
    let xlsx_out = fx.path("out.xlsx");
    for out in [&csv_out, &xlsx_out] {
        let o = run(
            fx.dir.path(),
            &[
                "validate",
                input.to_str().unwrap(),
                "--check",
                "email=Mail",
                "--check",
                "mobile=Phone",
                "--no-escape-formulas",
                "-q",
                "-o",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let (header, rows) = read_csv(&csv_out, b',');
    let sheet = sheet_rows(&xlsx_out, "Results");
    assert_eq!(sheet[0], header);
    assert_eq!(sheet.len(), rows.len() + 1);
    // Two runs: only the answer times may differ.
    let times: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].ends_with("checked_at"))
        .collect();
    for (i, (want, got)) in rows.iter().zip(&sheet[1..]).enumerate() {
        let (mut want, mut got) = (want.clone(), got.clone());
        got.resize(want.len(), String::new());
        for &t in &times {
            assert_eq!(
                want[t].is_empty(),
                got[t].is_empty(),
                "row {} column {}",
                i + 1,
                header[t]
            );
            (want[t], got[t]) = (String::new(), String::new());
        }
        assert_eq!(got, want, "row {}", i + 1);
    }
    assert_eq!(sheet[1][0], "007", "leading zeros survive");
    assert_eq!(
        sheet[1][3], "=HYPERLINK(\"http://x\")",
        "formulas stay text, unescaped"
    );
    assert_eq!(sheet[2][3], "12345678901234567890");
    let mut book: Xlsx<_> = open_workbook(&xlsx_out).unwrap();
    assert_eq!(book.sheet_names(), ["Results", "Summary"]);
    let formulas = book.worksheet_formula("Results").unwrap();
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "no cell is a formula"
    );
    let sheet1 = zip_entry(&xlsx_out, "xl/worksheets/sheet1.xml").unwrap();
    assert!(
        sheet1.contains("ySplit=\"1\"") && sheet1.contains("state=\"frozen\""),
        "header frozen"
    );
    assert!(sheet1.contains("<autoFilter ref=\"A1:"), "autofilter on");
    assert!(
        zip_entry(&xlsx_out, "xl/charts/chart1.xml").is_some(),
        "a chart"
    );
    let summary = sheet_rows(&xlsx_out, "Summary");
    let find = |name: &str| summary.iter().find(|r| r[0] == name).map(|r| r[1].clone());
    assert_eq!(find("rows").as_deref(), Some("4"));
    assert_eq!(find("valid").as_deref(), Some("3"));
    assert_eq!(find("invalid").as_deref(), Some("1"));
}

#[test]
fn the_summary_figures_are_numbers_a_spreadsheet_can_add_up() {
    let fx = Fixture::new();
    let out = fx.path("r.xlsx");
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/leads.csv");
    let o = run(
        fx.dir.path(),
        &[
            "run",
            sample.to_str().unwrap(),
            "--sandbox",
            "--throttle",
            "0",
            "--rate",
            "200",
            "-q",
            "--state",
            fx.state().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut book: Xlsx<_> = open_workbook(&out).unwrap();
    let summary = book.worksheet_range("Summary").unwrap();
    let value = |name: &str| {
        summary
            .rows()
            .find(|r| r[0] == Data::String(name.into()))
            .map(|r| r[1].clone())
            .unwrap_or_else(|| panic!("no {name} row"))
    };
    let number = |name: &str| match value(name) {
        Data::Float(f) => f,
        Data::Int(i) => i as f64,
        other => panic!("{name} is {other:?}, not a number cell"),
    };
    assert_eq!(number("rows"), 30.0);
    assert_eq!(number("checks"), 30.0);
    assert_eq!(number("checks per row"), 1.0);
    assert!(number("requests") >= 1.0);
    for name in [
        "retries",
        "throttled",
        "checks from the store",
        "duplicates",
        "changed",
        "elapsed seconds",
        "requests per second",
        "free",
        "taken",
    ] {
        number(name);
    }
    assert!(
        matches!(value("stopped"), Data::String(_)),
        "text stays text"
    );
    assert!(matches!(value("input"), Data::String(_)));
}

#[test]
fn a_sandbox_run_writes_a_workbook_that_says_it_is_simulated() {
    let fx = Fixture::new();
    let out = fx.path("r.xlsx");
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/leads.csv");
    let o = run(
        fx.dir.path(),
        &[
            "run",
            sample.to_str().unwrap(),
            "--sandbox",
            "--throttle",
            "0",
            "--rate",
            "200",
            "-q",
            "--state",
            fx.state().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = sheet_rows(&out, "Results");
    assert_eq!(rows.len(), 31);
    let result = rows[0].iter().position(|h| h == "result").unwrap();
    assert_eq!(rows[3][result], "taken", "taken@example.com");
    let summary = sheet_rows(&out, "Summary");
    assert!(summary
        .iter()
        .any(|r| r[0] == "simulated" && r[1].starts_with("yes")));
}

/// Per column of a sheet's XML, from its `<col>` elements: (hidden, outline level).
fn column_looks(xml: &str, columns: usize) -> Vec<(bool, u32)> {
    let mut looks = vec![(false, 0); columns];
    for col in xml.split("<col ").skip(1) {
        let col = &col[..col.find("/>").unwrap()];
        let attr = |name: &str| {
            col.split_whitespace()
                .find_map(|a| a.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
        };
        let min: usize = attr("min").unwrap().parse().unwrap();
        let max: usize = attr("max").unwrap().parse().unwrap();
        for c in min..=max.min(columns) {
            looks[c - 1] = (
                attr("hidden").as_deref() == Some("1"),
                attr("outlineLevel").map_or(0, |l| l.parse().unwrap()),
            );
        }
    }
    looks
}

/// The CRM sample through the simulator into a workbook, as the README shows it.
fn crm_workbook(fx: &Fixture) -> std::path::PathBuf {
    let out = fx.path("x.xlsx");
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/crm-export.csv");
    let o = run(
        fx.dir.path(),
        &[
            "run",
            sample.to_str().unwrap(),
            "--sandbox",
            "--check",
            "email=E-Mail",
            "--check",
            "mobile=Phone",
            "--check",
            "name=Wished account",
            "--default-country",
            "86",
            "-q",
            "--state",
            fx.state().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.code().unwrap() <= 1, "{}", stderr(&o));
    out
}

#[test]
fn the_results_sheet_shows_four_columns_per_check_and_groups_the_rest() {
    let fx = Fixture::new();
    let out = crm_workbook(&fx);
    let rows = sheet_rows(&out, "Results");
    // Row 1008's extra fields widen the sheet past its header.
    let header: Vec<&String> = rows[0].iter().filter(|h| !h.is_empty()).collect();
    assert_eq!(header.len(), 7 + 3 * 13, "a workbook has every column");
    let xml = zip_entry(&out, "xl/worksheets/sheet1.xml").unwrap();
    let looks = column_looks(&xml, header.len());
    let shown = ["checked_key", "result", "error_msg", "previous_result"];
    for (i, name) in header.iter().enumerate() {
        let detail = i >= 7 && !shown.iter().any(|s| name.ends_with(&format!("_{s}")));
        let want = if detail { (true, 1) } else { (false, 0) };
        assert_eq!(looks[i], want, "column {name}");
    }
    let visible: Vec<&&String> = header
        .iter()
        .zip(&looks)
        .filter(|(_, l)| !l.0)
        .map(|(h, _)| h)
        .collect();
    assert_eq!(visible.len(), 7 + 3 * 4, "{visible:?}");
    // One click away: the groups are collapsed (the column after each one says so).
    assert!(xml.contains("collapsed=\"1\""), "collapsed groups");
    assert!(xml.contains("outlineLevelCol=\"1\""), "{xml}");
}

#[test]
fn every_sheet_prints_landscape_fit_to_the_page_width() {
    let fx = Fixture::new();
    let out = crm_workbook(&fx);
    for sheet in ["sheet1", "sheet2"] {
        let xml = zip_entry(&out, &format!("xl/worksheets/{sheet}.xml")).unwrap();
        assert!(
            xml.contains("<pageSetUpPr fitToPage=\"1\"/>"),
            "{sheet}: {xml}"
        );
        let setup = &xml[xml
            .find("<pageSetup ")
            .unwrap_or_else(|| panic!("{sheet}: no pageSetup"))..];
        let setup = &setup[..setup.find("/>").unwrap()];
        assert!(
            setup.contains("orientation=\"landscape\""),
            "{sheet}: {setup}"
        );
        assert!(setup.contains("fitToHeight=\"0\""), "{sheet}: {setup}");
        assert!(
            !setup.contains("fitToWidth=") || setup.contains("fitToWidth=\"1\""),
            "{setup}"
        );
    }
}

#[test]
fn the_summary_rounds_durations_and_rates_for_people() {
    let fx = Fixture::new();
    let out = crm_workbook(&fx);
    let mut book: Xlsx<_> = open_workbook(&out).unwrap();
    let summary = book.worksheet_range("Summary").unwrap();
    for name in ["elapsed seconds", "requests per second"] {
        let row = summary
            .rows()
            .find(|r| r[0] == Data::String(name.into()))
            .unwrap_or_else(|| panic!("no {name} row"));
        let Data::Float(f) = row[1] else {
            panic!("{name} is {:?}", row[1]);
        };
        assert!(((f * 10.0).round() - f * 10.0).abs() < 1e-9, "{name} = {f}");
    }
}

/// Runs a program if it is installed; `None` (said on stderr) if it is not.
fn tool(name: &str, args: &[&str], dir: &std::path::Path) -> Option<std::process::Output> {
    match std::process::Command::new(name)
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
    {
        Ok(o) => Some(o),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            skipped(&format!(
                "{name} is not installed (apt-get install libreoffice-calc-nogui poppler-utils)"
            ));
            None
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

#[test]
fn libreoffice_prints_the_crm_samples_results_on_one_page() {
    let fx = Fixture::new();
    let out = crm_workbook(&fx);
    let dir = fx.dir.path();
    let Some(o) = tool(
        "soffice",
        &[
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            dir.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
        dir,
    ) else {
        return;
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pdf = fx.path("x.pdf");
    let Some(info) = tool("pdfinfo", &[pdf.to_str().unwrap()], dir) else {
        return;
    };
    let info = String::from_utf8_lossy(&info.stdout).into_owned();
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("{info}"));
    // Results, Changes and Summary: one page each.
    let sheets = open_workbook::<Xlsx<_>, _>(&out).unwrap().sheet_names();
    assert_eq!(sheets, ["Results", "Changes", "Summary"]);
    assert_eq!(pages, 3, "one page per sheet: {info}");
    let Some(first) = tool(
        "pdftotext",
        &["-f", "1", "-l", "1", pdf.to_str().unwrap(), "-"],
        dir,
    ) else {
        return;
    };
    let first = String::from_utf8_lossy(&first.stdout).into_owned();
    for text in ["Wished account", "email_result", "1001", "1010"] {
        assert!(first.contains(text), "page 1 shows {text}: {first}");
    }
    assert!(
        !first.contains("request_id"),
        "detail columns are collapsed: {first}"
    );
}
