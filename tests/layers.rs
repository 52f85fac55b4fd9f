//! The layers run one way, folder by folder (the house style):
//!
//! ```text
//! main ─► commands ─► config ─► cli
//!            └─► engine ─► api, store, input, normalize, output, sandbox, logging ─► model
//! ```
//!
//! Nothing below `commands` imports `cli`, `config` or `commands`; nothing below `engine`
//! imports `engine`; the engine does not know the simulator; `model` imports no other module;
//! the API versions (`api/v1.rs`, `api/v2.rs`) import nothing from their dispatcher
//! (`api/mod.rs`, `api/wire.rs`), only the leaf `api/answer.rs`, which imports no other part
//! of `api`.
//! This test fails the build when a file breaks a rule.

use std::path::{Path, PathBuf};

fn rust_files(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            rust_files(&e.path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// Lines of the files under `folders` (paths under `src/`) that name any of `forbidden`.
fn offences(folders: &[&str], forbidden: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for f in folders {
        rust_files(&src.join(f), &mut files);
    }
    assert!(!files.is_empty(), "no files under {folders:?}");
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for module in forbidden {
                let uses = [format!("crate::{module}::"), format!("crate::{module};")];
                let braced = code.contains("crate::{") && code.contains(module);
                if uses.iter().any(|u| code.contains(u.as_str())) || braced {
                    found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

const BELOW_ENGINE: [&str; 8] = [
    "api",
    "store",
    "input",
    "normalize",
    "output",
    "sandbox",
    "logging.rs",
    "model.rs",
];

#[test]
fn nothing_below_the_commands_imports_cli_config_or_commands() {
    let mut folders = BELOW_ENGINE.to_vec();
    folders.push("engine");
    let found = offences(&folders, &["cli", "config", "commands"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn nothing_below_the_engine_imports_it() {
    let found = offences(&BELOW_ENGINE, &["engine"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_engine_does_not_know_the_simulator() {
    let found = offences(&["engine"], &["sandbox"]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_model_imports_no_other_module() {
    let found = offences(
        &["model.rs"],
        &[
            "api",
            "store",
            "input",
            "normalize",
            "output",
            "sandbox",
            "engine",
            "logging",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// Lines of `src/api/FILE` that reach into `api` for anything but the modules `allowed`.
fn api_imports(file: &str, allowed: &[&str]) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/api")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut found = Vec::new();
    // A test module's `super::` is the file itself.
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or("");
    for (n, line) in before_tests.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let reaches = ["super::", "crate::api::", "crate::api;", "crate::{"];
        let mut rest = code;
        while let Some(at) = reaches.iter().filter_map(|r| rest.find(r)).min() {
            let tail = &rest[at..];
            let prefix = reaches.iter().find(|r| tail.starts_with(**r)).unwrap();
            let after = &tail[prefix.len()..];
            let named = after
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next();
            let ok = *prefix != "crate::{" && named.is_some_and(|m| allowed.contains(&m));
            if !ok {
                found.push(format!("src/api/{file}:{}: {}", n + 1, line.trim()));
                break;
            }
            rest = after;
        }
    }
    found
}

#[test]
fn api_versions_import_nothing_from_their_dispatcher() {
    let mut found = api_imports("v1.rs", &["answer"]);
    found.extend(api_imports("v2.rs", &["answer"]));
    found.extend(api_imports("answer.rs", &[]));
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// Whether a line is an element of a list of results: `ResultKind::Free,`,
/// `(ResultKind::Free, …`, `("free", …` (a match arm, with its `=>`, is not a list).
fn lists_a_result(line: &str) -> bool {
    const NAMES: [&str; 8] = [
        "free", "taken", "uplimit", "invalid", "error", "pending", "skipped", "valid",
    ];
    let item = line.trim_start().trim_start_matches('(');
    if line.contains("=>") {
        return false;
    }
    let variant = item
        .strip_prefix("ResultKind::")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()));
    let named = NAMES.iter().any(|n| item.starts_with(&format!("\"{n}\",")));
    variant || named
}

#[test]
fn the_list_of_results_is_written_once() {
    // model.rs holds `ResultKind::ALL`; everything else iterates it or matches on a result.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !f.ends_with("model.rs")) {
        let text = std::fs::read_to_string(f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let items = code.lines().filter(|l| lists_a_result(l)).count();
        if items >= 4 {
            found.push(format!("{}: {items} results listed", f.display()));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn main_only_translates() {
    let main =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/main.rs")).unwrap();
    assert!(
        main.lines().count() <= 60,
        "main.rs has grown past 60 lines"
    );
}
