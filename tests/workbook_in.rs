//! Workbooks as input: recognised by content, cells read as a person sees them (a mobile
//! stored as a number, a date, a formula's value), a workbook output by default, `--sheet`,
//! and a workbook the tool wrote itself read back in.

use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};

use crate::common::*;

fn leads_workbook(path: &std::path::Path) {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet().set_name("Leads").unwrap();
    for (c, h) in ["Name", "Phone", "Email", "Joined", "Score"]
        .iter()
        .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "Ann").unwrap();
    ws.write_number(1, 1, 8613800138000.0).unwrap();
    ws.write_string(1, 2, "ann@example.com").unwrap();
    let date = ExcelDateTime::from_ymd(2026, 3, 1).unwrap();
    ws.write_datetime_with_format(1, 3, &date, &Format::new().set_num_format("dd/mm/yyyy"))
        .unwrap();
    ws.write_formula(1, 4, Formula::new("=40+2").set_result("42"))
        .unwrap();
    ws.write_string(2, 0, "Bob").unwrap();
    ws.write_string(2, 1, "+86 139 0013 9000").unwrap();
    let other = wb.add_worksheet().set_name("Notes").unwrap();
    other.write_string(0, 0, "email").unwrap();
    other.write_string(1, 0, "notes@example.com").unwrap();
    wb.save(path).unwrap();
}

fn sheet(path: &std::path::Path, name: &str) -> Vec<Vec<String>> {
    use calamine::{Reader, Xlsx};
    let mut wb: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let range = wb.worksheet_range(name).unwrap();
    range
        .rows()
        .map(|r| r.iter().map(checkuser::input::workbook::text).collect())
        .collect()
}

#[test]
fn a_workbook_is_read_as_people_see_it_and_answered_as_a_workbook() {
    let fx = Fixture::new();
    // Named .csv on purpose: recognised by its bytes, not its name.
    let book = fx.path("export.csv");
    leads_workbook(&book);
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            book.to_str().unwrap(),
            "--check",
            "mobile=Phone",
            "--check",
            "email=Email",
            "--default-country",
            "86",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = sheet(&fx.path("export.validated.xlsx"), "Results");
    let h = &rows[0];
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    assert_eq!(
        rows[1][col("Phone")],
        "8613800138000",
        "not 8.6138E+12 nor …0.0"
    );
    assert_eq!(rows[1][col("mobile_checked_key")], "0086-13800138000");
    assert_eq!(rows[1][col("mobile_result")], "valid");
    assert_eq!(rows[1][col("Joined")], "2026-03-01");
    assert_eq!(rows[1][col("Score")], "42");
    assert_eq!(rows[2][col("mobile_checked_key")], "0086-13900139000");
    assert_eq!(rows[2][col("email_result")], "skipped");
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            book.to_str().unwrap(),
            "--sheet",
            "#2",
            "--check",
            "email=email",
            "-o",
            fx.path("notes.csv").to_str().unwrap(),
            "--summary-json",
            fx.path("s.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.path("s.json")).unwrap()).unwrap();
    assert_eq!(s["encoding"], "workbook (sheet 'Notes')");
    let out = run(
        fx.dir.path(),
        &["validate", book.to_str().unwrap(), "--sheet", "Missing"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"Leads\", \"Notes\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_workbook_the_tool_wrote_is_checked_again_with_one_set_of_results() {
    let fx = Fixture::new();
    let input = fx.file(
        "in.csv",
        "Name,Phone\nAnn,+86 138 0013 8000\n'=Bob,=cmd|'/c calc'!A1\n",
    );
    // validate FROM into TO with the mobile check, which must succeed.
    let validate = |from: &std::path::Path, to: &std::path::Path| {
        let out = run(
            fx.dir.path(),
            &[
                "validate",
                from.to_str().unwrap(),
                "--check",
                "mobile=Phone",
                "-o",
                to.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    };
    let (first, again, third) = (
        fx.path("first.xlsx"),
        fx.path("again.csv"),
        fx.path("third.csv"),
    );
    validate(&input, &first);
    validate(&first, &again);
    let (h, rows) = read_csv(&again, b',');
    assert_eq!(
        h.iter().filter(|c| *c == "mobile_result").count(),
        1,
        "{h:?}"
    );
    assert_eq!(h.len(), 2 + 13);
    assert_eq!(
        column(&h, &rows, "mobile_checked_key")[0],
        "0086-13800138000"
    );
    assert_eq!(
        column(&h, &rows, "Phone")[1],
        "'=cmd|'/c calc'!A1",
        "escaped once, not twice"
    );
    // A cell that really starts with `'`: kept from the workbook, and through a CSV re-check.
    assert_eq!(column(&h, &rows, "Name")[1], "''=Bob");
    validate(&again, &third);
    let (h3, rows3) = read_csv(&third, b',');
    assert_eq!(h3, h);
    for c in [
        "Name",
        "Phone",
        "mobile_checked_key",
        "mobile_result",
        "mobile_error_msg",
    ] {
        assert_eq!(column(&h3, &rows3, c), column(&h, &rows, c), "{c}");
    }
}

#[test]
fn two_lists_that_would_share_a_default_output_are_refused_before_any_request() {
    let fx = Fixture::new();
    let xlsx = fx.path("a.xlsx");
    leads_workbook(&xlsx);
    // An .ods beside it (its content does not matter: only its name and kind are looked at).
    std::fs::copy(&xlsx, fx.path("a.ods")).unwrap();
    let args = |input: &std::path::Path| {
        vec![
            "validate".to_string(),
            input.to_str().unwrap().to_string(),
            "--check".into(),
            "email=Email".into(),
        ]
    };
    for input in [fx.path("a.xlsx"), fx.path("a.ods")] {
        let out = bin(fx.dir.path()).args(args(&input)).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("a.validated.xlsx") && err.contains("-o"),
            "{err}"
        );
        assert!(
            err.contains(if input.ends_with("a.xlsx") {
                "a.ods"
            } else {
                "a.xlsx"
            }),
            "{err}"
        );
    }
    let out = bin(fx.dir.path())
        .current_dir(fx.dir.path())
        .args(["validate", "a.ods", "--check", "email=Email"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "relative: {}", stderr(&out));
    assert!(!fx.path("a.validated.xlsx").exists(), "nothing written");
    // Before any request: a run against the simulator sends nothing.
    let sim = Sim::start(no_faults());
    let out = sim
        .run_cmd(&fx, &xlsx, &["--check", "email=Email"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(sim.requests(), 0);
    // Named outputs are the way out; a CSV beside a workbook makes a different file anyway.
    let named = fx.path("a-ods.validated.xlsx");
    let mut with_o = args(&fx.path("a.ods"));
    with_o.extend(["-o".to_string(), named.to_str().unwrap().to_string()]);
    let out = bin(fx.dir.path()).args(&with_o).output().unwrap();
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
    let csv = fx.file("b.csv", "Email\nb@example.com\n");
    leads_workbook(&fx.path("b.xlsx"));
    let out = bin(fx.dir.path()).args(args(&csv)).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(fx.path("b.validated.csv").exists());
}

#[test]
fn a_workbook_input_is_logged_as_a_workbook_by_every_command() {
    let fx = Fixture::new();
    let book = fx.path("leads.xlsx");
    leads_workbook(&book);
    let state = fx.state();
    for cmd in ["validate", "run", "plan"] {
        let mut args = vec![cmd, book.to_str().unwrap(), "--check", "email=Email"];
        if cmd != "validate" {
            args.extend(["--sandbox", "--state", state.to_str().unwrap()]);
        }
        let out = run(fx.dir.path(), &args);
        assert_eq!(out.status.code(), Some(0), "{cmd}: {}", stderr(&out));
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().filter(|l| l.contains("reading ")).collect();
        assert_eq!(lines.len(), 1, "{cmd} logs its input once: {err}");
        assert!(
            lines[0].contains("as a workbook, sheet 'Leads'"),
            "{cmd}: {err}"
        );
        assert!(
            !err.contains("delimiter") && !err.contains("UTF-8"),
            "{cmd}: {err}"
        );
    }
}

/// A sheet with a title in A1, row 2 empty, the header in row 3 and two leads below.
fn titled_workbook(path: &std::path::Path) {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet().set_name("Leads").unwrap();
    ws.write_string(0, 0, "Lead export December 2026").unwrap();
    ws.write_string(2, 0, "Name").unwrap();
    ws.write_string(2, 1, "Email").unwrap();
    for (r, (name, mail)) in [("Ann", "ann@example.com"), ("Bob", "bob@example.com")]
        .into_iter()
        .enumerate()
    {
        ws.write_string(r as u32 + 3, 0, name).unwrap();
        ws.write_string(r as u32 + 3, 1, mail).unwrap();
    }
    wb.save(path).unwrap();
}

#[test]
fn a_title_above_a_workbooks_header_is_named_then_skipped_with_header_row() {
    let fx = Fixture::new();
    let book = fx.path("export.xlsx");
    titled_workbook(&book);
    let path = book.to_str().unwrap();
    let out = run(fx.dir.path(), &["validate", path, "--check", "email=Email"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--header-row 3"), "{}", stderr(&out));
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            path,
            "--check",
            "email=Email",
            "--header-row",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = sheet(&fx.path("export.validated.xlsx"), "Results");
    assert_eq!(rows[0][..3], ["Name", "Email", "email_checked_key"]);
    assert_eq!(rows.len(), 3, "the header and two leads: {rows:?}");
    assert_eq!(rows[2][0], "Bob");
    // Row 2 is empty: it cannot be the header.
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            path,
            "--check",
            "email=Email",
            "--header-row",
            "2",
            "-o",
            "-",
            "--format",
            "csv",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("row 2"), "{}", stderr(&out));
}

/// A workbook piped to standard input is recognised by its bytes as a file is (it was read
/// as CSV: ZIP bytes shown as headers).
#[test]
fn a_workbook_on_standard_input_is_read_as_a_workbook() {
    let fx = Fixture::new();
    let book = fx.path("leads.xlsx");
    leads_workbook(&book);
    let out = bin(fx.dir.path())
        .args([
            "validate",
            "-",
            "--check",
            "email=Email",
            "--default-country",
            "86",
            "-o",
            "-",
        ])
        .stdin(std::fs::File::open(&book).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.contains("Name") && header.contains("Email"),
        "{text}"
    );
    assert!(text.contains("ann@example.com"), "{text}");
    assert!(stderr(&out).contains("sheet 'Leads'"), "{}", stderr(&out));
}
