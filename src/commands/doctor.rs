//! `checkuser doctor`: checks the set-up without spending a check request and without changing
//! anything — credentials (and where they come from, masked), the credentials file's
//! permissions, the partner id, that the endpoint answers (DNS, TCP, TLS), the clock against
//! the endpoint's `Date`, the state store and its lock (with or without credentials), and the
//! outputs a run would write. Every part comes from the one resolution `run` and `plan` use
//! ([`crate::config::target`]). One line per check with what to do; exit 0, or 1 if any failed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::model::ExitCode;
use anyhow::Result;

use crate::api::credentials::{self, mask_ak, Auth, Credentials};
use crate::config::target::{Remote, Resolved};
use crate::config::tools::DoctorConfig;
use crate::sandbox::{Identity, Sandbox};
use crate::store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, level: Level, what: &str, detail: impl AsRef<str>) {
        let tag = match level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        self.failed |= level == Level::Fail;
        println!("{tag}  {what:<12} {}", detail.as_ref());
    }
}

/// Runs every check and returns the exit code.
pub async fn doctor(cfg: &DoctorConfig) -> Result<ExitCode> {
    let mut r = Report { failed: false };
    if let Some(e) = &cfg.flags {
        r.line(Level::Fail, "flags", e);
    }
    let res = &cfg.resolution;
    let roots = match &res.ca_certs {
        Ok(certs) => certs.as_slice(),
        Err(e) => {
            r.line(Level::Fail, "ca cert", format!("{e:#}"));
            &[]
        }
    };
    match &res.target {
        Resolved::Sandbox(faults) => {
            let sandbox = Sandbox::start(Identity::builtin(), faults.clone(), 0).await?;
            simulator(&mut r, &sandbox).await;
        }
        Resolved::Remote(remote) => endpoint(&mut r, remote, roots).await,
    }
    match &res.state {
        Ok(state) => state_store(&mut r, state, res.scope().ok().as_ref()),
        Err(e) => r.line(Level::Fail, "state store", format!("{e:#}")),
    }
    match &cfg.outputs {
        Some((named, Ok(()))) => r.line(Level::Ok, "outputs", format!("{named}: can be written")),
        Some((_, Err(e))) => r.line(Level::Fail, "outputs", e),
        None => {}
    }
    Ok(if r.failed {
        ExitCode::Unfinished
    } else {
        ExitCode::Ok
    })
}

/// The built-in simulator: its own credentials and account, on this machine.
async fn simulator(r: &mut Report, sandbox: &Sandbox) {
    r.line(
        Level::Ok,
        "credentials",
        described(&sandbox.identity.credentials()),
    );
    r.line(Level::Ok, "partner id", &sandbox.identity.partner_id);
    match reqwest::Url::parse(&sandbox.endpoint()) {
        Ok(url) => {
            r.line(Level::Ok, "proxy", "none (direct)");
            endpoint_and_clock(r, &url, &[], None).await
        }
        Err(e) => r.line(Level::Fail, "endpoint", e.to_string()),
    }
}

/// An endpoint's parts as [`crate::config::target::resolve`] found them, one line each, then
/// the endpoint itself and the clock when it can be reached.
async fn endpoint(r: &mut Report, remote: &Remote, roots: &[reqwest::Certificate]) {
    match &remote.credentials {
        Ok(c) => r.line(Level::Ok, "credentials", described(c)),
        Err(e) => r.line(Level::Fail, "credentials", format!("{e:#}")),
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    file_permissions(r, home.as_deref());
    match &remote.account {
        Ok(p) => r.line(Level::Ok, "partner id", p),
        Err(e) => r.line(Level::Fail, "partner id", format!("{e:#}")),
    }
    let url = match &remote.endpoint {
        Ok(u) => u,
        Err(e) => return r.line(Level::Fail, "endpoint", format!("{e:#}")),
    };
    match &remote.proxy {
        Ok(proxy) => {
            let how = match proxy {
                Some(p) => format!("{} (from {})", p.shown(), p.from),
                None => "none (direct)".into(),
            };
            r.line(Level::Ok, "proxy", how);
            endpoint_and_clock(r, url, roots, proxy.as_ref()).await
        }
        Err(e) => r.line(Level::Fail, "proxy", format!("{e:#}")),
    }
}

/// Credentials as a person recognises them: the AK masked, or a token, and where from.
fn described(c: &Credentials) -> String {
    match &c.auth {
        Auth::AkSk {
            ak, security_token, ..
        } => format!(
            "AK {}{} from {}",
            mask_ak(ak),
            if security_token.is_some() {
                " with a security token"
            } else {
                ""
            },
            c.source
        ),
        Auth::Token(_) => format!("IAM token from {}", c.source),
    }
}

fn file_permissions(r: &mut Report, home: Option<&Path>) {
    let var = |k: &str| std::env::var(k).ok();
    let Some(path) = credentials::file_path(&var, home).filter(|p| p.exists()) else {
        return;
    };
    match credentials::check_private(&path, "credentials file") {
        Ok(mode) => r.line(
            Level::Ok,
            "credentials file",
            format!("{} (mode {mode:04o})", path.display()),
        ),
        Err(e) => r.line(Level::Fail, "credentials file", format!("{e:#}")),
    }
}

async fn endpoint_and_clock(
    r: &mut Report,
    url: &reqwest::Url,
    roots: &[reqwest::Certificate],
    proxy: Option<&crate::api::proxy::Choice>,
) {
    let client = match crate::api::client::http_client(roots, Duration::from_secs(10), proxy) {
        Ok(c) => c,
        Err(e) => return r.line(Level::Fail, "endpoint", e.to_string()),
    };
    let started = Instant::now();
    // A plain GET of the root: it reaches the gateway (DNS, TCP, TLS) without calling the API.
    match client.get(url.clone()).send().await {
        Ok(resp) => {
            let took = started.elapsed().as_millis();
            r.line(
                Level::Ok,
                "endpoint",
                format!(
                    "{url} answered HTTP {} in {took} ms",
                    resp.status().as_u16()
                ),
            );
            let date = resp
                .headers()
                .get("date")
                .and_then(|v| v.to_str().ok())
                .and_then(|d| httpdate::parse_http_date(d).ok());
            clock(r, date);
        }
        Err(e) => {
            let msg = crate::api::client::error_chain(&e);
            r.line(
                Level::Fail,
                "endpoint",
                format!("{msg} (check --endpoint, DNS, proxy and firewall)"),
            );
            r.line(
                Level::Warn,
                "clock",
                "not checked (the endpoint did not answer)",
            );
        }
    }
}

fn clock(r: &mut Report, server: Option<SystemTime>) {
    let Some(server) = server else {
        return r.line(
            Level::Warn,
            "clock",
            "the endpoint sent no Date header to compare with",
        );
    };
    let (ahead, diff) = crate::api::sign::skew_from(server);
    let secs = diff.as_secs();
    let side = if ahead { "ahead of" } else { "behind" };
    if secs <= 60 {
        r.line(
            Level::Ok,
            "clock",
            format!("within {secs} s of the endpoint's"),
        );
    } else if secs <= crate::api::sign::CLOCK_WINDOW.as_secs() {
        r.line(
            Level::Warn,
            "clock",
            format!(
                "{secs} s {side} the endpoint's; signatures fail past 15 minutes: sync it (NTP)"
            ),
        );
    } else {
        r.line(Level::Fail, "clock", format!("{secs} s {side} the endpoint's; the gateway rejects signatures more than 15 minutes off: fix the clock (NTP)"));
    }
}

/// The state store, read only: a file's schema and the run lock of the scope, or the team's
/// database. `scope` is `None` when the account is not known (no partner id): the store is
/// checked all the same, and the parts that belong to a scope say why they were not.
fn state_store(r: &mut Report, location: &store::Location, scope: Option<&store::Scope>) {
    let path = match location {
        store::Location::File(path) => path,
        store::Location::Postgres(target) => return team_database(r, target, scope),
    };
    // Doctor changes nothing: a store and its lock file not there yet are the first run's
    // to make, and one there is read, never migrated.
    if !path.exists() {
        new_store(r, path);
    } else if !file_schema(r, path) {
        return;
    }
    match scope {
        Some(scope) => run_lock(r, path, scope),
        None => r.line(Level::Warn, "run lock", NO_SCOPE),
    }
}

/// A file store's schema, read only; false when the file cannot be read as a store.
fn file_schema(r: &mut Report, path: &Path) -> bool {
    match store::sqlite::schema_version(path) {
        Ok((have, want)) if have > want => r.line(
            Level::Fail,
            "state store",
            format!(
                "{}: schema {have}, set up by a newer checkuser (this one knows {want}): \
                 upgrade checkuser on this machine",
                path.display()
            ),
        ),
        Ok((have, want)) => r.line(
            Level::Ok,
            "state store",
            format!(
                "{} (schema {have}; this checkuser knows {want})",
                path.display()
            ),
        ),
        Err(e) => {
            r.line(Level::Fail, "state store", format!("{e:#}"));
            return false;
        }
    }
    true
}

/// The scope's run lock, looked at without being taken.
fn run_lock(r: &mut Report, path: &Path, scope: &store::Scope) {
    match store::lock::holder_of(path, scope) {
        Ok(None) => r.line(
            Level::Ok,
            "run lock",
            format!("free for {} / {}", scope.host, scope.partner),
        ),
        Ok(Some(pid)) => {
            let held = store::LockError::Held {
                pid,
                host: scope.host.clone(),
                partner: scope.partner.clone(),
            };
            r.line(Level::Warn, "run lock", held.to_string())
        }
        Err(e) => r.line(Level::Fail, "run lock", format!("{e:#}")),
    }
}

/// Why the parts of the store that belong to a scope were not checked.
const NO_SCOPE: &str = "not checked: no partner id, so no scope of the store is known (see the \
                        partner id line)";

/// Team mode: the database reachable (TLS as asked), its schema, the scope's quota row and
/// runs, and the clock against the database's (the shared bucket runs on the database's clock).
fn team_database(r: &mut Report, target: &store::postgres::Target, scope: Option<&store::Scope>) {
    use store::postgres;
    // Read only: a database no run has set up yet stays empty.
    let (have, want) = match postgres::schema::schema_version(target) {
        Ok(v) => v,
        // The line names the state database already: "FAIL state database cannot reach X".
        Err(e) => {
            let text = format!("{e:#}").replacen("the state database ", "", 1);
            return r.line(Level::Fail, "state database", text);
        }
    };
    r.line(
        Level::Ok,
        "state database",
        format!("{} (sslmode {:?})", target.label, target.ssl).to_lowercase(),
    );
    match have {
        0 => r.line(
            Level::Ok,
            "schema",
            format!(
                "version 0: not set up yet, the first run will create it (this checkuser \
                 knows {want}; it needs a role that may create tables)"
            ),
        ),
        h if h < want => r.line(
            Level::Warn,
            "schema",
            format!(
                "version {h}, this checkuser knows {want}: the next run migrates it (it needs \
                 a role that may create tables)"
            ),
        ),
        h if h > want => r.line(
            Level::Fail,
            "schema",
            format!(
                "version {h}, set up by a newer checkuser (this one knows {want}): upgrade \
                 checkuser on this machine"
            ),
        ),
        h => r.line(
            Level::Ok,
            "schema",
            format!("version {h} (this checkuser knows {want})"),
        ),
    }
    match scope {
        Some(scope) => quota(r, target, scope, have),
        None => r.line(Level::Warn, "quota", NO_SCOPE),
    }
    database_clock(r, target);
}

/// The scope's quota row and active runs (none before the schema is set up).
fn quota(r: &mut Report, target: &store::postgres::Target, scope: &store::Scope, have: i32) {
    use store::postgres;
    let status = if have == 0 {
        Ok((0, None))
    } else {
        postgres::team_status(target, scope)
    };
    match status {
        Ok((runs, ahead)) => r.line(
            Level::Ok,
            "quota",
            format!(
                "{} / {}: {}; {}",
                scope.host,
                scope.partner,
                crate::output::summary::count(runs as u64, "active run"),
                match ahead {
                    Some(s) if s > 0.0 => format!("the next free slot is {s:.1} s away"),
                    Some(_) => "the bucket is idle".to_string(),
                    None => "no request sent yet from this database".to_string(),
                }
            ),
        ),
        Err(e) => r.line(Level::Fail, "quota", format!("{e:#}")),
    }
}

/// The database's clock against this machine's: the shared bucket runs on the database's.
fn database_clock(r: &mut Report, target: &store::postgres::Target) {
    match store::postgres::clock_skew(target) {
        Ok(skew) if skew.abs() < 2.0 => r.line(
            Level::Ok,
            "database clock",
            format!("{skew:+.2} s from this machine's"),
        ),
        Ok(skew) => r.line(
            Level::Warn,
            "database clock",
            format!(
                "{skew:+.1} s from this machine's: the shared quota uses the database's clock, \
                 answers' ages this machine's; sync both (NTP)"
            ),
        ),
        Err(e) => r.line(Level::Fail, "database clock", format!("{e:#}")),
    }
}

/// A store not made yet: fine if the first run can make it (the nearest folder that exists
/// takes files).
fn new_store(r: &mut Report, path: &Path) {
    let folder = path
        .ancestors()
        .skip(1)
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .find(|d| d.is_dir());
    match folder {
        Some(d) if crate::output::atomic::folder_takes_files(d) => r.line(
            Level::Ok,
            "state store",
            format!("{} (none yet: the first run creates it)", path.display()),
        ),
        Some(d) => r.line(
            Level::Fail,
            "state store",
            format!(
                "{}: the folder {} does not take new files (pass --state PATH)",
                path.display(),
                d.display()
            ),
        ),
        None => r.line(
            Level::Fail,
            "state store",
            format!("{}: no folder to create it in", path.display()),
        ),
    }
}
