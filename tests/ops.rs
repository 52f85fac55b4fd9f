//! Operations: `doctor` against the simulator, completions and the man page.

mod common;

use checkuser::sandbox::Faults;
use checkuser::store::RunLock;
use common::*;

fn doctor(sim: &Sim, fx: &Fixture, extra: &[&str]) -> (Option<i32>, String) {
    let id = &sim.sandbox.identity;
    let out = bin(fx.dir.path())
        .env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .args([
            "doctor",
            "--endpoint",
            &sim.sandbox.endpoint(),
            "--partner-id",
            &id.partner_id,
        ])
        .arg("--state")
        .arg(fx.state())
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn doctor_passes_a_good_setup_without_spending_a_check() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let (code, text) = doctor(&sim, &fx, &[]);
    assert_eq!(code, Some(0), "{text}");
    for what in [
        "credentials",
        "partner id",
        "endpoint",
        "clock",
        "state store",
        "run lock",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("ok") && l.contains(what)),
            "{what}: {text}"
        );
    }
    assert!(
        text.contains("SAND…0001") && !text.contains(&sim.sandbox.identity.sk),
        "AK masked, SK absent"
    );
    assert_eq!(sim.requests(), 0, "no check request spent");
}

#[test]
fn doctor_finds_a_skewed_clock_a_held_lock_and_missing_credentials() {
    let sim = Sim::start(Faults {
        clock_offset_secs: 30 * 60,
        ..no_faults()
    });
    let fx = Fixture::new();
    let scope = sim.scope();
    let _held = RunLock::acquire(&fx.state(), &scope, false).unwrap();
    let (code, text) = doctor(&sim, &fx, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("clock") && l.contains("behind")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("warn") && l.contains("run lock") && l.contains("pid")),
        "{text}"
    );
    let out = bin(fx.dir.path())
        .args(["doctor", "--endpoint", &sim.sandbox.endpoint()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("credentials")),
        "{text}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let fx = Fixture::new();
    let out = run(fx.dir.path(), &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("--max-attempts") && script.contains("doctor"));
    let out = run(fx.dir.path(), &["man"]);
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") && page.contains(".TH checkuser 1"),
        "{page}"
    );
}

#[test]
fn state_and_doctor_look_at_the_sandbox_store_with_sandbox() {
    let fx = Fixture::new();
    let home = fx.dir.path();
    let stores = home.join(".local/state/checkuser");
    let (real, sandbox) = (stores.join("state.sqlite"), stores.join("sandbox.sqlite"));
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let out = run(
        home,
        &[
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--throttle",
            "0",
            "-q",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(sandbox.exists() && !real.exists());

    let out = run(home, &["state", "stats", "--sandbox"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 answers"), "{text}");
    let out = run(home, &["state", "--sandbox", "export"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1 + 3);
    let out = run(home, &["state", "prune", "--sandbox", "--older-than", "1d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(home, &["state", "stats"]);
    assert_eq!(out.status.code(), Some(2), "the real store does not exist");

    let out = run(home, &["doctor", "--sandbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.lines().any(|l| l.starts_with("ok")
            && l.contains("state store")
            && l.contains("sandbox.sqlite")),
        "{text}"
    );
    assert!(
        !real.exists(),
        "doctor --sandbox leaves the real store alone"
    );
}

#[test]
fn doctor_creates_no_store() {
    let fx = Fixture::new();
    let out = run(fx.dir.path(), &["doctor", "--sandbox"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok") && l.contains("state store")),
        "{text}"
    );
    let stores = fx.dir.path().join(".local/state/checkuser");
    for name in ["state.sqlite", "sandbox.sqlite"] {
        assert!(!stores.join(name).exists(), "{name} created by doctor");
    }
}

/// Commands that only print end quietly when their reader goes away (`| head -1`), instead of
/// panicking (exit 101) in the middle of a line.
#[test]
fn a_closed_standard_output_ends_printing_commands_quietly() {
    let fx = Fixture::new();
    let store = fx.state();
    drop(checkuser::store::open_admin(&checkuser::store::Location::File(store.clone())).unwrap());
    let store = store.to_str().unwrap();
    let stats = ["state", "--state", store, "stats"];
    for args in [&stats[..], &["completions", "bash"][..], &["man"][..]] {
        let mut child = bin(fx.dir.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_ne!(out.status.code(), Some(101), "{args:?}: {}", stderr(&out));
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}
