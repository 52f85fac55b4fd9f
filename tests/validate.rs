//! `checkuser validate` end to end: the real binary on fixture files.

use crate::common::*;

#[test]
fn per_row_mode_keeps_every_row_in_order_and_marks_invalid_ones() {
    let fx = Fixture::new();
    let input = fx.file(
        "leads.csv",
        per_row_csv(&[
            ("email", "Alice@Example.COM"),
            ("email", "nope"),
            ("mobile", "+86 138-0013-8000"),
            ("name", "op_x1"),
            ("name", ""),
            ("email", "alice@example.com"),
        ]),
    );
    let out = run(fx.dir.path(), &["validate", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (header, rows) = read_csv(&fx.path("leads.validated.csv"), b',');
    assert_eq!(
        &header[..4],
        ["searchType", "searchKey", "checked_key", "result"]
    );
    assert_eq!(header.len(), 2 + 13);
    assert_eq!(
        column(&header, &rows, "searchKey"),
        [
            "Alice@Example.COM",
            "nope",
            "'+86 138-0013-8000",
            "op_x1",
            "",
            "alice@example.com"
        ]
    );
    assert_eq!(
        column(&header, &rows, "result"),
        ["valid", "invalid", "valid", "invalid", "skipped", "valid"]
    );
    assert_eq!(column(&header, &rows, "checked_key")[2], "0086-13800138000");
    assert_eq!(column(&header, &rows, "error_code")[1], "LOCAL");
    assert!(column(&header, &rows, "error_msg")[3].contains("reserved"));
    assert!(stderr(&out).contains("6 rows"));
}

#[test]
fn mapped_mode_reads_windows_1252_semicolon_exports_and_escapes_formulas() {
    let fx = Fixture::new();
    let text = "Id;Name;Mail;Phone;Note\r\n1;José;JOSE@Café.example.com;+49 1512 3456789;=HYPERLINK(\"x\")\r\n2;Ann;\"a;b\"@x.com;;\"two\r\nlines\"\r\n3;Short\r\n4;Long;l@x.example.com;;n;extra1;extra2\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    let input = fx.file("crm.csv", bytes);
    let summary = fx.path("summary.json");
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "--check",
            "email=mail",
            "--check",
            "mobile=Phone",
            "--summary-json",
            summary.to_str().unwrap(),
            "--bom",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(fx.path("crm.validated.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "BOM requested");
    let (header, rows) = read_csv(&fx.path("crm.validated.csv"), b';');
    assert_eq!(header[5], "email_checked_key");
    assert_eq!(header[5 + 13], "mobile_checked_key");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0][1], "José", "decoded from Windows-1252");
    assert_eq!(rows[0][4], "'=HYPERLINK(\"x\")", "formula escaped");
    assert_eq!(rows[0][5], "JOSE@café.example.com");
    assert_eq!(rows[1][4], "two\r\nlines");
    assert_eq!(
        column(&header, &rows, "mobile_result"),
        ["valid", "skipped", "skipped", "skipped"]
    );
    assert_eq!(rows[2].len(), 5 + 26, "short row padded");
    assert_eq!(rows[2][2], "");
    assert_eq!(
        &rows[3][5 + 26..],
        ["extra1", "extra2"],
        "extra fields after the result columns"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["rows"], 4);
    assert_eq!(json["checks"], 8);
    // `a;b@x.com`: a ';' cannot stand unquoted in an address.
    assert_eq!(json["valid"], 3);
    assert_eq!(json["invalid"], 1);
    assert_eq!(json["skipped"], 4);
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["encoding"], "windows-1252");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_short_gbk_file_is_read_with_the_locale_as_hint_or_a_warning() {
    let fx = Fixture::new();
    let (bytes, _, _) = encoding_rs::GBK.encode("name,email\n田中,a@b.com\n");
    let input = fx.file("short.csv", bytes);
    let validate = |lang: Option<&str>| {
        let mut cmd = bin(fx.dir.path());
        cmd.args(["validate", input.to_str().unwrap(), "--check", "email=#2"]);
        if let Some(l) = lang {
            cmd.env("LANG", l);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let (_, rows) = read_csv(&fx.path("short.validated.csv"), b',');
        (rows[0][0].clone(), stderr(&out))
    };
    let (name, log) = validate(Some("zh_CN.UTF-8"));
    assert_eq!(name, "田中");
    assert!(
        log.contains("GBK was guessed from only 4 non-ASCII bytes and the locale's region (cn)"),
        "{log}"
    );
    // No locale: 4 bytes could be anything; whatever the guess, the log says how to choose.
    let (_, log) = validate(None);
    assert!(
        log.contains("guessed from only 4 non-ASCII bytes") && log.contains("--encoding"),
        "{log}"
    );
}

#[test]
fn stdin_to_stdout_and_no_escaping_when_asked() {
    let fx = Fixture::new();
    let mut child = bin(fx.dir.path())
        .args(["validate", "-", "-o", "-", "--no-escape-formulas", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"searchType|searchKey|note\nname|-dash-name|=1+1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("searchType|searchKey|note|checked_key|result"));
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("name|-dash-name|=1+1|-dash-name|valid|"),
        "{text}"
    );
    assert!(out.stderr.is_empty(), "-q prints nothing on success");
}

#[test]
fn hostile_inputs_get_located_errors_and_exit_2() {
    let fx = Fixture::new();
    let mut big = b"searchType,searchKey\nemail,a@b.cd\nemail,\"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 2 << 20));
    big.extend(b"\"\n");
    let cases: Vec<(&str, Vec<u8>, Vec<&str>, &str)> = vec![
        (
            "quote.csv",
            b"searchType,searchKey\nemail,a@b.cd\nemail,\"oops\nemail,c@d.ef\n".to_vec(),
            vec![],
            "record 2",
        ),
        ("big.csv", big, vec![], "larger than 1024 KiB"),
        ("empty.csv", Vec::new(), vec![], "is empty"),
        (
            "nomode.csv",
            b"Name,Mail\nx,y\n".to_vec(),
            vec![],
            "--check email=Mail",
        ),
        (
            "missing.csv",
            b"Name,Mail\nx,y\n".to_vec(),
            vec!["--check", "mobile=Phone"],
            "headers found: \"Name\", \"Mail\"",
        ),
        (
            "dup.csv",
            b"Mail,mail\nx,y\n".to_vec(),
            vec!["--check", "email=MAIL"],
            "appears 2 times",
        ),
    ];
    for (name, content, extra, expect) in cases {
        let input = fx.file(name, content);
        let mut args = vec!["validate", input.to_str().unwrap()];
        args.extend(extra);
        let out = run(fx.dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{name}: {}", stderr(&out));
        let stem = name.trim_end_matches(".csv");
        assert!(
            !fx.path(&format!("{stem}.validated.csv")).exists(),
            "{name}: no output on a fatal input error"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn invalid_utf8_in_strict_mode_is_a_per_row_invalid() {
    let fx = Fixture::new();
    let input = fx.file(
        "bad.csv",
        b"searchType,searchKey\nemail,ok@x.com\nemail,caf\xe9@x.com\n",
    );
    let out = run(
        fx.dir.path(),
        &["validate", input.to_str().unwrap(), "--encoding", "utf-8"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (header, rows) = read_csv(&fx.path("bad.validated.csv"), b',');
    assert_eq!(column(&header, &rows, "result"), ["valid", "invalid"]);
    assert!(column(&header, &rows, "error_msg")[1].contains("not valid UTF-8"));
    // Auto mode reads the same file as Windows-1252 instead, losing nothing.
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            fx.path("auto.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let (header, rows) = read_csv(&fx.path("auto.csv"), b',');
    assert_eq!(column(&header, &rows, "checked_key")[1], "café@x.com");
}

#[test]
fn an_existing_output_is_replaced_whole_and_the_input_is_never_overwritten() {
    let fx = Fixture::new();
    let input = fx.file("l.csv", per_row_csv(&[("email", "a@b.cd")]));
    let out_path = fx.file("o.csv", "old content\n");
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read_to_string(&out_path)
        .unwrap()
        .starts_with("\u{feff}searchType,searchKey,checked_key"));
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            input.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is the input file itself"));
}

#[test]
fn help_teaches_both_input_shapes_and_the_sandbox() {
    let fx = Fixture::new();
    let out = run(fx.dir.path(), &["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--sandbox")
            && text.contains("--check email=")
            && text.contains("searchType"),
        "{text}"
    );
    let out = run(fx.dir.path(), &["run", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--rate",
        "--concurrency",
        "--timeout",
        "--max-attempts",
        "--state",
        "--max-age",
        "--taken-max-age",
        "--refresh",
        "--wait-lock",
        "--api",
        "--endpoint",
        "--partner-id",
        "--token-file",
    ] {
        assert!(text.contains(flag), "run --help lacks {flag}");
    }
}

/// A CSV opened the way Excel and LibreOffice open one on a double-click on Chinese Windows:
/// UTF-8 only when it starts with a byte-order mark, else the ANSI code page (GBK); the mark
/// itself is not part of the first cell.
fn open_like_a_spreadsheet(bytes: &[u8], delimiter: u8) -> Vec<Vec<String>> {
    let text = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => String::from_utf8(rest.to_vec()).unwrap(),
        None => encoding_rs::GBK.decode(bytes).0.into_owned(),
    };
    csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

#[test]
fn a_csv_file_opens_right_in_a_spreadsheet_and_pipes_get_no_bom() {
    let fx = Fixture::new();
    let (gbk, _, _) =
        encoding_rs::GBK.encode("姓名;邮箱\r\n王丽;wangli@example.com\r\n张伟;bad\r\n");
    let input = fx.file("crm.csv", gbk);
    let args = ["validate", input.to_str().unwrap(), "--check", "email=邮箱"];
    let out = run(fx.dir.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bytes = std::fs::read(fx.path("crm.validated.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a file gets a BOM");
    let sheet = open_like_a_spreadsheet(&bytes, b';');
    assert_eq!(
        &sheet[0][..4],
        ["姓名", "邮箱", "email_checked_key", "email_result"]
    );
    assert_eq!(
        &sheet[1][..4],
        ["王丽", "wangli@example.com", "wangli@example.com", "valid"]
    );
    assert_eq!(&sheet[2][..2], ["张伟", "bad"]);
    assert_eq!(sheet[2][3], "invalid");
    assert!(sheet.iter().all(|r| r.len() == 2 + 13), "columns line up");

    // --no-bom leaves it out of a file; standard output (a pipe here) gets one only with --bom.
    let plain = fx.path("plain.csv");
    let out = run(
        fx.dir.path(),
        &[&args[..], &["--no-bom", "-o", plain.to_str().unwrap()]].concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plain = std::fs::read(plain).unwrap();
    assert!(plain.starts_with("姓名".as_bytes()), "no BOM with --no-bom");
    let out = run(fx.dir.path(), &[&args[..], &["-o", "-"]].concat());
    assert!(
        out.stdout.starts_with("姓名".as_bytes()),
        "no BOM on a pipe"
    );
    let out = run(fx.dir.path(), &[&args[..], &["-o", "-", "--bom"]].concat());
    assert!(out.stdout.starts_with(b"\xEF\xBB\xBF"), "--bom on a pipe");
    let last = fx.path("last.csv");
    let out = run(
        fx.dir.path(),
        &[
            &args[..],
            &["--bom", "--no-bom", "-o", last.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "the last of --bom/--no-bom wins"
    );
    assert!(!std::fs::read(last).unwrap().starts_with(b"\xEF"));
}

#[test]
fn encoding_help_says_the_encoding_is_detected() {
    let fx = Fixture::new();
    for cmd in ["run", "validate", "plan"] {
        let out = run(fx.dir.path(), &[cmd, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let para: String = text
            .split("\n\n")
            .find(|p| p.trim_start().starts_with("--encoding"))
            .unwrap_or_else(|| panic!("{cmd}: no --encoding in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(para.contains("detected"), "{cmd}: {para}");
        assert!(para.contains("GBK"), "{cmd}: {para}");
        assert!(!para.contains("Windows-1252 for input"), "{cmd}: {para}");
    }
}

#[test]
fn the_check_suggestion_follows_the_values_not_only_the_header_names() {
    let fx = Fixture::new();
    let input = fx.file(
        "crm.csv",
        "ID,客户,联系方式,手机,Notes\n\
         1001,王丽,wangli@example.com,138 0013 8000,call back\n\
         1002,张伟,zhangwei@example.cn,+86 139 0013 9000,\n\
         1003,李娜,,13700137000,vip\n",
    );
    let out = run(fx.dir.path(), &["validate", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("--check email='联系方式' --check mobile='手机'"),
        "{err}"
    );
    assert!(!err.contains("email=ID"), "{err}");
    // Header names still help when the values say nothing.
    let input = fx.file("plain.csv", "Id,Mail\n1,x\n");
    let out = run(fx.dir.path(), &["validate", input.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("--check email=Mail"),
        "{}",
        stderr(&out)
    );
}

/// Issue 20: what input methods, `tel:` links and pastes make of numbers is read as
/// libphonenumber reads it, and the emails the peers' suites hold are judged as they judge them;
/// the same person typed two ways is one key (counted once as a duplicate).
#[test]
fn typed_and_pasted_forms_are_read_as_libphonenumber_and_the_peers_read_them() {
    let fx = Fixture::new();
    let input = fx.file(
        "typed.csv",
        "phone,email\n\
         １３８００１３８０００,e\u{301}mile@example.com\n\
         ＋86 138 0013 8000,\u{e9}mile@example.com\n\
         tel:+86-138-0013-8001;ext=12,li.wei＠qq.com\n\
         手机：13800138002,<<a@b.com>>\n\
         13800138000/13900139000,a@e\u{1F600}.com\n\
         8.6138E+12,€@example.com\n\
         +86 138\u{AD}0013\u{AD}8003,me@yy--0.tld\n",
    );
    let summary = fx.path("summary.json");
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "--check",
            "mobile=phone",
            "--check",
            "email=email",
            "--default-country",
            "CN",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (header, rows) = read_csv(&fx.path("typed.validated.csv"), b',');
    let keys = column(&header, &rows, "mobile_checked_key");
    let results = column(&header, &rows, "mobile_result");
    assert_eq!(
        results,
        ["valid", "valid", "valid", "valid", "invalid", "invalid", "valid"]
    );
    assert_eq!(
        [&keys[..4], &keys[6..]].concat(),
        [
            "0086-13800138000",
            "0086-13800138000",
            "0086-13800138001",
            "0086-13800138002",
            "0086-13800138003"
        ]
    );
    let reasons = column(&header, &rows, "mobile_error_msg");
    assert!(
        reasons[4].contains("two numbers in one cell?"),
        "{}",
        reasons[4]
    );
    assert!(reasons[5].contains("scientific notation"), "{}", reasons[5]);
    assert_eq!(
        column(&header, &rows, "email_result"),
        ["valid", "valid", "valid", "valid", "invalid", "invalid", "invalid"]
    );
    let emails = column(&header, &rows, "email_checked_key");
    assert_eq!(emails[0], "\u{e9}mile@example.com", "NFC");
    assert_eq!(emails[1], emails[0]);
    assert_eq!(&emails[2..4], ["li.wei@qq.com", "a@b.com"]);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["valid"], 9);
    assert_eq!(json["invalid"], 5);
    assert_eq!(
        json["duplicates"], 2,
        "one mobile and one email typed twice"
    );
}

/// `validate` on `input` with `args`, exit 0 expected.
fn validate_ok(fx: &Fixture, input: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["validate", input.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(fx.dir.path(), &all);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

#[test]
fn validate_writes_validated_csv_and_never_replaces_a_runs_answers() {
    let fx = Fixture::new();
    let input = fx.file("leads.csv", "Mail\na@example.com\n");
    let answers = fx.file("leads.checked.csv", "a run's answers\n");
    validate_ok(&fx, &input, &["--check", "email=Mail"]);
    assert_eq!(
        std::fs::read_to_string(&answers).unwrap(),
        "a run's answers\n",
        "the run's output is left alone"
    );
    let (h, rows) = read_csv(&fx.path("leads.validated.csv"), b',');
    assert_eq!(column(&h, &rows, "email_result"), ["valid"]);
}

/// `sep=;` then a header and a row, in the bytes of each encoding path of the reader.
fn sep_line_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let text = "sep=;\r\nName;E-Mail\r\nJürgen;j@example.de\r\n";
    let utf16le: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.encode_utf16().flat_map(|u| u.to_le_bytes()))
        .collect();
    let utf16be: Vec<u8> = [0xFE, 0xFF]
        .into_iter()
        .chain(text.encode_utf16().flat_map(|u| u.to_be_bytes()))
        .collect();
    vec![
        ("utf-8", text.as_bytes().to_vec()),
        (
            "utf-8 with a BOM",
            [b"\xEF\xBB\xBF", text.as_bytes()].concat(),
        ),
        ("utf-16le", utf16le),
        ("utf-16be", utf16be),
        (
            "windows-1252",
            encoding_rs::WINDOWS_1252.encode(text).0.into_owned(),
        ),
    ]
}

#[test]
fn an_excel_sep_line_names_the_delimiter_and_is_not_a_row() {
    for (name, bytes) in sep_line_inputs() {
        let fx = Fixture::new();
        let input = fx.file("leads.csv", bytes);
        let out = fx.path("out.csv");
        validate_ok(
            &fx,
            &input,
            &["--check", "email=E-Mail", "-o", out.to_str().unwrap()],
        );
        let (h, rows) = read_csv(&out, b';');
        assert_eq!(h[..2], ["Name", "E-Mail"], "{name}");
        assert_eq!(rows.len(), 1, "{name}: the sep line is no row");
        assert_eq!(rows[0][0], "Jürgen", "{name}");
        assert_eq!(column(&h, &rows, "email_result"), ["valid"], "{name}");
    }
}

/// A CRM export with a title, an export date and a blank line above its header (row 4).
const TITLED: &str = "Lead export December 2026\nexported 2026-12-01\n\nName,E-Mail\nAnn,ann@example.com\nBob,bob@example.com\n";

#[test]
fn header_row_skips_the_rows_above_the_header() {
    let fx = Fixture::new();
    let input = fx.file("leads.csv", TITLED);
    validate_ok(
        &fx,
        &input,
        &["--check", "email=E-Mail", "--header-row", "4"],
    );
    let (h, rows) = read_csv(&fx.path("leads.validated.csv"), b',');
    assert_eq!(h[..3], ["Name", "E-Mail", "email_checked_key"]);
    assert_eq!(
        column(&h, &rows, "Name"),
        ["Ann", "Bob"],
        "rows above are not written"
    );
    assert_eq!(column(&h, &rows, "email_result"), ["valid", "valid"]);
    // With a sep line: rows are counted as a spreadsheet shows them, without it.
    let input = fx.file("sep.csv", format!("sep=;\n{}", TITLED.replace(',', ";")));
    validate_ok(
        &fx,
        &input,
        &["--check", "email=E-Mail", "--header-row", "4"],
    );
    let (h, rows) = read_csv(&fx.path("sep.validated.csv"), b';');
    assert_eq!(column(&h, &rows, "email_result"), ["valid", "valid"]);
    for command in ["run", "plan", "validate"] {
        let help = run(fx.dir.path(), &[command, "--help"]);
        assert!(
            String::from_utf8_lossy(&help.stdout).contains("--header-row"),
            "{command} takes --header-row"
        );
    }
}

#[test]
fn a_header_below_row_1_is_named_in_the_error() {
    let fx = Fixture::new();
    let input = fx.file("leads.csv", TITLED);
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "--check",
            "email=E-Mail",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--header-row 4"), "{err}");
    // The title says nothing of the delimiter: each row is read as it looks.
    let input = fx.file("semi.csv", TITLED.replace(',', ";"));
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "--check",
            "email=E-Mail",
        ],
    );
    assert!(stderr(&out).contains("--header-row 4"), "{}", stderr(&out));
    // The API's own shape too, with no --check.
    let input = fx.file(
        "per-row.csv",
        "Leads\nsearchType,searchKey\nemail,a@example.com\n",
    );
    let out = run(fx.dir.path(), &["validate", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--header-row 2"), "{}", stderr(&out));
    // A header-row past the end of the input is refused, saying so.
    let out = run(
        fx.dir.path(),
        &["validate", input.to_str().unwrap(), "--header-row", "9"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--header-row 9"), "{}", stderr(&out));
}

#[test]
fn brief_columns_keep_the_key_the_result_and_the_reason() {
    let fx = Fixture::new();
    let input = fx.file("leads.csv", "Mail,Phone\na@example.com,123\n");
    let args = [
        "--check",
        "email=Mail",
        "--check",
        "mobile=Phone",
        "--columns",
        "brief",
    ];
    validate_ok(&fx, &input, &args);
    let out = fx.path("leads.validated.csv");
    let (h, rows) = read_csv(&out, b',');
    assert_eq!(
        h,
        [
            "Mail",
            "Phone",
            "email_checked_key",
            "email_result",
            "email_error_msg",
            "mobile_checked_key",
            "mobile_result",
            "mobile_error_msg"
        ]
    );
    assert_eq!(rows[0][3], "valid");
    assert_eq!(rows[0][6], "invalid");
    assert!(!rows[0][7].is_empty(), "the reason is kept");
    // A brief output read back is re-checked: one set of result columns.
    let again = fx.path("again.csv");
    let mut args2 = args.to_vec();
    args2.extend(["-o", again.to_str().unwrap()]);
    validate_ok(&fx, &out, &args2);
    let (h2, _) = read_csv(&again, b',');
    assert_eq!(h2, h);
}
