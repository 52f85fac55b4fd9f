//! The integration tests, one binary (`autotests = false` in Cargo.toml): the helpers in
//! `common/` are compiled once, not once per test file. Each file beside this one is a module;
//! `every_test_file_is_a_module` fails if one is left out (it would silently never run).

mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/teams.rs"]
mod teams;

mod api;
mod browser;
mod hostile;
mod layers;
mod limits;
mod monitoring;
mod night;
mod nightly;
mod notify;
mod ops;
mod pipeline;
mod serve;
mod state;
mod store_identity;
mod team;
mod team_db;
mod team_faults;
mod tls;
mod validate;
mod workbook_hostile;
mod workbook_in;
mod xlsx;

/// A test file not declared above would compile into nothing and never run.
#[test]
fn every_test_file_is_a_module() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let this = std::fs::read_to_string(dir.join("tests.rs")).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(m) = name.strip_suffix(".rs").filter(|m| *m != "tests") {
            assert!(
                this.contains(&format!("\nmod {m};\n")),
                "tests/{name} is not declared in tests/tests.rs"
            );
        }
    }
}
