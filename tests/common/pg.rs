//! A real PostgreSQL for the team-mode tests: `CHECKUSER_TEST_DATABASE_URL` if set (a database
//! is created per test on that server), else a throwaway cluster started from the installed
//! `initdb`/`pg_ctl` in a temporary folder, as the unprivileged `postgres` user when the tests
//! run as root (the server refuses root). Without either, the tests say how to enable them and
//! pass, unless `CHECKUSER_REQUIRE_POSTGRES=1` (CI sets it) makes that a failure.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Cluster {
    /// The throwaway cluster's folder; `None` for a server named by the environment.
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    port: u16,
    /// A server URL without the database, e.g. postgres://postgres@127.0.0.1:5432.
    base: String,
    as_postgres: bool,
}

fn find_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    dirs.into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl Cluster {
    /// A server for one test, or `None` (after saying why) when there is none to be had.
    pub fn start() -> Option<Cluster> {
        if let Ok(url) = std::env::var("CHECKUSER_TEST_DATABASE_URL") {
            let base = url
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap_or(url);
            return Some(Cluster {
                dir: None,
                bin: PathBuf::new(),
                port: 0,
                base,
                as_postgres: false,
            });
        }
        let Some(bin) = find_bin() else {
            let why = "team-mode tests skipped: no PostgreSQL server. Install PostgreSQL \
                       (initdb and pg_ctl) or set CHECKUSER_TEST_DATABASE_URL=postgres://USER@HOST/DB";
            if std::env::var_os("CHECKUSER_REQUIRE_POSTGRES").is_some() {
                panic!("{why}");
            }
            super::common::skipped(why);
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("checkuser-pg")
            .tempdir()
            .unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .unwrap()
                .success();
            assert!(ok, "chown of the cluster folder to postgres failed");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Cluster {
            base: format!("postgres://postgres@127.0.0.1:{port}"),
            dir: Some(dir),
            bin,
            port,
            as_postgres,
        };
        let data = c.data();
        c.tool(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        c.up();
        Some(c)
    }

    fn data(&self) -> PathBuf {
        self.dir
            .as_ref()
            .expect("a throwaway cluster")
            .path()
            .join("data")
    }

    fn tool(&self, name: &str, args: &[&str]) -> bool {
        let exe = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().unwrap();
        if !out.status.success() {
            eprintln!("{name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        out.status.success()
    }

    /// Starts (or starts again) the throwaway server and waits until it answers.
    pub fn up(&self) {
        let data = self.data();
        let dir = self.dir.as_ref().unwrap().path();
        let log = dir.join("log");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            dir.display()
        );
        let ok = self.tool(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "start",
            ],
        );
        assert!(
            ok,
            "pg_ctl start failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while postgres::Client::connect(&format!("{}/postgres", self.base), postgres::NoTls)
            .is_err()
        {
            assert!(Instant::now() < deadline, "the test server did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the throwaway server (fast: sessions are cut, as in a restart or a crash).
    pub fn down(&self) {
        let data = self.data();
        self.tool(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// A server the test may stop and start, or `None` (after saying why) when there is none.
    pub fn restartable() -> Option<Cluster> {
        let db = Cluster::start()?;
        if !db.controllable() {
            eprintln!(
                "skipped: the server named by CHECKUSER_TEST_DATABASE_URL cannot be stopped and \
                 started here"
            );
            return None;
        }
        Some(db)
    }

    /// Whether the server can be stopped and started by the test.
    pub fn controllable(&self) -> bool {
        self.dir.is_some()
    }

    /// Makes `role` log in with a password over TCP (the cluster trusts everyone else), as a
    /// server set up for a team would; `false` for a server named by the environment.
    pub fn require_password(&self, role: &str) -> bool {
        if !self.controllable() {
            return false;
        }
        let hba = self.data().join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).unwrap();
        // The first matching line wins.
        std::fs::write(
            &hba,
            format!("host all {role} 127.0.0.1/32 scram-sha-256\n{old}"),
        )
        .unwrap();
        let data = self.data();
        self.tool("pg_ctl", &["-D", data.to_str().unwrap(), "reload"])
    }

    /// A new empty database; its URL.
    pub fn database(&self) -> String {
        let name = format!("t{:x}", rand_u64());
        let mut c = postgres::Client::connect(&format!("{}/postgres", self.base), postgres::NoTls)
            .expect("connect to the test server");
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        format!("{}/{name}?sslmode=disable", self.base)
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.dir.is_some() {
            self.down();
        }
    }
}

/// Runs `f` on the database at `url` (test assertions on its tables).
pub fn query(url: &str, sql: &str) -> Vec<postgres::Row> {
    let url = url.replace("?sslmode=disable", "");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.query(sql, &[]).unwrap()
}

/// Runs SQL (several statements) on the database at `url` as the superuser (roles, grants,
/// locks the tests set up).
pub fn execute(url: &str, sql: &str) {
    let url = url.replace("?sslmode=disable", "");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(sql).unwrap();
}

/// The same database as another role.
pub fn as_role(url: &str, role: &str) -> String {
    url.replacen("postgres://postgres@", &format!("postgres://{role}@"), 1)
}

/// The same database in libpq's keyword form (`host=… port=… dbname=… user=… sslmode=…`).
pub fn keyword_form(url: &str) -> String {
    let cfg: postgres::Config = url.parse().unwrap();
    let host = match &cfg.get_hosts()[0] {
        postgres::config::Host::Tcp(h) => h.clone(),
        postgres::config::Host::Unix(p) => p.display().to_string(),
    };
    format!(
        "host={host} port={} dbname={} user={} sslmode=disable",
        cfg.get_ports()[0],
        cfg.get_dbname().unwrap(),
        cfg.get_user().unwrap()
    )
}
