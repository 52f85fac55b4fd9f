//! The cron wrapper's own test suite (`scripts/test-nightly.sh`: a stub binary through each
//! failure path, the alert hook checked, shellcheck), run as part of `cargo test`.

#[test]
fn the_cron_wrapper_alerts_on_every_failure() {
    let out = std::process::Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/test-nightly.sh"
        ))
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
}
