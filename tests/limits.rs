//! Resource limits and I/O faults: wide, empty and binary inputs, a disk that fills up under
//! the output or the state store, and a folder that cannot be written. Each ends with a clear
//! error (exit 2) or a per-row verdict, never a panic, and never a partial file under the
//! final name.

use std::path::Path;
use std::process::Output;

use crate::common::*;
use rand::{Rng, SeedableRng};

/// Runs the binary with writes limited to `blocks` file-size blocks (`ulimit -f`), the way a
/// full disk looks to it: writes past the limit fail with EFBIG instead of killing it.
fn with_file_limit(home: &Path, blocks: u32, args: &[&str], env: &[(&str, &str)]) -> Output {
    let script = format!("trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\"");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_checkuser"))
        .args(args)
        .env("HOME", home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn no_temp_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
}

#[test]
fn ten_thousand_columns_are_read_and_written() {
    let fx = Fixture::new();
    let mut text = (0..10_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push_str(",searchType,searchKey\n");
    for r in 0..3 {
        let mut row = (0..10_000)
            .map(|i| format!("{r}.{i}"))
            .collect::<Vec<_>>()
            .join(",");
        row.push_str(&format!(",email,user{r}@example.com\n"));
        text.push_str(&row);
    }
    let input = fx.file("wide.csv", text);
    let out = run(fx.dir.path(), &["validate", input.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (header, rows) = read_csv(&fx.path("wide.validated.csv"), b',');
    assert_eq!(header.len(), 10_002 + 13);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2][9_999], "2.9999");
    assert_eq!(
        column(&header, &rows, "result"),
        ["valid", "valid", "valid"]
    );
}

#[test]
fn a_header_only_file_gives_a_header_only_result() {
    let fx = Fixture::new();
    let input = fx.file("h.csv", "searchType,searchKey\r\n");
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "--summary-json",
            fx.path("s.json").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (header, rows) = read_csv(&fx.path("h.validated.csv"), b',');
    assert_eq!(header.len(), 15);
    assert!(rows.is_empty());
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.path("s.json")).unwrap()).unwrap();
    assert_eq!(
        (s["rows"].as_u64(), s["checks"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn binary_garbage_never_panics() {
    let fx = Fixture::new();
    for seed in 0..12u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let len = rng.random_range(1..200_000);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if seed % 3 == 0 {
            bytes.splice(0..0, b"searchType,searchKey\n".iter().copied());
        }
        let input = fx.file(&format!("g{seed}.bin"), &bytes);
        let out = run(
            fx.dir.path(),
            &[
                "validate",
                input.to_str().unwrap(),
                "-q",
                "--check",
                "email=#1",
            ],
        );
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(2)),
            "seed {seed}: exit {code:?}: {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("panicked"),
            "seed {seed}: {}",
            stderr(&out)
        );
        if code == Some(2) {
            assert!(
                stderr(&out).starts_with("checkuser: error: "),
                "seed {seed}: {}",
                stderr(&out)
            );
        }
    }
}

#[test]
fn a_full_disk_under_the_output_keeps_the_previous_file() {
    let fx = Fixture::new();
    let rows: Vec<String> = (0..20_000)
        .map(|i| format!("user{i}@example.com"))
        .collect();
    let input = fx.file("big.csv", email_csv(&rows));
    let out_path = fx.file("out.csv", "yesterday's results\n");
    let out = with_file_limit(
        fx.dir.path(),
        64,
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write the output"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        "yesterday's results\n"
    );
    assert!(
        no_temp_files(fx.dir.path()),
        "the temporary file is removed"
    );
}

/// A full disk under the state store stops sending, and the answers already paid for are in
/// the output all the same (they were lost with the run before: exit 2, no output).
#[test]
fn a_full_disk_under_the_state_store_stops_the_run_and_keeps_the_answers_in_the_output() {
    let fx = Fixture::new();
    // Small enough for the input's snapshot, too big for the store under the limit.
    let rows: Vec<String> = (0..1000).map(|i| format!("user{i}@example.com")).collect();
    let input = fx.file("big.csv", email_csv(&rows));
    let state = fx.state();
    let out = with_file_limit(
        fx.dir.path(),
        64,
        &[
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--throttle",
            "0",
            "--rate",
            "5000",
            "--concurrency",
            "16",
            "-q",
            "-o",
            "-",
            "--state",
            state.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Standard output streams (it cannot be replaced atomically); the message must say why.
    assert!(
        stderr(&out).contains("state store") && stderr(&out).contains("disk full"),
        "{}",
        stderr(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), rows.len() + 1, "every row written");
    let answered = lines
        .iter()
        .filter(|l| l.contains(",free,") || l.contains(",taken,"))
        .count();
    let sent = stderr(&out);
    assert!(
        answered > 0,
        "the answers received are in the output: {sent}"
    );
}

#[test]
fn an_output_folder_that_cannot_be_written_is_a_clear_error() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    // /sys refuses new files even to root, which chmod-based tests cannot guarantee.
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            "/sys/checkuser-test.csv",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("-o /sys/checkuser-test.csv: the folder /sys is not writable"),
        "{}",
        stderr(&out)
    );
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            fx.path("no/such/dir/x.csv").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/no/such/dir does not exist") && !stderr(&out).contains(".x.csv."),
        "{}",
        stderr(&out)
    );
}

/// Seven ordinary rows, then one with `extra` stray cells far to the right, then one more.
fn list_with_a_wide_row(extra: usize) -> (Vec<String>, String) {
    let keys = emails(9);
    let mut text = String::from("searchType,searchKey\n");
    for (i, k) in keys.iter().enumerate() {
        text.push_str(&format!("email,{k}"));
        if i == 7 {
            text.push_str(&",x".repeat(extra));
        }
        text.push('\n');
    }
    (keys, text)
}

/// The `result` and `error_msg` of each row of a workbook's Results sheet, and its widest row.
fn workbook_results(path: &Path) -> (Vec<(String, String)>, usize) {
    use calamine::{Reader, Xlsx};
    let mut wb: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let sheet = wb.worksheet_range("Results").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    let at = |name: &str| rows[0].iter().position(|h| h == name).unwrap();
    let (result, msg) = (at("result"), at("error_msg"));
    let found = rows[1..]
        .iter()
        .map(|r| (r[result].clone(), r[msg].clone()))
        .collect();
    (found, sheet.width())
}

/// A file is read before anything is sent: a row too wide for the workbook output refuses the
/// run before its first request.
#[test]
fn a_file_with_a_row_too_wide_for_a_workbook_is_refused_before_any_request() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let (_, text) = list_with_a_wide_row(17_000);
    let input = fx.file("in.csv", text);
    let xlsx = fx.path("x.xlsx");
    let out = sim.run_expect(&fx, &input, &["-o", xlsx.to_str().unwrap()], 2);
    assert!(
        stderr(&out).contains("a workbook holds at most"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sim.requests(), 0, "nothing bought before the refusal");
}

/// A pipe cannot be read ahead: its rows are measured as they arrive. The row too wide for the
/// workbook is not sent and says why; every other answer bought is in the output, and every
/// row read is written.
#[test]
fn a_piped_row_too_wide_for_a_workbook_is_not_sent_and_nothing_bought_is_lost() {
    use std::io::Write;
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let (keys, text) = list_with_a_wide_row(17_000);
    let out = fx.path("x.xlsx");
    let args = ["-o", out.to_str().unwrap(), "--rate", "100"];
    let mut cmd = sim.run_cmd(&fx, Path::new("-"), &args);
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("row 8") && err.contains("not sent"), "{err}");
    let (rows, width) = workbook_results(&out);
    assert_eq!(
        rows.len(),
        keys.len(),
        "every row read is written: {rows:?}"
    );
    assert_eq!(width, 16_384, "the wide row is cut at the last column");
    for (i, ((result, msg), key)) in rows.iter().zip(&keys).enumerate() {
        if i == 7 {
            assert_eq!(result, "error");
            assert!(msg.contains("not sent") && msg.contains("CSV"), "{msg}");
        } else {
            let truth = checkuser::sandbox::truth("email", key).result();
            assert_eq!(result, truth.as_str(), "{key}");
        }
    }
    assert_eq!(
        sim.requests(),
        keys.len() - 1,
        "the wide row's check was not sent"
    );
    assert_eq!(sim.sandbox.stats.requests_for(&keys[7]), 0);
    let s = fx.summary();
    assert_eq!(
        (s["rows"].as_u64(), s["error"].as_u64()),
        (Some(9), Some(1))
    );
}
