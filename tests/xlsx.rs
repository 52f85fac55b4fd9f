//! The workbook output, read back with a real reader (calamine) and compared cell by cell with
//! the CSV output of the same input.

mod common;

use std::io::Read;

use calamine::{open_workbook, Data, Reader, Xlsx};
use common::*;

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
    assert!(number("api requests") >= 1.0);
    for name in [
        "retries",
        "throttled",
        "cache hits",
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
