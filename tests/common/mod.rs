//! Helpers for the integration tests: fixture files in a TempDir, the real binary with a clean
//! environment, CSV reading, and the simulator on 127.0.0.1 port 0.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use checkuser::sandbox::{Faults, Identity, Sandbox};

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a fixture file and returns its path.
    pub fn file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// The JSON summary of the last run made with `Sim::run_cmd` in this fixture.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.path("summary.json")).unwrap()).unwrap()
    }

    /// The state store for runs of this fixture.
    pub fn state(&self) -> PathBuf {
        self.path("state.sqlite")
    }
}

/// The real binary, with no Huawei Cloud variables from the outside and HOME pointing nowhere
/// useful (so no real credentials file can be picked up).
pub fn bin(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_checkuser"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HUAWEICLOUD_")
            || k == "RUST_LOG"
            || k.starts_with("XDG_")
            || k.starts_with("CHECKUSER_")
            || k == "NO_COLOR"
            || k.starts_with("LC_")
            || k == "LANG"
        {
            c.env_remove(k);
        }
    }
    c.env("HOME", home);
    c
}

pub fn run(home: &Path, args: &[&str]) -> Output {
    bin(home).args(args).output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Header and rows of a CSV file (delimiter given).
pub fn read_csv(path: &Path, delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_path(path)
        .unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// The value of `column` in each row.
pub fn column(header: &[String], rows: &[Vec<String>], column: &str) -> Vec<String> {
    let i = header
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column}"));
    rows.iter().map(|r| r[i].clone()).collect()
}

/// A simulator on port 0 with its own runtime (kept alive with it).
pub struct Sim {
    pub sandbox: Sandbox,
    _rt: tokio::runtime::Runtime,
}

impl Sim {
    pub fn start(faults: Faults) -> Sim {
        Sim::with_identity(Identity::builtin(), faults)
    }

    /// A simulator on a given port: the same endpoint (and so the same state-store keys) as
    /// an earlier one that was dropped, with other faults or truths.
    pub fn start_at(faults: Faults, port: u16) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = rt
            .block_on(Sandbox::start(Identity::builtin(), faults, port))
            .unwrap();
        Sim { sandbox, _rt: rt }
    }

    pub fn with_identity(identity: Identity, faults: Faults) -> Sim {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sandbox = rt.block_on(Sandbox::start(identity, faults, 0)).unwrap();
        Sim { sandbox, _rt: rt }
    }

    /// A command for `checkuser run` against this simulator with its credentials.
    pub fn run_cmd(&self, fx: &Fixture, input: &Path, extra: &[&str]) -> Command {
        let id = &self.sandbox.identity;
        let mut c = bin(fx.dir.path());
        c.env("HUAWEICLOUD_SDK_AK", &id.ak)
            .env("HUAWEICLOUD_SDK_SK", &id.sk);
        c.arg("run").arg(input);
        c.args([
            "--endpoint",
            &self.sandbox.endpoint(),
            "--partner-id",
            &id.partner_id,
        ]);
        c.arg("--state").arg(fx.state());
        c.args(["--backoff-base", "5ms", "--progress", "never"]);
        c.arg("--summary-json").arg(fx.path("summary.json"));
        c.args(extra);
        c
    }

    /// Runs `checkuser run` against this simulator and checks its exit code.
    pub fn run_expect(&self, fx: &Fixture, input: &Path, extra: &[&str], code: i32) -> Output {
        let out = self.run_cmd(fx, input, extra).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        out
    }

    /// How a run against this simulator keys its answers and its lock (api v1).
    pub fn scope(&self) -> checkuser::store::Scope {
        checkuser::store::Scope {
            host: self.sandbox.addr.to_string(),
            partner: self.sandbox.identity.partner_id.clone(),
            api: "v1".into(),
        }
    }

    pub fn requests(&self) -> usize {
        self.sandbox.stats.entries().len()
    }
}

/// Asserts that the output at `path` lists `keys` in order, each with the simulator's answer.
pub fn assert_true_answers(path: &Path, kind: &str, keys: &[String]) {
    let (h, rows) = read_csv(path, b',');
    let found = column(&h, &rows, "searchKey");
    assert_eq!(&found[..keys.len()], keys, "rows in input order");
    for (k, r) in keys.iter().zip(column(&h, &rows, "result")) {
        assert_eq!(
            r,
            checkuser::sandbox::truth(kind, k).result().as_str(),
            "{k}"
        );
    }
}

/// Faults with no throttle (tests that do not test pacing run fast).
pub fn no_faults() -> Faults {
    Faults::default()
}

/// `searchType,searchKey` rows for the given (type, key) pairs.
pub fn per_row_csv(rows: &[(&str, &str)]) -> String {
    let mut s = String::from("searchType,searchKey\n");
    for (t, k) in rows {
        s.push_str(&format!("{t},{k}\n"));
    }
    s
}

/// `n` distinct valid emails.
pub fn emails(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("lead{i:05}@example.com")).collect()
}

pub fn email_csv(keys: &[String]) -> String {
    let rows: Vec<(&str, &str)> = keys.iter().map(|k| ("email", k.as_str())).collect();
    per_row_csv(&rows)
}

/// Sends a signal to a child process of the test.
pub fn signal(child: &std::process::Child, sig: i32) {
    // SAFETY: kill() only sends a signal, to a process this test started.
    let rc = unsafe { libc::kill(child.id() as i32, sig) };
    assert_eq!(rc, 0, "kill({}, {sig})", child.id());
}

/// Runs `cmd`, sends it `sig` after `after`, and returns what it left (stderr captured).
pub fn signalled(
    mut cmd: std::process::Command,
    after: std::time::Duration,
    sig: i32,
) -> std::process::Output {
    let child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(after);
    signal(&child, sig);
    child.wait_with_output().unwrap()
}

/// Says that a test skipped, where people look: straight to the process's standard error, which
/// the test harness does not capture (an `eprintln!` of a passing test is swallowed).
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {why}");
}

/// Sends `sig` to a child and waits for it to end, at most `limit` (then it is killed and the
/// test fails with `what`); returns how long it took.
pub fn signal_and_wait(
    child: &mut std::process::Child,
    sig: i32,
    limit: std::time::Duration,
    what: &str,
) -> std::time::Duration {
    signal(child, sig);
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{what}: still running {limit:?} after signal {sig}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    started.elapsed()
}
