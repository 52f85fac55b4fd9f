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

/// A parsed `--state postgres://…` (or libpq's keyword form, `host=… dbname=… user=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL (or keyword string) without `sslmode`, `sslrootcert` and `passfile`
    /// (tokio-postgres' parser knows neither verify mode nor those files).
    url: String,
    pub ssl: SslMode,
    /// `sslrootcert` or `PGSSLROOTCERT`: extra trusted roots, PEM.
    pub root_cert: Option<std::path::PathBuf>,
    /// `passfile`: where the password is looked for instead of `PGPASSFILE` / `~/.pgpass`.
    passfile: Option<std::path::PathBuf>,
    /// For people: user@host:port/db.
    pub label: String,
}

/// libpq's connection keywords: a `--state` with one of them (`host=db …`) is a connection
/// string, never a file name.
const KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "service",
    "options",
    "application_name",
    "fallback_application_name",
    "client_encoding",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "keepalives_retries",
    "sslmode",
    "sslnegotiation",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslpassword",
    "requiressl",
    "gssencmode",
    "channel_binding",
    "require_auth",
    "krbsrvname",
    "target_session_attrs",
    "load_balance_hosts",
];

/// libpq's keyword form read into pairs: `keyword = value`, a value in single quotes when it
/// holds spaces, `\` escaping. Nothing of the text is ever put in an error (it may hold a
/// password).
fn keyword_pairs(raw: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut it = raw.chars().peekable();
    let skip_spaces = |it: &mut std::iter::Peekable<std::str::Chars>| {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_spaces(&mut it);
        if it.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        skip_spaces(&mut it);
        if it.next() != Some('=') {
            bail!(
                "--state: not a connection string: libpq's form is keyword=value pairs \
                 separated by spaces (host=… port=… dbname=… user=…)"
            );
        }
        skip_spaces(&mut it);
        let mut value = String::new();
        if it.next_if_eq(&'\'').is_some() {
            loop {
                match it.next() {
                    None => bail!("--state: a quoted value in the connection string is not closed"),
                    Some('\\') => value.extend(it.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = it.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(it.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

impl Target {
    /// The scheme of a `scheme://…` value.
    pub fn scheme(text: &str) -> Option<&str> {
        let (scheme, _) = text.split_once("://")?;
        let mut chars = scheme.chars();
        (chars.next()?.is_ascii_alphabetic()
            && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .then_some(scheme)
    }

    /// Whether a `--state` value is meant for a server: a URL, or libpq's keyword form (a word of
    /// it, at its start or after a space, is a connection keyword followed by `=`).
    pub fn looks_like_connection(text: &str) -> bool {
        if Target::scheme(text).is_some() {
            return true;
        }
        let starts = std::iter::once(0).chain(
            text.char_indices()
                .filter(|(_, c)| c.is_whitespace())
                .map(|(i, c)| i + c.len_utf8()),
        );
        starts.into_iter().any(|i| {
            let rest = &text[i..];
            let word_end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let word = rest[..word_end].to_ascii_lowercase();
            KEYWORDS.contains(&word.as_str()) && rest[word_end..].trim_start().starts_with('=')
        })
    }

    pub fn parse(raw: &str) -> Result<Target> {
        let keyword_form = Target::scheme(raw).is_none();
        let mut ssl = SslMode::Prefer;
        let mut root_cert = std::env::var_os("PGSSLROOTCERT").map(std::path::PathBuf::from);
        let mut passfile = None;
        let mut take = |k: &str, v: &str| -> Result<bool> {
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
                "passfile" => passfile = Some(v.into()),
                "password" => bail!(PASSWORD_IN_URL),
                _ => return Ok(false),
            }
            Ok(true)
        };
        let url = if keyword_form {
            let pairs = keyword_pairs(raw)?;
            // The password is refused before anything else is said about the string.
            if pairs.iter().any(|(k, _)| k == "password") {
                bail!(PASSWORD_IN_URL);
            }
            let mut kept = Vec::new();
            for (k, v) in pairs {
                if !take(&k, &v)? {
                    let quoted = v.replace('\\', "\\\\").replace('\'', "\\'");
                    kept.push(format!("{k}='{quoted}'"));
                }
            }
            kept.join(" ")
        } else {
            let (base, query) = raw.split_once('?').unwrap_or((raw, ""));
            let mut kept = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                if !take(k, v)? {
                    kept.push(pair);
                }
            }
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        };
        let cfg: postgres::Config = url.parse().map_err(|e| {
            if keyword_form {
                anyhow!("--state: not a PostgreSQL connection string ({e})")
            } else {
                anyhow!("--state: not a PostgreSQL URL ({e})")
            }
        })?;
        if cfg.get_password().is_some() {
            bail!(PASSWORD_IN_URL);
        }
        let label = format!(
            "postgres://{}@{}:{}/{}",
            cfg.get_user().unwrap_or(""),
            host_of(&cfg),
            port_of(&cfg),
            cfg.get_dbname().unwrap_or("")
        );
        Ok(Target {
            url,
            ssl,
            root_cert,
            passfile,
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
        if let Some(p) = password(&cfg, self.passfile.as_deref())? {
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

fn host_of(cfg: &postgres::Config) -> String {
    match cfg.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    }
}

fn port_of(cfg: &postgres::Config) -> u16 {
    cfg.get_ports().first().copied().unwrap_or(5432)
}

/// The password file libpq reads: `passfile`, else `PGPASSFILE`, else `~/.pgpass`.
fn password_file(passfile: Option<&std::path::Path>) -> Option<std::path::PathBuf> {
    passfile
        .map(std::path::Path::to_path_buf)
        .or_else(|| std::env::var_os("PGPASSFILE").map(std::path::PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pgpass")))
}

/// What a `.pgpass` line is matched against: hostname, port, database, username.
fn pgpass_key(cfg: &postgres::Config) -> [String; 4] {
    let host = match cfg.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".into(),
    };
    [
        host,
        port_of(cfg).to_string(),
        cfg.get_dbname().unwrap_or("").to_string(),
        cfg.get_user().unwrap_or("").to_string(),
    ]
}

/// Where the password came from, or where it was looked for in vain: for the error when the
/// server wants one (never the password itself).
fn password_source(cfg: &postgres::Config, passfile: Option<&std::path::Path>) -> String {
    if std::env::var_os("PGPASSWORD").is_some_and(|p| !p.is_empty()) {
        return "the password came from PGPASSWORD".into();
    }
    let key = pgpass_key(cfg).join(":");
    match password_file(passfile) {
        Some(f) if f.is_file() => match password(cfg, passfile) {
            Ok(Some(_)) => format!("the password came from {}", f.display()),
            _ => format!(
                "PGPASSWORD is not set and {} has no line for {key} \
                 (lines are hostname:port:database:username:password, * for any)",
                f.display()
            ),
        },
        Some(f) => format!(
            "PGPASSWORD is not set and there is no password file {} \
             (PGPASSFILE, else ~/.pgpass: hostname:port:database:username:password, mode 0600; \
             this server wants a line for {key})",
            f.display()
        ),
        None => "PGPASSWORD is not set, nor PGPASSFILE, and there is no HOME for ~/.pgpass".into(),
    }
}

/// `PGPASSWORD`, else the first matching line of the password file (`passfile`, `PGPASSFILE`
/// or `~/.pgpass`, which must be readable by its owner only, as libpq requires).
fn password(cfg: &postgres::Config, passfile: Option<&std::path::Path>) -> Result<Option<String>> {
    if let Some(p) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
        return Ok(Some(p.to_string_lossy().into_owned()));
    }
    let Some(file) = password_file(passfile).filter(|f| f.is_file()) else {
        return Ok(None);
    };
    crate::api::credentials::check_private(&file, "password file")?;
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let key = pgpass_key(cfg);
    let want = key.iter().map(String::as_str);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields = split_pgpass(line);
        if fields.len() == 5
            && fields[..4]
                .iter()
                .zip(want.clone())
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
    life: std::sync::Arc<Life>,
}

/// How long a caller waits for the database thread's answer, restarts included, counted from
/// the call or from the database's last sign of life, whichever is later (a database busy
/// behind a lock answers "not yet" every [`TIMEOUT`]: it is alive, and waited for).
pub const ANSWER_WAIT: Duration = Duration::from_secs(9);

/// How long a lost connection is tried again (a restart takes a few seconds).
const RECONNECT_FOR: Duration = Duration::from_secs(8);

/// How long a statement cut by `statement_timeout` or `lock_timeout` is tried again: a
/// maintenance lock (a plain `CREATE INDEX`, a `VACUUM FULL`) is waited out, not taken for a
/// lost database.
const BUSY_FOR: Duration = Duration::from_secs(30);

/// When the database last answered (even "busy, try again").
struct Life {
    base: std::time::Instant,
    last_ms: std::sync::atomic::AtomicU64,
}

impl Life {
    fn new() -> Life {
        Life {
            base: std::time::Instant::now(),
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.base.elapsed().as_millis() as u64;
        self.last_ms.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// Until when a call sent at `sent` is waited for.
    fn deadline(&self, sent: std::time::Instant) -> std::time::Instant {
        let last = self.base
            + Duration::from_millis(self.last_ms.load(std::sync::atomic::Ordering::SeqCst));
        sent.max(last) + ANSWER_WAIT
    }
}

/// What the connection's thread owns.
pub struct Session {
    target: Target,
    client: Option<postgres::Client>,
    life: std::sync::Arc<Life>,
}

/// Why no connection was made.
enum Refused {
    /// Not reachable now (a restart, the network): worth trying again for a while.
    Away(anyhow::Error),
    /// Said by the server or the set-up (no password, a wrong one, no such database or role):
    /// trying again changes nothing.
    Final(anyhow::Error),
}

impl Session {
    fn connect(&mut self) -> Result<&mut postgres::Client, Refused> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.client = None;
        }
        if self.client.is_none() {
            let cfg = self.target.config().map_err(Refused::Final)?;
            let tls = match self.target.ssl {
                SslMode::Disable => None,
                mode => Some(
                    super::tls::connector(mode, self.target.root_cert.as_deref())
                        .map_err(Refused::Final)?,
                ),
            };
            let connected = match tls {
                None => cfg.connect(postgres::NoTls),
                Some(tls) => cfg.connect(tls),
            };
            let client = connected.map_err(|e| self.refused(&cfg, &e))?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("just connected"))
    }

    /// A failed connection, said for people: a missing or refused password names where it
    /// is looked for.
    fn refused(&self, cfg: &postgres::Config, e: &postgres::Error) -> Refused {
        let label = &self.target.label;
        let user = cfg.get_user().unwrap_or("");
        let code = e.code().map(|c| c.code());
        if code.is_none() && chain(e).contains("password missing") {
            return Refused::Final(anyhow!(
                "cannot reach the state database {label}: the server asks for {user}'s password \
                 and none was found: {}",
                password_source(cfg, self.target.passfile.as_deref())
            ));
        }
        let text = format!("cannot reach the state database {label}: {}", chain(e));
        match code {
            // invalid_password
            Some("28P01") => Refused::Final(anyhow!(
                "{text} ({})",
                password_source(cfg, self.target.passfile.as_deref())
            )),
            // invalid_authorization_specification (pg_hba.conf, no such role),
            // invalid_catalog_name (no such database), insufficient_privilege (CONNECT)
            Some("28000" | "3D000" | "42501") => Refused::Final(anyhow!(text)),
            _ => Refused::Away(anyhow!(text)),
        }
    }

    /// Runs `f`, connecting first if needed; a connection lost meanwhile is made again and `f`
    /// runs once more (every statement of checkuser's is idempotent), and so does a statement
    /// cut by a timeout while the database is busy (a lock held by maintenance).
    fn run<R>(
        &mut self,
        f: &mut dyn FnMut(&mut postgres::Client) -> Result<R, postgres::Error>,
    ) -> Result<R> {
        let mut away_since: Option<std::time::Instant> = None;
        let mut busy_since: Option<std::time::Instant> = None;
        loop {
            let client = match self.connect() {
                Ok(client) => client,
                Err(Refused::Final(e)) => return Err(e),
                // Not reachable now: a restart is under way, or it is gone; try for a while.
                Err(Refused::Away(e)) => {
                    if away_since
                        .get_or_insert_with(std::time::Instant::now)
                        .elapsed()
                        < RECONNECT_FOR
                    {
                        tracing::debug!("{e:#}: trying again");
                        std::thread::sleep(Duration::from_millis(400));
                        continue;
                    }
                    return Err(e);
                }
            };
            let result = f(client);
            let closed = client.is_closed();
            let e = match result {
                Ok(r) => {
                    self.life.touch();
                    return Ok(r);
                }
                Err(e) => e,
            };
            let io = closed || e.is_closed() || is_io(&e);
            match failure(e.code().map(|c| c.code()), io) {
                Failure::Lost => {
                    self.client = None;
                    if away_since
                        .get_or_insert_with(std::time::Instant::now)
                        .elapsed()
                        < RECONNECT_FOR
                    {
                        tracing::warn!(
                            "the state database connection was lost ({}): reconnecting",
                            chain(&e)
                        );
                        continue;
                    }
                }
                Failure::Busy => {
                    // It answered: alive, only busy.
                    self.life.touch();
                    away_since = None;
                    if busy_since
                        .get_or_insert_with(std::time::Instant::now)
                        .elapsed()
                        < BUSY_FOR
                    {
                        tracing::debug!(
                            "the state database {} is busy ({}): trying again",
                            self.target.label,
                            chain(&e)
                        );
                        std::thread::sleep(Duration::from_millis(250));
                        continue;
                    }
                }
                Failure::Other => {}
            }
            return Err(anyhow!(
                "state database {}: {}",
                self.target.label,
                chain(&e)
            ));
        }
    }
}

/// What a failed statement means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The connection is gone (a restart, the network): connect again.
    Lost,
    /// The database answered but is busy: try again.
    Busy,
    /// Anything else: said.
    Other,
}

/// A failure by its SQLSTATE and whether it came from the socket.
fn failure(code: Option<&str>, io: bool) -> Failure {
    match code {
        _ if io => Failure::Lost,
        // admin_shutdown, crash_shutdown, cannot_connect_now: a restart.
        Some("57P01" | "57P02" | "57P03") => Failure::Lost,
        // query_canceled (statement_timeout), lock_not_available (lock_timeout),
        // serialization_failure, deadlock_detected: nothing was done, the same statement
        // may be sent again.
        Some("57014" | "55P03" | "40001" | "40P01") => Failure::Busy,
        _ => Failure::Other,
    }
}

/// Whether the error came from the socket.
fn is_io(e: &postgres::Error) -> bool {
    use std::error::Error;
    e.source().is_some_and(|s| s.is::<std::io::Error>())
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
        let life = std::sync::Arc::new(Life::new());
        let thread_life = life.clone();
        std::thread::Builder::new()
            .name("checkuser-postgres".into())
            .spawn(move || {
                let mut session = Session {
                    target,
                    client: None,
                    life: thread_life,
                };
                for job in rx {
                    job(&mut session);
                    thread_stuck.store(false, std::sync::atomic::Ordering::SeqCst);
                }
            })
            .context("cannot start the database thread")?;
        let pg = Pg {
            jobs,
            label,
            stuck,
            life,
        };
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
        let sent = std::time::Instant::now();
        self.jobs
            .send(job)
            .map_err(|_| anyhow!("the database thread stopped"))?;
        loop {
            let wait = self
                .life
                .deadline(sent)
                .saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(wait) {
                Ok(r) => return r,
                // The database may have answered "busy" meanwhile: wait on.
                Err(mpsc::RecvTimeoutError::Timeout)
                    if self.life.deadline(sent) > std::time::Instant::now() => {}
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(self.timed_out()),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(anyhow!("the database thread stopped"))
                }
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
    fn the_keyword_form_is_read_as_libpq_reads_it() {
        let t = Target::parse(
            "host=db.example port=6543 dbname=leads user=team sslmode=verify-full \
             sslrootcert=/etc/ca.pem connect_timeout=5 application_name='my app'",
        )
        .unwrap();
        assert_eq!(t.ssl, SslMode::VerifyFull);
        assert_eq!(
            t.root_cert.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert_eq!(t.label, "postgres://team@db.example:6543/leads");
        assert!(!t.url.contains("sslmode") && !t.url.contains("sslrootcert"));
        assert!(t.config().is_ok());
        let t = Target::parse(r"host='/var/run/post gres' dbname='it\'s' user=team").unwrap();
        assert_eq!(t.label, "postgres://team@/var/run/post gres:5432/it's");
        assert!(Target::parse("host=db sslmode=bogus").is_err());
        let e = Target::parse("host=db password=s3cret")
            .unwrap_err()
            .to_string();
        assert!(e.contains("PGPASSWORD") && !e.contains("s3cret"), "{e}");
    }

    #[test]
    fn timeouts_and_lock_waits_are_retried_restarts_reconnected_the_rest_said() {
        // statement_timeout / lock_timeout and their kin: the database is busy, not gone.
        for code in ["57014", "55P03", "40001", "40P01"] {
            assert_eq!(failure(Some(code), false), Failure::Busy, "{code}");
        }
        for code in ["57P01", "57P02", "57P03"] {
            assert_eq!(failure(Some(code), false), Failure::Lost, "{code}");
        }
        assert_eq!(failure(None, true), Failure::Lost);
        for code in ["42P01", "23505", "42501"] {
            assert_eq!(failure(Some(code), false), Failure::Other, "{code}");
        }
        assert_eq!(failure(None, false), Failure::Other);
    }

    #[test]
    fn pgpass_lines_escape_colons() {
        assert_eq!(
            split_pgpass(r"h:5432:*:u:pa\:ss"),
            ["h", "5432", "*", "u", "pa:ss"]
        );
    }
}
