//! The page of `checkuser serve` in a real browser: `scripts/browser/serve_test.py` drives a
//! headless Chromium over WebDriver (login, upload, mapping, plan, live progress, downloads
//! compared with `checkuser run`, a workbook, cancel and delete, keyboard only, a 400-px
//! window, Simplified Chinese, named users, no content-security-policy violation), with a
//! screenshot of every step under `target/browser-artifacts`. Skipped, visibly, where Chromium,
//! chromedriver or Python's selenium is missing, unless `CHECKUSER_REQUIRE_BROWSER=1` (CI).

use std::path::Path;
use std::process::Command;

use crate::common::skipped;

const CHROMIUMS: [&str; 3] = [
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A python3 that can import selenium: the one on PATH, else Debian's (python3-selenium).
fn python_with_selenium() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import selenium"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_page_works_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = python_with_selenium();
    let mut missing = Vec::new();
    if !CHROMIUMS.iter().any(|p| Path::new(p).exists()) {
        missing.push("chromium");
    }
    if !Path::new(CHROMEDRIVER).exists() {
        missing.push("chromedriver (chromium-driver)");
    }
    if python.is_none() {
        missing.push("python3 with selenium (python3-selenium)");
    }
    let Some(python) = python.filter(|_| missing.is_empty()) else {
        let why = format!(
            "the browser test of checkuser serve: {} not installed",
            missing.join(", ")
        );
        assert!(
            std::env::var("CHECKUSER_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "{why} (and CHECKUSER_REQUIRE_BROWSER=1)"
        );
        skipped(&why);
        return;
    };
    let out = Command::new(python)
        .arg(root.join("scripts/browser/serve_test.py"))
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_checkuser"))
        .arg("--artifacts")
        .arg(root.join("target/browser-artifacts"))
        .current_dir(root)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "scripts/browser/serve_test.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
