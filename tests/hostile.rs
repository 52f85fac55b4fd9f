//! Hostile servers, odd files and signals: each test reproduces a way trust broke before
//! (a redirect that carried credentials, a pipe read twice, /dev/null replaced, a server that
//! never stops talking, a gateway that lies), against the real binary and the simulator.

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use checkuser::sandbox::Faults;
use common::*;

#[test]
fn redirects_are_never_followed_and_credentials_stay_home() {
    // The place the redirect points to: a second simulator that counts what reaches it.
    let elsewhere = Sim::start(no_faults());
    let sim = Sim::start(Faults {
        redirect_to: Some(format!(
            "{}/v1.0/{}/partner/customer-mgr/check-user",
            elsewhere.sandbox.endpoint(),
            elsewhere.sandbox.identity.partner_id
        )),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    sim.run_expect(&fx, &input, &[], 1);
    assert_eq!(
        elsewhere.requests(),
        0,
        "nothing may reach the redirect target"
    );
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    for (r, msg) in column(&h, &rows, "result")
        .iter()
        .zip(column(&h, &rows, "error_msg"))
    {
        assert_eq!(r, "error");
        assert!(
            msg.contains("redirect to http://127.0.0.1") && msg.contains("never followed"),
            "{msg}"
        );
    }
    assert_eq!(column(&h, &rows, "http_status")[0], "302");
}

#[test]
fn undocumented_answers_are_errors_and_never_stored() {
    let sim = Sim::start(Faults {
        bad_answer: 1.0,
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(5);
    let input = fx.file("in.csv", email_csv(&keys));
    sim.run_expect(&fx, &input, &["--concurrency", "1"], 1);
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert!(column(&h, &rows, "result").iter().all(|r| r == "error"));
    assert!(column(&h, &rows, "error_code")
        .iter()
        .all(|c| c == "BAD_ANSWER"));
    // Not stored: a second run asks again instead of reusing a guess.
    let before = sim.requests();
    sim.run_expect(&fx, &input, &[], 1);
    assert_eq!(sim.requests() - before, keys.len());
}

#[test]
fn a_server_that_never_stops_talking_costs_one_small_buffer() {
    let sim = Sim::start(Faults {
        huge_body: Some(200 * 1024 * 1024),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let started = Instant::now();
    sim.run_expect(&fx, &input, &[], 1);
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(column(&h, &rows, "result")[0], "error");
    assert!(column(&h, &rows, "error_msg")[0].contains("longer than 64 KiB"));
    // Reading 200 MB would take far longer than reading 64 KiB and stopping.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn endless_throttling_stops_the_run_as_quota_exhausted() {
    let sim = Sim::start(Faults {
        throttle: 0.01,
        retry_after: Some(100_000),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(6)));
    let started = Instant::now();
    let out = sim.run_expect(&fx, &input, &["--max-throttle-wait", "2s"], 2);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let s = fx.summary();
    assert_eq!(s["stopped_reason"], "circuit_open");
    assert!(stderr(&out).contains("quota for this partner looks exhausted"));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(rows.len(), 6, "every row is written");
    assert!(column(&h, &rows, "result")
        .iter()
        .skip(1)
        .all(|r| r == "pending"));
}

#[test]
fn a_fifo_input_is_read_once_with_the_progress_bar_on() {
    let fx = Fixture::new();
    let fifo = fx.path("in.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let keys = emails(5000);
    let body = email_csv(&keys);
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(writer_path, body).unwrap());
    let out = bin(fx.dir.path())
        .arg("run")
        .arg(&fifo)
        .args([
            "--sandbox",
            "--throttle",
            "0",
            "--rate",
            "5000",
            "--concurrency",
            "16",
        ])
        .args(["--progress", "always", "-o"])
        .arg(fx.path("out.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    writer.join().unwrap();
    let (_, rows) = read_csv(&fx.path("out.csv"), b',');
    assert_eq!(rows.len(), keys.len(), "no row lost from a FIFO");
}

#[test]
fn dev_null_and_fifos_are_written_through_never_replaced() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let out = run(
        fx.dir.path(),
        &["validate", input.to_str().unwrap(), "-o", "/dev/null"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(
        meta.file_type().is_char_device(),
        "/dev/null is still a device"
    );
    // A FIFO as output: written through to its reader.
    let fifo = fx.path("out.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read_to_string(reader_path).unwrap());
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            fifo.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = reader.join().unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn outputs_that_name_the_input_are_refused_before_anything_happens() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let original = std::fs::read(&input).unwrap();
    for args in [
        vec!["--summary-json", input.to_str().unwrap()],
        vec!["-o", input.to_str().unwrap()],
    ] {
        let mut all = vec!["validate", input.to_str().unwrap()];
        all.extend(args);
        let out = run(fx.dir.path(), &all);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("is the input file itself"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read(&input).unwrap(),
            original,
            "the lead list is intact"
        );
    }
}

#[test]
fn flags_out_of_range_are_usage_errors_not_panics() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let i = input.to_str().unwrap();
    for args in [
        vec!["run", i, "--sandbox", "--rate", "1e10"],
        vec!["run", i, "--sandbox", "--rate", "NaN"],
        vec!["run", i, "--sandbox", "--throttle", "1e10"],
        vec!["run", i, "--sandbox", "--concurrency", "0"],
        vec!["run", i, "--sandbox", "--timeout", "584000000000y"],
        vec!["run", i, "--sandbox", "--max-age", "99999999999d"],
        vec!["sandbox", "--throttle", "1e10", "--port", "0"],
        vec!["sandbox", "--fault-5xx", "2", "--port", "0"],
        vec!["state", "prune", "--older-than", "200000000y"],
    ] {
        let out = run(fx.dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
}

#[test]
fn the_state_store_is_private_whatever_the_umask() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let state = fx.path("private/deeper/state.sqlite");
    let mut cmd = bin(fx.dir.path());
    cmd.args([
        "run",
        input.to_str().unwrap(),
        "--sandbox",
        "--progress",
        "never",
        "--state",
    ])
    .arg(&state);
    // Run under umask 022, the usual default.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$@\"")
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o600);
    assert_eq!(mode(state.parent().unwrap()), 0o700);
}

#[test]
fn a_symlinked_lock_file_is_not_followed() {
    let fx = Fixture::new();
    let victim = fx.file("victim.txt", "precious");
    let locks = fx.path(".local/state/checkuser/locks");
    std::fs::create_dir_all(&locks).unwrap();
    std::os::unix::fs::symlink(&victim, locks.join("sandbox-sandbox-partner-0001.lock")).unwrap();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let out = run(
        fx.dir.path(),
        &[
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--progress",
            "never",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn sighup_finishes_the_output_like_sigterm() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(200),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(50)));
    let child = sim
        .run_cmd(&fx, &input, &["--concurrency", "1", "--rate", "5"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill() sends a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(rows.len(), 50);
    assert!(column(&h, &rows, "result").iter().any(|r| r == "pending"));
    let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_file_cut_off_mid_row_is_read_whole_and_warned_about() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", "email,name\na@example.com,Ann\nb@exam");
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "--check",
            "email=email",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("may have been cut off"),
        "{}",
        stderr(&out)
    );
    let (_, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(rows.len(), 2, "the cut row is still written");
}
