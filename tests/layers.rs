//! The layers run one way: the lower modules (reading, rules, the API client, the store, the
//! output, the simulator) never import the flag types (`cli`) or the configuration built from
//! them (`config`). This test fails the build when one does.

use std::path::Path;

/// Modules below the commands, as paths under `src/`.
const LOWER: [&str; 10] = [
    "api",
    "output",
    "sandbox",
    "input",
    "normalize",
    "store.rs",
    "check.rs",
    "logging.rs",
    "signals.rs",
    "run/pace.rs",
];

fn rust_files(p: &Path, out: &mut Vec<std::path::PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            rust_files(&e.path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

#[test]
fn lower_modules_never_import_cli_or_config() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for m in LOWER {
        rust_files(&src.join(m), &mut files);
    }
    assert!(files.len() > 20, "found {} files", files.len());
    let mut offences = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if ["crate::cli", "crate::config", "super::cli", "super::config"]
                .iter()
                .any(|p| code.contains(p))
            {
                offences.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "lower modules import cli/config:\n{}",
        offences.join("\n")
    );
}
