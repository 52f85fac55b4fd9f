//! The SQLite store is identified by what it is, not by the path used to reach it: the run lock
//! holds through hard links and symlinks, SQLite's side files that are not regular files are
//! refused before SQLite opens the store, and `state prune` leaves the answers of a run in
//! progress alone (or waits for it with `--wait-lock`). The real binary against the simulator.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use checkuser::model::{CheckType, Outcome, ResultKind, Source};
use checkuser::store::sqlite;
use checkuser::store::{Reuse, RunLock, Scope};

/// Waits for `child`; kills it (and fails) if it is still there after a minute: a hang must
/// fail the test instead of hanging the suite. This bounds a hang, it does not time anything.
fn finish(mut child: Child) -> Output {
    let give_up = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > give_up {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("hung until killed; stderr: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Spawns `cmd` with stderr captured, reads its log until a line contains `needle` (or the
/// log ends), and returns the child with what was read.
fn spawn_until(mut cmd: std::process::Command, needle: &str) -> (Child, bool) {
    let mut child = cmd.stderr(Stdio::piped()).spawn().unwrap();
    let log = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in log.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let said = std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(60)).ok())
        .any(|l| l.contains(needle));
    (child, said)
}

fn reuse() -> Reuse {
    Reuse {
        max_age: Duration::from_secs(3600),
        taken_max_age: Duration::from_secs(3600),
        refresh: false,
    }
}

/// Records `keys` in `store` for `scope`, answered `days` ago.
fn remember(store: &Path, scope: &Scope, keys: &[&str], days: i64) {
    let mut s = sqlite::store(store, scope.clone(), reuse()).unwrap();
    for k in keys {
        let o = Outcome {
            checked_at: Some(chrono::Utc::now() - chrono::TimeDelta::days(days)),
            ..Outcome::new(*k, ResultKind::Taken, Source::Api)
        };
        s.record(CheckType::Email, &o).unwrap();
    }
    s.commit().unwrap();
}

/// The keys stored in `store`, read with `state export`.
fn stored_keys(fx: &Fixture, store: &Path) -> Vec<String> {
    let out = run(
        fx.dir.path(),
        &["state", "--state", store.to_str().unwrap(), "export"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout)
        .trim_start_matches('\u{feff}')
        .to_string();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let i = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "key")
        .unwrap();
    let mut keys: Vec<String> = r.records().map(|r| r.unwrap()[i].to_string()).collect();
    keys.sort();
    keys
}

/// A run holds the lock through one name of the store; a second run through `other`, another
/// name of the same file, must be refused before sending anything.
fn assert_refused(sim: &Sim, fx: &Fixture, pid_known: bool) {
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let out = finish(
        sim.run_cmd(fx, &input, &[])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("another checkuser run"), "{err}");
    if pid_known {
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
    }
    assert_eq!(sim.requests(), 0, "the second run sent nothing");
}

/// Two names in one folder for one file: the lock belongs to the file, and the refusal names
/// the holder's pid (both runs sent everything: each took a lock of its own).
#[test]
fn a_run_through_a_hard_link_to_the_store_is_refused_naming_the_holder() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let original = fx.path("original.sqlite");
    remember(&original, &sim.scope(), &["old@example.com"], 0);
    std::fs::hard_link(&original, fx.state()).unwrap();
    let _held = RunLock::acquire(&original, &sim.scope(), false).unwrap();
    assert_refused(&sim, &fx, true);
}

/// A hard link in another folder: the lock is in the file itself, so it still holds.
#[test]
fn a_run_through_a_hard_link_in_another_folder_is_refused() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let elsewhere = fx.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let original = elsewhere.join("original.sqlite");
    remember(&original, &sim.scope(), &["old@example.com"], 0);
    std::fs::hard_link(&original, fx.state()).unwrap();
    let _held = RunLock::acquire(&original, &sim.scope(), false).unwrap();
    assert_refused(&sim, &fx, false);
}

/// A run reaching a store that does not exist yet through a symlink locks the file the link
/// names (it creates it), so a run through the file's own path finds the lock taken.
#[test]
fn a_symlink_to_a_store_not_made_yet_shares_the_lock_of_its_target() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let link = fx.path("link.sqlite");
    std::os::unix::fs::symlink(fx.state(), &link).unwrap();
    assert!(!fx.state().exists());
    let _held = RunLock::acquire(&link, &sim.scope(), false).unwrap();
    assert_refused(&sim, &fx, true);
    assert!(fx.state().is_file(), "the store is made through the link");
    assert!(link.is_symlink(), "the link is left a link");
}

/// The other way round: the first run through the path, the second through a link made later.
#[test]
fn a_run_through_a_symlink_made_later_is_refused_naming_the_holder() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let target = fx.path("target.sqlite");
    let _held = RunLock::acquire(&target, &sim.scope(), false).unwrap();
    std::os::unix::fs::symlink(&target, fx.state()).unwrap();
    assert_refused(&sim, &fx, true);
}

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo() reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

fn side(store: &Path, suffix: &str) -> PathBuf {
    let mut p = store.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// A FIFO at STORE-journal made the run hang before its first request (SQLite opened it to see
/// whether it was a hot journal), deaf to SIGTERM: it is refused, naming the file.
#[test]
fn a_fifo_at_the_journal_is_refused_before_sqlite_opens_the_store() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    remember(&fx.state(), &sim.scope(), &["old@example.com"], 0);
    let journal = side(&fx.state(), "-journal");
    mkfifo(&journal);
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let out = finish(
        sim.run_cmd(&fx, &input, &[])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&journal.display().to_string()), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert_eq!(sim.requests(), 0);
    assert!(
        std::fs::symlink_metadata(&journal).is_ok(),
        "the FIFO is left where it is"
    );
}

/// Puts something at a path.
type Make<'a> = &'a dyn Fn(&Path);

/// The same for the other side files, and whatever else they are: a folder, a device, a
/// symlink to a FIFO; `state` refuses them too.
#[test]
fn side_files_that_are_not_regular_files_are_refused_by_state_too() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let store = fx.state();
    remember(&store, &sim.scope(), &["old@example.com"], 0);
    let fifo = fx.path("elsewhere.fifo");
    mkfifo(&fifo);
    let cases: [(&str, Make); 4] = [
        ("-wal", &|p| std::fs::create_dir(p).unwrap()),
        ("-shm", &|p| std::os::unix::fs::symlink(&fifo, p).unwrap()),
        ("-journal", &|p| {
            std::os::unix::fs::symlink("/dev/null", p).unwrap()
        }),
        ("-wal", &mkfifo),
    ];
    for (suffix, make) in cases {
        let file = side(&store, suffix);
        make(&file);
        let out = finish(
            bin(fx.dir.path())
                .args(["state", "--state", store.to_str().unwrap(), "stats"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{suffix}: {err}");
        assert!(err.contains(&file.display().to_string()), "{suffix}: {err}");
        assert!(err.contains("not a regular file"), "{suffix}: {err}");
        if std::fs::symlink_metadata(&file).unwrap().is_dir() {
            std::fs::remove_dir(&file).unwrap();
        } else {
            std::fs::remove_file(&file).unwrap();
        }
    }
    // With the side files gone, the store opens again, its answer intact.
    assert_eq!(stored_keys(&fx, &store), ["old@example.com"]);
}

/// `state prune` while a run holds the store's lock leaves that run's answers (the run planned
/// to use them) and prunes the rest, saying what it left and why.
#[test]
fn prune_leaves_the_answers_of_a_run_in_progress_and_says_so() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let store = fx.state();
    let busy = sim.scope();
    let idle = Scope {
        partner: "another-partner".into(),
        ..sim.scope()
    };
    remember(&store, &busy, &["a@example.com", "b@example.com"], 3);
    remember(&store, &idle, &["c@example.com"], 3);
    let held = RunLock::acquire(&store, &busy, false).unwrap();
    let st = store.to_str().unwrap();
    let out = run(
        fx.dir.path(),
        &["state", "--state", st, "prune", "--older-than", "1d"],
    );
    let (text, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(text.contains("deleted 1 answer"), "{text}");
    assert!(err.contains("kept 2 answers"), "{err}");
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(err.contains("--wait-lock"), "{err}");
    assert_eq!(stored_keys(&fx, &store), ["a@example.com", "b@example.com"]);
    drop(held);
    let out = run(
        fx.dir.path(),
        &["state", "--state", st, "prune", "--older-than", "1d"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("deleted 2 answers"), "{text}");
    assert!(stored_keys(&fx, &store).is_empty());
}

/// With --wait-lock, prune waits for the run and then prunes its answers too.
#[test]
fn prune_with_wait_lock_waits_for_the_run_in_progress() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let store = fx.state();
    remember(&store, &sim.scope(), &["a@example.com"], 3);
    // The lock is taken through another name of the store: prune finds it all the same.
    let link = fx.path("link.sqlite");
    std::fs::hard_link(&store, &link).unwrap();
    let held = RunLock::acquire(&link, &sim.scope(), false).unwrap();
    let mut cmd = bin(fx.dir.path());
    cmd.args(["state", "--state", store.to_str().unwrap()])
        .args(["prune", "--older-than", "1d", "--wait-lock"])
        .stdout(Stdio::piped());
    let (child, said) = spawn_until(cmd, "waiting for the run with pid");
    assert!(said, "prune says it waits for the run");
    assert_eq!(
        stored_keys(&fx, &store),
        ["a@example.com"],
        "nothing pruned while the run holds the lock"
    );
    drop(held);
    let out = finish(child);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("deleted 1 answer"), "{text}");
    assert!(stored_keys(&fx, &store).is_empty());
}
