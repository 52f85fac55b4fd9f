//! Where cron users live: metrics for node_exporter, a JSON summary on every exit (failures
//! too, and to standard output), settings from CHECKUSER_* variables, NO_COLOR, a closed
//! pipe, and man pages for each command.

use std::io::Write;
use std::process::Stdio;

use crate::common::*;

fn metrics(path: &std::path::Path) -> prometheus_parse::Scrape {
    let text = std::fs::read_to_string(path).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).unwrap()
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, result: Option<&str>) -> f64 {
    let s = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && result.is_none_or(|r| s.labels.get("result") == Some(r)))
        .unwrap_or_else(|| panic!("no {name} {result:?}"));
    match s.value {
        prometheus_parse::Value::Gauge(v) => v,
        ref other => panic!("{name} is not a gauge: {other:?}"),
    }
}

#[test]
fn a_run_writes_prometheus_metrics_a_textfile_collector_can_read() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let mut rows = vec![("email", "m1@example.com"), ("email", "not-an-email")];
    rows.push(("mobile", "+86 137 0013 7000"));
    let input = fx.file("in.csv", per_row_csv(&rows));
    let prom = fx.path("checkuser.prom");
    sim.run_expect(&fx, &input, &["--metrics-file", prom.to_str().unwrap()], 0);
    let m = metrics(&prom);
    assert_eq!(value(&m, "checkuser_last_run_exit_code", None), 0.0);
    assert_eq!(value(&m, "checkuser_checks", Some("invalid")), 1.0);
    assert_eq!(value(&m, "checkuser_checks", Some("uplimit")), 1.0);
    assert_eq!(value(&m, "checkuser_requests", None), 2.0);
    assert_eq!(value(&m, "checkuser_throttled", None), 0.0);
    assert_eq!(value(&m, "checkuser_changed", None), 0.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - value(&m, "checkuser_last_run_timestamp_seconds", None)).abs() < 120.0);
    assert!(value(&m, "checkuser_last_run_duration_seconds", None) >= 0.0);
}

#[test]
fn a_failed_run_still_leaves_its_summary_and_metrics() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", "no,header,to,check\n1,2,3,4\n");
    let prom = fx.path("m.prom");
    let out = bin(fx.dir.path())
        .args([
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--summary-json",
            "-",
        ])
        .env("CHECKUSER_METRICS_FILE", &prom)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["exit_code"], 2);
    assert_eq!(json["command"], "run");
    assert!(json["stop_message"]
        .as_str()
        .unwrap()
        .contains("no columns to check"));
    assert!(json["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(json["finished_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        value(&metrics(&prom), "checkuser_last_run_exit_code", None),
        2.0
    );
    // No false zeros: the counts are said to be unknown, and left out of the metrics.
    assert_eq!(json["figures_unknown"], true);
    assert!(
        json["api_requests"].is_null() && json["rows"].is_null(),
        "{json}"
    );
    assert!(!std::fs::read_to_string(&prom)
        .unwrap()
        .contains("checkuser_requests"));
}

#[test]
fn a_summary_that_cannot_be_written_makes_the_metrics_say_failed_too() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let prom = fx.path("m.prom");
    // /dev/full takes the open and refuses the write: the run itself went well.
    let out = run(
        fx.dir.path(),
        &[
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--summary-json",
            "/dev/full",
            "--metrics-file",
            prom.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        value(&metrics(&prom), "checkuser_last_run_exit_code", None),
        2.0,
        "the metrics agree with the exit code"
    );
}

#[test]
fn an_empty_checkuser_variable_counts_as_unset() {
    use std::os::unix::ffi::OsStrExt;
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let out = bin(fx.dir.path())
        .args(["run", input.to_str().unwrap(), "--sandbox", "-q"])
        .env("CHECKUSER_RATE", "")
        .env("CHECKUSER_METRICS_FILE", " ")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = bin(fx.dir.path())
        .args(["validate", input.to_str().unwrap(), "-q"])
        .env("CHECKUSER_RATE", std::ffi::OsStr::from_bytes(b"\xff"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("CHECKUSER_RATE is not valid UTF-8"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn settings_come_from_checkuser_variables_and_flags_win() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let out = bin(fx.dir.path())
        .args([
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--progress",
            "never",
        ])
        .env("CHECKUSER_RATE", "1e10")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "the variable is read");
    assert!(stderr(&out).contains("--rate"), "{}", stderr(&out));
    let out = bin(fx.dir.path())
        .args([
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--progress",
            "never",
        ])
        .args(["--rate", "50"])
        .env("CHECKUSER_RATE", "1e10")
        .env("CHECKUSER_STATE", fx.path("from-env.sqlite"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(fx.path("from-env.sqlite").exists());
}

#[test]
fn no_color_means_no_escape_codes_even_on_stderr() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let out = bin(fx.dir.path())
        .args(["validate", input.to_str().unwrap(), "-v"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!stderr(&out).contains('\u{1b}'));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(200_000)));
    let mut child = bin(fx.dir.path())
        .args(["validate", input.to_str().unwrap(), "-o", "-", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 141)),
        "{:?}",
        out.status
    );
    assert!(!stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
    let _ = std::io::stderr().flush();
}

#[test]
fn every_command_has_a_man_page_with_its_options() {
    let fx = Fixture::new();
    let out = run(fx.dir.path(), &["man", "run"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH checkuser-run 1"), "{page}");
    assert!(page.contains("max\\-throttle\\-wait"), "{page}");
    assert_eq!(
        run(fx.dir.path(), &["man", "nosuch"]).status.code(),
        Some(2)
    );
}
