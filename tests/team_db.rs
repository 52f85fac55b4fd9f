//! Team mode's way into the database, against a real PostgreSQL (see `common/pg.rs`): libpq's
//! keyword form of `--state` (never a file name, never with a password), a role that may read
//! and write but not create, `doctor` changing nothing, a maintenance lock waited out, and a
//! missing password explained.

use crate::pg;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use checkuser::sandbox::Faults;

fn team_run(sim: &Sim, fx: &Fixture, input: &Path, state: &str, out: &Path) -> Command {
    let id = &sim.sandbox.identity;
    let mut c = bin(fx.dir.path());
    c.current_dir(fx.dir.path())
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE")
        .env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .arg("run")
        .arg(input)
        .args(["--endpoint", &sim.sandbox.endpoint()])
        .args(["--partner-id", &id.partner_id])
        .args(["--progress", "never", "--backoff-base", "5ms"])
        .args(["--state", state])
        .arg("-o")
        .arg(out);
    c
}

fn doctor(sim: &Sim, fx: &Fixture, state: &str) -> (Option<i32>, String) {
    let id = &sim.sandbox.identity;
    let o = bin(fx.dir.path())
        .current_dir(fx.dir.path())
        .env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .args(["doctor", "--endpoint", &sim.sandbox.endpoint()])
        .args(["--partner-id", &id.partner_id, "--state", state])
        .output()
        .unwrap();
    (
        o.status.code(),
        format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o)),
    )
}

fn answers(url: &str) -> i64 {
    pg::query(url, "SELECT COUNT(*) FROM answers")[0].get(0)
}

fn tables(url: &str) -> i64 {
    pg::query(
        url,
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
    )[0]
    .get(0)
}

/// The names in a folder that are not the test's own files.
fn stray_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains('='))
        .collect()
}

#[test]
fn a_keyword_connection_string_is_a_database_never_a_file_nor_a_password() {
    let Some(db) = pg::Cluster::start() else {
        return;
    };
    let url = db.database();
    let keywords = pg::keyword_form(&url);
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let keys = emails(6);
    let input = fx.file("in.csv", email_csv(&keys));
    let o = team_run(&sim, &fx, &input, &keywords, &fx.path("out.csv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_true_answers(&fx.path("out.csv"), "email", &keys);
    assert_eq!(answers(&url), 6, "the answers are in the database");
    assert_eq!(stray_files(fx.dir.path()), Vec::<String>::new());
    // The same from CHECKUSER_STATE, and `state stats` reads it.
    let o = bin(fx.dir.path())
        .current_dir(fx.dir.path())
        .env("CHECKUSER_STATE", &keywords)
        .args(["state", "stats"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains('6'));
    // A password in it is refused, and never echoed.
    for with_password in [
        format!("{keywords} password=hunter2"),
        format!("password='hunter2' {keywords}"),
    ] {
        let o = bin(fx.dir.path())
            .current_dir(fx.dir.path())
            .args(["state", "--state", &with_password, "stats"])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("PGPASSWORD") && !err.contains("hunter2"),
            "{err}"
        );
    }
    // Not a PostgreSQL server at all: still not a file.
    let o = bin(fx.dir.path())
        .current_dir(fx.dir.path())
        .args([
            "state",
            "--state",
            "host=127.0.0.1 port=1 dbname=x",
            "stats",
        ])
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(stray_files(fx.dir.path()), Vec::<String>::new());
}

#[test]
fn doctor_on_an_empty_database_creates_nothing() {
    let Some(db) = pg::Cluster::start() else {
        return;
    };
    let url = db.database();
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let (code, text) = doctor(&sim, &fx, &url);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("not set up yet"), "{text}");
    assert_eq!(tables(&url), 0, "doctor created tables: {text}");
}

/// Without credentials doctor still checks the database (reachable, schema, quota, clock), says
/// separately that the credentials are missing, and leaves an empty database empty.
#[test]
fn doctor_without_credentials_still_checks_the_database() {
    let Some(db) = pg::Cluster::start() else {
        return;
    };
    let url = db.database();
    let fx = Fixture::new();
    let o = bin(fx.dir.path())
        .current_dir(fx.dir.path())
        .args([
            "doctor",
            "--endpoint",
            "http://127.0.0.1:9",
            "--partner-id",
            "p1",
        ])
        .args(["--state", &url, "--rate", "2", "--timeout", "5s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    let line = |level: &str, what: &str| {
        text.lines()
            .any(|l| l.starts_with(level) && l.contains(what))
    };
    assert!(line("FAIL", "credentials"), "{text}");
    assert!(line("ok", "state database"), "{text}");
    assert!(
        line("ok", "schema") && text.contains("not set up yet"),
        "{text}"
    );
    assert!(
        line("ok", "quota") && line("ok", "database clock"),
        "{text}"
    );
    assert_eq!(tables(&url), 0, "doctor created tables: {text}");
}

#[test]
fn a_role_that_may_read_and_write_but_not_create_runs_on_an_up_to_date_schema() {
    let Some(db) = pg::Cluster::start() else {
        return;
    };
    let url = db.database();
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let keys = emails(8);
    // The owner sets the schema up once.
    let first = fx.file("first.csv", email_csv(&keys[..4]));
    let o = team_run(&sim, &fx, &first, &url, &fx.path("first.out.csv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    pg::execute(
        &url,
        "CREATE ROLE worker LOGIN;
         REVOKE CREATE ON SCHEMA public FROM PUBLIC;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO worker;
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO worker;",
    );
    let worker = pg::as_role(&url, "worker");
    let input = fx.file("in.csv", email_csv(&keys));
    let o = team_run(&sim, &fx, &input, &worker, &fx.path("out.csv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_true_answers(&fx.path("out.csv"), "email", &keys);
    assert_eq!(answers(&url), 8);
    let (code, text) = doctor(&sim, &fx, &worker);
    assert_eq!(code, Some(0), "{text}");
    // A role that may only read (a dashboard, an auditor) can still ask doctor about the store.
    pg::execute(
        &url,
        "CREATE ROLE auditor LOGIN;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO auditor;",
    );
    let (code, text) = doctor(&sim, &fx, &pg::as_role(&url, "auditor"));
    assert!(text.contains("schema"), "{text}");
    assert!(!text.contains("permission denied"), "{text}");
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn a_maintenance_lock_on_answers_is_waited_out() {
    let Some(db) = pg::Cluster::start() else {
        return;
    };
    let url = db.database();
    let sim = Sim::start(Faults {
        throttle: 5.0,
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(35);
    let input = fx.file("in.csv", email_csv(&keys));
    let run = team_run(&sim, &fx, &input, &url, &fx.path("out.csv"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the run records, a plain CREATE INDEX's SHARE lock holds the table for 5 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pg::query(&url, "SELECT 1 FROM pg_tables WHERE tablename = 'answers'").is_empty()
        || answers(&url) == 0
    {
        assert!(Instant::now() < deadline, "the run recorded nothing");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut locker =
        postgres::Client::connect(&url.replace("?sslmode=disable", ""), postgres::NoTls).unwrap();
    let mut tx = locker.transaction().unwrap();
    tx.batch_execute("LOCK TABLE answers IN SHARE MODE")
        .unwrap();
    let locked_at = answers(&url);
    std::thread::sleep(Duration::from_secs(5));
    tx.commit().unwrap();
    let o = run.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        locked_at < keys.len() as i64,
        "the lock came too late to matter"
    );
    assert_true_answers(&fx.path("out.csv"), "email", &keys);
    assert_eq!(answers(&url), keys.len() as i64);
    for k in &keys {
        assert_eq!(sim.sandbox.stats.requests_for(k), 1, "{k}");
    }
}

#[test]
fn a_missing_password_says_where_it_is_looked_for() {
    let Some(db) = pg::Cluster::start() else {
        return;
    };
    let url = db.database();
    pg::execute(
        &url,
        "CREATE ROLE keeper LOGIN PASSWORD 'open sesame'; GRANT CREATE ON SCHEMA public TO keeper;",
    );
    if !db.require_password("keeper") {
        eprintln!("skipped: the server named by CHECKUSER_TEST_DATABASE_URL is not set up here");
        return;
    }
    let keeper = pg::as_role(&url, "keeper");
    let fx = Fixture::new();
    let stats = |password: Option<&str>| {
        let mut c = bin(fx.dir.path());
        c.current_dir(fx.dir.path())
            .env_remove("PGPASSWORD")
            .env_remove("PGPASSFILE")
            .args(["state", "--state", &keeper, "stats"]);
        if let Some(p) = password {
            c.env("PGPASSWORD", p);
        }
        let started = Instant::now();
        let o = c.output().unwrap();
        (o.status.code(), stderr(&o), started.elapsed())
    };
    let (code, err, took) = stats(None);
    assert_ne!(code, Some(0), "{err}");
    for place in ["PGPASSWORD", "PGPASSFILE", ".pgpass"] {
        assert!(err.contains(place), "{place}: {err}");
    }
    assert!(
        took < Duration::from_secs(5),
        "{took:?}: a missing password is not retried"
    );
    // A wrong one says where it came from.
    let (code, err, _) = stats(Some("Tr0ub4dor"));
    assert_ne!(code, Some(0), "{err}");
    assert!(
        err.contains("PGPASSWORD") && !err.contains("Tr0ub4dor"),
        "{err}"
    );
    let (code, err, _) = stats(Some("open sesame"));
    assert_eq!(code, Some(0), "{err}");
}
