//! Who may use the server, as OWASP's session and CSRF cheat sheets say: on loopback a fresh
//! random token printed at start (Jupyter's model), elsewhere named users with argon2id
//! hashes (`--users`); a session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind TLS)
//! with its own CSRF token; a foreign `Origin` refused; failed logins rate-limited. API
//! clients may send `Authorization: Bearer TOKEN` (loopback) or `Basic NAME:PASSWORD`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use argon2::password_hash::{phc::PasswordHash, PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use axum::http::{header, HeaderMap};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

/// The one user of a loopback server without `--users`.
pub const LOCAL_USER: &str = "local";
/// The session cookie's name.
pub const COOKIE: &str = "checkuser_session";
/// How long a session lasts.
const SESSION_FOR: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per address (and per name) in [`LOGIN_WINDOW`].
const LOGIN_TRIES: u32 = 5;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// Who the server lets in.
pub enum Door {
    /// Loopback without `--users`: the printed token.
    Token(SecretString),
    /// `--users`: names and argon2id hashes.
    Users(HashMap<String, String>),
}

/// A logged-in browser.
#[derive(Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    since: Instant,
}

/// Who a request is from, and whether it came with a cookie (then it needs the CSRF token
/// for anything that changes state).
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: String,
    /// The session's CSRF token, for a caller that came with the cookie.
    pub csrf: Option<String>,
}

pub struct Auth {
    pub door: Door,
    /// A hash checked for names that do not exist, so that they take as long as names that
    /// do.
    decoy: String,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// `Basic` credentials verified lately (by a digest of them): an integration calling every
    /// few seconds costs one argon2 check per [`VERIFIED_FOR`], not one per call.
    verified: Mutex<HashMap<[u8; 32], (String, Instant)>>,
}

/// How long verified `Basic` credentials are remembered.
const VERIFIED_FOR: Duration = Duration::from_secs(600);

/// A random token of 32 bytes, hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// Equal without telling how much of it was (constant time for equal lengths).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Auth {
    pub fn new(door: Door) -> Auth {
        let decoy = Argon2::default()
            .hash_password(random_token().as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default();
        Auth {
            door,
            decoy,
            sessions: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The user a token or a name and password stand for, if they are right. A password is
    /// checked against a hash even for a name that does not exist (no timing tells which).
    pub fn check(&self, name: Option<&str>, secret: &str) -> Option<String> {
        match &self.door {
            Door::Token(token) => {
                same(secret, token.expose_secret()).then(|| LOCAL_USER.to_string())
            }
            Door::Users(users) => {
                let name = name?;
                let stored = users.get(name).map(String::as_str).unwrap_or(&self.decoy);
                let hash = PasswordHash::new(stored).ok()?;
                let ok = Argon2::default()
                    .verify_password(secret.as_bytes(), &hash)
                    .is_ok();
                (ok && users.contains_key(name)).then(|| name.to_string())
            }
        }
    }

    /// A token or a name and password offered by `who` (an address, a name): the user, or
    /// why not. Failed tries are limited per address and per name. A right token is never
    /// refused (it is 256 random bits: letting it through tells a guesser nothing, and
    /// refusing it would let anyone on the machine lock its owner out); a password is not
    /// even checked while its name or address is over the limit.
    pub fn admit(
        &self,
        name: Option<&str>,
        secret: &str,
        who: &[String],
    ) -> Result<String, Refusal> {
        if let Door::Token(_) = self.door {
            if let Some(user) = self.check(None, secret) {
                return Ok(user);
            }
        }
        if !self.may_try(who) {
            return Err(Refusal::TooManyTries);
        }
        let user = match self.door {
            Door::Token(_) => None,
            // argon2 is slow on purpose: off the async workers.
            Door::Users(_) => tokio::task::block_in_place(|| self.check(name, secret)),
        };
        user.ok_or_else(|| {
            self.failed(who);
            Refusal::Unauthorized
        })
    }

    /// Whether `who` (an address, a name) may try to log in now.
    pub fn may_try(&self, who: &[String]) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        f.retain(|_, (_, since)| now.duration_since(*since) < LOGIN_WINDOW);
        who.iter()
            .all(|w| f.get(w).is_none_or(|(n, _)| *n < LOGIN_TRIES))
    }

    /// A login failed for `who`.
    pub fn failed(&self, who: &[String]) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for w in who {
            f.entry(w.clone()).or_insert((0, Instant::now())).0 += 1;
        }
    }

    /// Opens a session for `user`: its id (the cookie's value).
    pub fn open(&self, user: String) -> String {
        let id = random_token();
        let session = Session {
            user,
            csrf: random_token(),
            since: Instant::now(),
        };
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.retain(|_, v| v.since.elapsed() < SESSION_FOR);
        s.insert(id.clone(), session);
        id
    }

    pub fn close(&self, id: &str) {
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.remove(id);
    }

    pub fn session(&self, id: &str) -> Option<Session> {
        let s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.get(id)
            .filter(|v| v.since.elapsed() < SESSION_FOR)
            .cloned()
    }

    /// Who sent these headers: a session cookie, or an `Authorization` header.
    pub fn caller(&self, headers: &HeaderMap, ip: IpAddr) -> Result<Caller, Refusal> {
        if let Some(auth) = headers.get(header::AUTHORIZATION) {
            return self.authorization(auth.to_str().unwrap_or(""), ip);
        }
        let jar = axum_extra::extract::cookie::CookieJar::from_headers(headers);
        let session = jar.get(COOKIE).and_then(|c| self.session(c.value()));
        match session {
            Some(s) => Ok(Caller {
                user: s.user,
                csrf: Some(s.csrf),
            }),
            None => Err(Refusal::Unauthorized),
        }
    }

    fn authorization(&self, value: &str, ip: IpAddr) -> Result<Caller, Refusal> {
        let user = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                self.admit(None, token.trim(), &[ip.to_string()])?
            }
            Some((scheme, basic)) if scheme.eq_ignore_ascii_case("basic") => {
                let text = base64_decode(basic.trim()).ok_or(Refusal::Unauthorized)?;
                let (name, password) = text.split_once(':').ok_or(Refusal::Unauthorized)?;
                self.basic(name, password, ip)?
            }
            _ => return Err(Refusal::Unauthorized),
        };
        Ok(Caller { user, csrf: None })
    }

    /// `Basic NAME:PASSWORD`: remembered if verified lately (an integration calling every
    /// few seconds costs one argon2 check per [`VERIFIED_FOR`]), else admitted as a login.
    fn basic(&self, name: &str, password: &str, ip: IpAddr) -> Result<String, Refusal> {
        use sha2::Digest;
        let digest: [u8; 32] = sha2::Sha256::digest(format!("{name}\0{password}")).into();
        {
            let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            v.retain(|_, (_, since)| since.elapsed() < VERIFIED_FOR);
            if let Some((user, _)) = v.get(&digest) {
                return Ok(user.clone());
            }
        }
        let user = self.admit(
            Some(name),
            password,
            &[ip.to_string(), format!("name:{name}")],
        )?;
        let mut v = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        v.insert(digest, (user.clone(), Instant::now()));
        Ok(user)
    }
}

/// Why a request is refused before it is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unauthorized,
    TooManyTries,
    /// A cookie-carried request that changes state without the CSRF token, or from another
    /// origin.
    Forbidden,
}

/// Base64 (standard alphabet) to text, for `Authorization: Basic`.
fn base64_decode(text: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a request that changes state may go on: same origin (when the browser says
/// where it comes from), and, for a cookie-carried one, the session's CSRF token.
pub fn may_change(caller: &Caller, headers: &HeaderMap, form_token: Option<&str>) -> bool {
    if !same_origin(headers) {
        return false;
    }
    match &caller.csrf {
        None => true,
        Some(expected) => {
            let given = headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .or(form_token)
                .unwrap_or("");
            same(given, expected)
        }
    }
}

/// The `Origin` (or, without it, `Sec-Fetch-Site`) says the request comes from this server's
/// own pages. A browser sends `Origin: null` for a form of a page whose referrer policy is
/// `no-referrer` (ours): then only `Sec-Fetch-Site: same-origin` vouches for it.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if fetch_site.is_some_and(|s| s == "cross-site" || s == "same-site") {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if origin == "null" {
        return fetch_site == Some("same-origin");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let forwarded = headers
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok());
    let without_scheme = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    without_scheme.is_some_and(|o| o == host || Some(o) == forwarded)
}

/// Reads `--users FILE`: lines `NAME:HASH`, `#` comments and blank lines skipped.
pub fn read_users(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --users {}", path.display()))?;
    let mut users = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, hash)) = line.split_once(':') else {
            bail!("--users {} line {}: not NAME:HASH", path.display(), n + 1);
        };
        if PasswordHash::new(hash).is_err() || !hash.starts_with("$argon2id$") {
            bail!(
                "--users {} line {}: the hash of {name} is not an argon2id hash (make it with \
                 checkuser serve --add-user {name} --users FILE)",
                path.display(),
                n + 1
            );
        }
        users.insert(name.to_string(), hash.to_string());
    }
    if users.is_empty() {
        bail!(
            "--users {} names no user: add one with checkuser serve --add-user NAME --users FILE",
            path.display()
        );
    }
    Ok(users)
}

/// Adds or replaces `name`'s line in the users file (owner-only), its password hashed with
/// argon2id and a random salt.
pub fn add_user(path: &Path, name: &str, password: &SecretString) -> Result<()> {
    if name.is_empty() || name.contains([':', '\n', '\r']) || name.trim() != name {
        bail!("--add-user {name:?}: a name has no ':' and no spaces at its ends");
    }
    if password.expose_secret().chars().count() < 8 {
        bail!("the password is too short: 8 characters at least");
    }
    let hash = Argon2::default()
        .hash_password(password.expose_secret().as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?
        .to_string();
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = old
        .lines()
        .filter(|l| l.split_once(':').map(|(n, _)| n) != Some(name))
        .map(String::from)
        .collect();
    lines.push(format!("{name}:{hash}"));
    let text = lines.join("\n") + "\n";
    write_private(path, text.as_bytes())
        .with_context(|| format!("cannot write --users {}", path.display()))
}

/// Replaces `path` with `bytes`, readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_null_origin_passes_only_when_the_browser_says_same_origin() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!same_origin(&headers(&[host, ("origin", "null")])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "null"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "null"),
            ("sec-fetch-site", "none")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            host,
            ("origin", "http://evil.example")
        ])));
    }

    #[test]
    fn a_user_added_logs_in_with_that_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("users");
        add_user(&file, "alice", &SecretString::from("correct horse")).unwrap();
        add_user(&file, "bob", &SecretString::from("battery staple")).unwrap();
        let auth = Auth::new(Door::Users(read_users(&file).unwrap()));
        assert_eq!(
            auth.check(Some("alice"), "correct horse").as_deref(),
            Some("alice")
        );
        assert_eq!(auth.check(Some("alice"), "battery staple"), None);
        assert_eq!(auth.check(Some("carol"), "correct horse"), None);
        assert!(!std::fs::read_to_string(&file).unwrap().contains("horse"));
    }

    #[test]
    fn guessing_the_token_is_limited_but_never_locks_its_owner_out() {
        let auth = Auth::new(Door::Token(SecretString::from("the-token")));
        let who = ["127.0.0.1".to_string()];
        for _ in 0..LOGIN_TRIES {
            assert_eq!(auth.admit(None, "guess", &who), Err(Refusal::Unauthorized));
        }
        assert_eq!(auth.admit(None, "guess", &who), Err(Refusal::TooManyTries));
        assert_eq!(
            auth.admit(None, "the-token", &who).as_deref(),
            Ok(LOCAL_USER)
        );
    }

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(base64_decode("YWxpY2U6cHc=").as_deref(), Some("alice:pw"));
        assert_eq!(base64_decode("!!"), None);
    }

    #[test]
    fn failed_logins_are_limited_per_address() {
        let auth = Auth::new(Door::Token(SecretString::from("t")));
        let who = ["127.0.0.1".to_string()];
        for _ in 0..LOGIN_TRIES {
            assert!(auth.may_try(&who));
            auth.failed(&who);
        }
        assert!(!auth.may_try(&who));
    }
}
