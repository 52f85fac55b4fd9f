//! The state store end to end: reuse across runs, refresh, resume after kill -9, the run lock
//! and change detection, with a real SQLite file and the real binary against the simulator.

use std::time::Duration;

use crate::common::*;
use checkuser::model::{CheckType, Outcome, ResultKind, Source};
use checkuser::sandbox::{truth, Faults};
use checkuser::store::sqlite;
use checkuser::store::{Reuse, RunLock};

#[test]
fn a_second_run_sends_nothing_and_refresh_sends_everything() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let keys = emails(30);
    let input = fx.file("in.csv", email_csv(&keys));
    let first = sim
        .run_cmd(&fx, &input, &["--rate", "500"])
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(sim.requests(), 30);
    sim.run_expect(
        &fx,
        &input,
        &["--rate", "500", "-o", fx.path("2.csv").to_str().unwrap()],
        0,
    );
    assert_eq!(sim.requests(), 30, "nothing sent again");
    assert_eq!(fx.summary()["cache_hits"], 30);
    let (h, rows) = read_csv(&fx.path("2.csv"), b',');
    assert!(column(&h, &rows, "source").iter().all(|x| x == "cache"));
    assert!(column(&h, &rows, "attempts").iter().all(|x| x == "0"));
    let (h1, rows1) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(column(&h, &rows, "result"), column(&h1, &rows1, "result"));
    assert_eq!(
        column(&h, &rows, "checked_at"),
        column(&h1, &rows1, "checked_at"),
        "the time of the answer used"
    );
    sim.run_expect(
        &fx,
        &input,
        &[
            "--rate",
            "500",
            "--refresh",
            "-o",
            fx.path("3.csv").to_str().unwrap(),
        ],
        0,
    );
    assert_eq!(sim.requests(), 60);
    let (h, rows) = read_csv(&fx.path("3.csv"), b',');
    assert!(
        column(&h, &rows, "previous_result")
            .iter()
            .all(|x| !x.is_empty()),
        "previous answers shown"
    );
}

#[test]
fn errors_are_never_reused() {
    let sim = Sim::start(Faults {
        fail_first: 3,
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    sim.run_expect(&fx, &input, &["--max-attempts", "2"], 1);
    sim.run_expect(&fx, &input, &["--max-attempts", "2"], 0);
    assert_eq!(
        sim.requests(),
        2 * 2 + 2 * 2,
        "the errors were asked again, and answered on the 4th request"
    );
}

#[test]
fn changed_answers_are_shown_and_counted() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let scope = sim.scope();
    let reuse = Reuse {
        max_age: Duration::from_secs(1),
        taken_max_age: Duration::from_secs(1),
        refresh: false,
    };
    let mut store = sqlite::store(&fx.state(), scope, reuse).unwrap();
    let then = chrono::Utc::now() - chrono::TimeDelta::days(3);
    let old = Outcome {
        checked_at: Some(then),
        ..Outcome::new("taken@example.com", ResultKind::Free, Source::Api)
    };
    store.record(CheckType::Email, &old).unwrap();
    drop(store);
    let input = fx.file("in.csv", per_row_csv(&[("email", "taken@example.com")]));
    sim.run_expect(&fx, &input, &[], 0);
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(column(&h, &rows, "result"), ["taken"]);
    assert_eq!(column(&h, &rows, "previous_result"), ["free"]);
    assert_eq!(
        column(&h, &rows, "previous_checked_at"),
        [then.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)]
    );
    assert_eq!(fx.summary()["changed"], 1);
}

#[test]
fn a_second_run_on_the_same_partner_is_refused_naming_the_holder() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let scope = sim.scope();
    let held = RunLock::acquire(&fx.state(), &scope, false).unwrap();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let out = sim.run_expect(&fx, &input, &[], 2);
    assert!(
        stderr(&out).contains(&format!("pid {}", std::process::id())),
        "{}",
        stderr(&out)
    );
    assert_eq!(sim.requests(), 0);
    let mut waiting = sim
        .run_cmd(&fx, &input, &["--wait-lock"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read its log until it says that it waits: a run not yet started would not say so.
    let log = std::io::BufReader::new(waiting.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(log).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let said = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(20)).ok()).any(|l| {
        l.contains(&format!(
            "waiting for the run with pid {}",
            std::process::id()
        ))
    });
    assert!(said, "the second run says it waits for the first");
    assert_eq!(sim.requests(), 0, "still waiting");
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(sim.requests(), 2);
}

#[cfg(unix)]
#[test]
fn kill_9_then_rerun_finishes_without_asking_twice() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(5),
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(300);
    let input = fx.file("in.csv", email_csv(&keys));
    let args = ["--rate", "100", "--concurrency", "4"];
    let mut kills = 0;
    for wait_ms in [700u64, 900, 600] {
        let mut child = sim.run_cmd(&fx, &input, &args).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // The output is either absent or a whole earlier file, never half-written: every
        // row complete, and as many rows as the input has.
        if let Ok(text) = std::fs::read_to_string(fx.path("in.checked.csv")) {
            assert!(text.ends_with('\n'));
            let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
            assert_eq!(rows.len(), keys.len());
            assert!(rows.iter().all(|r| r.len() == h.len()));
        }
    }
    let before = sim.requests();
    assert!(
        before > 50 && before < 300,
        "{before} requests before the final run"
    );
    let out = sim.run_cmd(&fx, &input, &args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(column(&h, &rows, "searchKey"), keys);
    for (k, r) in keys.iter().zip(column(&h, &rows, "result")) {
        assert_eq!(r, truth("email", k).result().as_str());
    }
    let repeated: usize = keys
        .iter()
        .map(|k| sim.sandbox.stats.requests_for(k).saturating_sub(1))
        .sum();
    // Per kill: the 4 requests in flight, plus the answers of the last commit window (50 ms,
    // 5 at 100/s) that were not committed yet.
    let bound = kills * (4 + 6);
    assert!(
        repeated <= bound,
        "{repeated} repeated requests for {kills} kills"
    );
    assert!(sim.requests() <= 300 + bound);
}

#[test]
fn state_stats_export_and_prune() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file(
        "in.csv",
        per_row_csv(&[
            ("email", "taken@example.com"),
            ("email", "free@example.com"),
            ("name", "huaweicloud"),
        ]),
    );
    assert_eq!(
        sim.run_cmd(&fx, &input, &[])
            .output()
            .unwrap()
            .status
            .code(),
        Some(0)
    );
    let state = fx.state();
    let st = state.to_str().unwrap();
    let out = run(fx.dir.path(), &["state", "--state", st, "stats"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(text.contains("3 answers"), "{text}");
    assert!(
        text.lines().any(|l| l.contains(" email ")
            && l.contains(" taken ")
            && l.trim_end().ends_with(" 1")),
        "{text}"
    );
    let export = fx.path("export.csv");
    let out = run(
        fx.dir.path(),
        &[
            "state",
            "--state",
            st,
            "export",
            "-o",
            export.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let (h, rows) = read_csv(&export, b',');
    assert_eq!(rows.len(), 3);
    assert!(column(&h, &rows, "key").contains(&"taken@example.com".to_string()));
    let out = run(
        fx.dir.path(),
        &["state", "--state", st, "prune", "--older-than", "1h"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted 0"));
    std::thread::sleep(Duration::from_millis(1100));
    let out = run(
        fx.dir.path(),
        &["state", "--state", st, "prune", "--older-than", "0s"],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("deleted 3"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The export may not replace the store it reads, nor its journal.
    let before = std::fs::read(&state).unwrap();
    let wal = format!("{st}-wal");
    for target in [st, wal.as_str()] {
        let out = run(
            fx.dir.path(),
            &["state", "--state", st, "export", "-o", target],
        );
        assert_eq!(out.status.code(), Some(2), "{target}");
        assert!(stderr(&out).contains("itself"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read(&state).unwrap(), before);
    let missing = fx.path("nope.sqlite");
    let out = run(
        fx.dir.path(),
        &["state", "--state", missing.to_str().unwrap(), "stats"],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_store_at_the_old_cache_path_is_moved_to_the_state_folder() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let old = fx.path(".cache/checkuser/state.sqlite");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    {
        let reuse = checkuser::store::Reuse {
            max_age: Duration::from_secs(3600),
            taken_max_age: Duration::from_secs(3600),
            refresh: false,
        };
        let mut store = sqlite::store(&old, sim.scope(), reuse).unwrap();
        for k in emails(3) {
            let mut o = checkuser::model::Outcome::new(
                k.clone(),
                truth("email", &k).result(),
                checkuser::model::Source::Api,
            );
            o.checked_at = Some(chrono::Utc::now());
            store
                .record(checkuser::model::CheckType::Email, &o)
                .unwrap();
        }
        store.commit().unwrap();
    }
    let before = sim.requests();
    let id = &sim.sandbox.identity;
    let out = bin(fx.dir.path())
        .env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .args([
            "run",
            input.to_str().unwrap(),
            "--endpoint",
            &sim.sandbox.endpoint(),
        ])
        .args(["--partner-id", &id.partner_id, "--progress", "never"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        sim.requests(),
        before,
        "every answer came from the moved store"
    );
    assert!(!old.exists());
    assert!(fx.path(".local/state/checkuser/state.sqlite").exists());
}

/// The lock belongs to the store: two runs on one `--state` exclude each other whatever their
/// `HOME` (it lived in each user's state folder, and both sent everything).
#[test]
fn two_homes_on_one_store_still_exclude_each_other() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let held = RunLock::acquire(&fx.state(), &sim.scope(), false).unwrap();
    let other_home = tempfile::tempdir().unwrap();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let out = sim
        .run_cmd(&fx, &input, &[])
        .env("HOME", other_home.path())
        .env("XDG_STATE_HOME", other_home.path().join("state"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("pid"), "{}", stderr(&out));
    assert_eq!(sim.requests(), 0);
    drop(held);
}

/// Answers are keyed by the account, never by the AK: a v2 run that names no account is
/// refused before any request, saying where the account id is found.
#[test]
fn a_v2_run_with_no_account_id_is_refused_instead_of_keying_by_the_ak() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let id = &sim.sandbox.identity;
    let out = bin(fx.dir.path())
        .env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .args(["run", input.to_str().unwrap(), "--api", "v2"])
        .args(["--endpoint", &sim.sandbox.endpoint(), "--progress", "never"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--partner-id") && err.contains("Account ID"),
        "{err}"
    );
    assert_eq!(sim.requests(), 0);
}

/// Everything that can make an output fail is checked before the first request: a ragged row
/// with a stray cell far to the right makes a workbook output too wide (it failed after every
/// request was sent, and again on each re-run).
#[test]
fn a_workbook_output_too_wide_for_a_ragged_row_is_refused_before_sending() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let mut csv = email_csv(&emails(3));
    csv.push_str("email,stray@example.com");
    csv.push_str(&",".repeat(17_000));
    csv.push_str("x\n");
    let input = fx.file("in.csv", csv);
    let out_path = fx.path("out.xlsx");
    let out = sim.run_expect(&fx, &input, &["-o", out_path.to_str().unwrap()], 2);
    assert!(stderr(&out).contains("16384"), "{}", stderr(&out));
    assert_eq!(
        sim.requests(),
        0,
        "no quota spent on an output that cannot be written"
    );
}

/// A workbook written to a device spools its rows in the temporary folder, not in `/dev`.
#[test]
fn a_workbook_to_dev_null_is_built_in_the_temporary_folder() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    sim.run_expect(&fx, &input, &["-o", "/dev/null", "--format", "xlsx"], 0);
    assert_eq!(sim.requests(), 3);
}
