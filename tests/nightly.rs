//! The cron wrapper's own test suite (`scripts/test-nightly.sh`: a stub binary through each
//! failure path, the alert hook checked, shellcheck; the real binary where a case needs it),
//! run as part of `cargo test`.

#[test]
fn the_cron_wrapper_alerts_on_every_failure() {
    let out = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/test-nightly.sh"
        ))
        // The real binary, for the cases that need it (SIGTERM under --wait-lock).
        .env("CHECKUSER_REAL_BIN", env!("CARGO_BIN_EXE_checkuser"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines().any(|l| l.ends_with(" passed, 0 failed")),
        "{text}"
    );
    // The case that needs the real binary ran (it is skipped without CHECKUSER_REAL_BIN).
    assert!(
        text.contains("ok   SIGTERM to a nightly run waiting under --wait-lock"),
        "{text}"
    );
}
