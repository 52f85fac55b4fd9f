//! The connection to PostgreSQL: the `--state postgres://…` URL read as libpq reads it (the
//! password from `PGPASSWORD`, `PGPASSFILE` or `~/.pgpass`, never from the URL; TLS per
//! `sslmode`), and one thread of its own that owns the client, so that the store's calls can be
//! made from any thread, async ones included. A lost connection is made again on the next call;
//! every statement checkuser sends is idempotent, so a call cut by a restart is sent once more.

use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

/// How long connecting and one statement may take: past this the database counts as away.
pub const TIMEOUT: Duration = Duration::from_secs(4);

/// `sslmode`, as libpq names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A parsed `--state postgres://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL without `sslmode`/`sslrootcert` (tokio-postgres' parser knows neither
    /// verify mode).
    url: String,
    pub ssl: SslMode,
    /// `sslrootcert` or `PGSSLROOTCERT`: extra trusted roots, PEM.
    pub root_cert: Option<std::path::PathBuf>,
    /// For people: user@host:port/db.
    pub label: String,
}

impl Target {
    pub fn parse(raw: &str) -> Result<Target> {
        let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
        let mut ssl = SslMode::Prefer;
        let mut root_cert = std::env::var_os("PGSSLROOTCERT").map(std::path::PathBuf::from);
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "sslmode" => {
                    ssl = match v {
                        "disable" => SslMode::Disable,
                        "allow" | "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => bail!(
                            "--state: sslmode={other} is not one of disable, prefer, require, \
                             verify-ca, verify-full"
                        ),
                    }
                }
                "sslrootcert" => root_cert = Some(v.into()),
                "password" => bail!(PASSWORD_IN_URL),
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let cfg: postgres::Config = url
            .parse()
            .map_err(|e| anyhow!("--state: not a PostgreSQL URL ({e})"))?;
        if cfg.get_password().is_some() {
            bail!(PASSWORD_IN_URL);
        }
        let host = cfg
            .get_hosts()
            .first()
            .map(|h| match h {
                postgres::config::Host::Tcp(h) => h.clone(),
                postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = cfg.get_ports().first().copied().unwrap_or(5432);
        let label = format!(
            "postgres://{}@{host}:{port}/{}",
            cfg.get_user().unwrap_or(""),
            cfg.get_dbname().unwrap_or("")
        );
        Ok(Target {
            url,
            ssl,
            root_cert,
            label,
        })
    }

    /// The client configuration, with the password found as libpq finds it.
    fn config(&self) -> Result<postgres::Config> {
        let mut cfg: postgres::Config = self.url.parse()?;
        cfg.connect_timeout(TIMEOUT)
            .keepalives_idle(Duration::from_secs(10))
            .application_name("checkuser")
            .options(&format!(
                "-c statement_timeout={} -c lock_timeout={}",
                TIMEOUT.as_millis(),
                TIMEOUT.as_millis()
            ));
        if cfg.get_user().is_none() {
            if let Some(u) = std::env::var_os("PGUSER").or_else(|| std::env::var_os("USER")) {
                cfg.user(u.to_string_lossy().as_ref());
            }
        }
        if let Some(p) = password(&cfg)? {
            cfg.password(p);
        }
        cfg.ssl_mode(match self.ssl {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            _ => postgres::config::SslMode::Require,
        });
        Ok(cfg)
    }

    /// The same configuration for the async client team mode uses. No statement or lock
    /// timeout there: a maintenance lock is waited out, and a database that stopped answering
    /// is told from a locked one by a cancel request (see `team.rs`).
    pub(super) fn tokio_config(&self) -> Result<tokio_postgres::Config> {
        let mut cfg: tokio_postgres::Config = self.url.parse()?;
        cfg.connect_timeout(TIMEOUT)
            .keepalives_idle(Duration::from_secs(10))
            .application_name("checkuser");
        if cfg.get_user().is_none() {
            if let Some(u) = std::env::var_os("PGUSER").or_else(|| std::env::var_os("USER")) {
                cfg.user(u.to_string_lossy().as_ref());
            }
        }
        let sync = self.config()?;
        if let Some(p) = sync.get_password() {
            cfg.password(p);
        }
        cfg.ssl_mode(match self.ssl {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        Ok(cfg)
    }
}

const PASSWORD_IN_URL: &str = "--state: a password in the URL would be seen by every user of \
     this machine (ps) and kept in shell histories; put it in PGPASSWORD or in ~/.pgpass \
     (hostname:port:database:username:password, mode 0600)";

/// `PGPASSWORD`, else the first matching line of `PGPASSFILE` or `~/.pgpass` (which must be
/// readable by its owner only, as libpq requires).
fn password(cfg: &postgres::Config) -> Result<Option<String>> {
    if let Some(p) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Ok(Some(p.to_string_lossy().into_owned()));
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")));
    let Some(file) = file.filter(|f| f.is_file()) else {
        return Ok(None);
    };
    crate::api::credentials::check_private(&file, "password file")?;
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let host = match cfg.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432).to_string();
    let want = [
        host.as_str(),
        port.as_str(),
        cfg.get_dbname().unwrap_or(""),
        cfg.get_user().unwrap_or(""),
    ];
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields = split_pgpass(line);
        if fields.len() == 5
            && fields[..4]
                .iter()
                .zip(want)
                .all(|(f, w)| f == "*" || f == w)
        {
            return Ok(Some(fields[4].clone()));
        }
    }
    Ok(None)
}

/// A `.pgpass` line's fields: `:` separates, `\` escapes.
fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("one field").push(n);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// The connection's own thread, reached by message.
#[derive(Clone)]
pub struct Pg {
    jobs: mpsc::Sender<Job>,
    pub label: String,
    /// Set when a call got no answer in [`ANSWER_WAIT`] (a frozen server, a black hole:
    /// TCP still acknowledges, so no socket timeout fires); cleared when the stuck call ends.
    /// Calls made meanwhile fail at once instead of queueing behind it.
    stuck: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// How long a caller waits for the database thread's answer, restarts included.
pub const ANSWER_WAIT: Duration = Duration::from_secs(9);

/// How long a lost connection is tried again (a restart takes a few seconds).
const RECONNECT_FOR: Duration = Duration::from_secs(8);

/// What the connection's thread owns.
pub struct Session {
    target: Target,
    client: Option<postgres::Client>,
}

impl Session {
    fn connect(&mut self) -> Result<&mut postgres::Client> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        if self.client.is_none() {
            let cfg = self.target.config()?;
            let client = match self.target.ssl {
                SslMode::Disable => cfg.connect(postgres::NoTls),
                mode => cfg.connect(super::tls::connector(
                    mode,
                    self.target.root_cert.as_deref(),
                )?),
            }
            .map_err(|e| {
                anyhow!(
                    "cannot reach the state database {}: {}",
                    self.target.label,
                    chain(&e)
                )
            })?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("just connected"))
    }

    /// Runs `f`, connecting first if needed; a connection lost meanwhile is made again and `f`
    /// runs once more (every statement of checkuser's is idempotent).
    fn run<R>(
        &mut self,
        f: &mut dyn FnMut(&mut postgres::Client) -> Result<R, postgres::Error>,
    ) -> Result<R> {
        let started = std::time::Instant::now();
        loop {
            let connected = self.connect().map(|client| {
                let r = f(client);
                (r, client.is_closed())
            });
            let (result, closed) = match connected {
                Ok(done) => done,
                // Not reachable now: a restart is under way, or it is gone; try for a while.
                Err(e) if started.elapsed() < RECONNECT_FOR => {
                    tracing::debug!("{e:#}: trying again");
                    std::thread::sleep(Duration::from_millis(400));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let e = match result {
                Ok(r) => return Ok(r),
                Err(e) => e,
            };
            let lost = closed || e.is_closed() || is_io(&e);
            if lost {
                self.client = None;
            }
            if lost && started.elapsed() < RECONNECT_FOR {
                tracing::warn!(
                    "the state database connection was lost ({}): reconnecting",
                    chain(&e)
                );
                continue;
            }
            return Err(anyhow!(
                "state database {}: {}",
                self.target.label,
                chain(&e)
            ));
        }
    }
}

fn is_io(e: &postgres::Error) -> bool {
    use std::error::Error;
    e.source().is_some_and(|s| s.is::<std::io::Error>())
        || e.code().is_some_and(|c| {
            // admin_shutdown, crash_shutdown, cannot_connect_now: a restart.
            ["57P01", "57P02", "57P03"].contains(&c.code())
        })
}

/// An error with its causes, on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

impl Pg {
    /// Starts the connection's thread and connects once (so that a wrong URL, password or
    /// TLS setting is said now, before anything else happens).
    pub fn connect(target: Target) -> Result<Pg> {
        let label = target.label.clone();
        let (jobs, rx) = mpsc::channel::<Job>();
        let stuck = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread_stuck = stuck.clone();
        std::thread::Builder::new()
            .name("checkuser-postgres".into())
            .spawn(move || {
                let mut session = Session {
                    target,
                    client: None,
                };
                for job in rx {
                    job(&mut session);
                    thread_stuck.store(false, std::sync::atomic::Ordering::SeqCst);
                }
            })
            .context("cannot start the database thread")?;
        let pg = Pg { jobs, label, stuck };
        pg.call(|_| Ok(()))?;
        Ok(pg)
    }

    /// Runs `f` on the connection and waits for it (from any thread).
    pub fn call<R: Send + 'static>(
        &self,
        mut f: impl FnMut(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R> {
        self.not_stuck()?;
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |s: &mut Session| {
            let _ = tx.send(s.run(&mut f));
        });
        self.jobs
            .send(job)
            .map_err(|_| anyhow!("the database thread stopped"))?;
        match rx.recv_timeout(ANSWER_WAIT) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self.timed_out()),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(anyhow!("the database thread stopped"))
            }
        }
    }

    fn not_stuck(&self) -> Result<()> {
        if self.stuck.load(std::sync::atomic::Ordering::SeqCst) {
            bail!(
                "the state database {} has not answered for a while",
                self.label
            );
        }
        Ok(())
    }

    fn timed_out(&self) -> anyhow::Error {
        self.stuck.store(true, std::sync::atomic::Ordering::SeqCst);
        anyhow!(
            "the state database {} did not answer within {} s",
            self.label,
            ANSWER_WAIT.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_as_libpq_reads_them() {
        let t = Target::parse("postgres://team@db.example:6543/leads?sslmode=verify-full").unwrap();
        assert_eq!(t.ssl, SslMode::VerifyFull);
        assert_eq!(t.label, "postgres://team@db.example:6543/leads");
        assert!(!t.url.contains("sslmode"));
        let t = Target::parse("postgresql://team@localhost/leads").unwrap();
        assert_eq!(t.ssl, SslMode::Prefer);
        assert!(Target::parse("postgres://team:s3cret@h/db")
            .unwrap_err()
            .to_string()
            .contains("PGPASSWORD"));
        assert!(Target::parse("postgres://h/db?sslmode=bogus").is_err());
    }

    #[test]
    fn pgpass_lines_escape_colons() {
        assert_eq!(
            split_pgpass(r"h:5432:*:u:pa\:ss"),
            ["h", "5432", "*", "u", "pa:ss"]
        );
    }
}
