//! The completion callback (`--notify-url`): when a run ends, its summary JSON is POSTed to
//! the URL, signed with HMAC-SHA256 over the body (`X-Checkuser-Signature: sha256=HEX`, key
//! `CHECKUSER_NOTIFY_SECRET`) with the time it was sent (`X-Checkuser-Timestamp`). No
//! redirect is followed; each try waits at most 10 s; a 5xx or no answer is tried again with
//! backoff for up to 10 minutes. A callback that fails is logged: it never changes the run's
//! exit code or its outputs.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How long one try may take.
const TRY_FOR: Duration = Duration::from_secs(10);
/// How long a failing callback is tried again.
const RETRY_FOR: Duration = Duration::from_secs(600);

/// Where and how a run's end is told.
#[derive(Clone)]
pub struct Notify {
    pub url: reqwest::Url,
    /// `None` with `--notify-unsigned`.
    pub secret: Option<SecretString>,
    /// First wait between tries (doubled each time, full jitter); tests shorten it.
    pub backoff: Duration,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("url", &self.url.as_str())
            .field("signed", &self.secret.is_some())
            .finish()
    }
}

impl Notify {
    /// Checks `--notify-url` as the contract says: https unless on this machine or
    /// `--insecure-http`; signed unless `--notify-unsigned`.
    pub fn new(url: &str, unsigned: bool, insecure_http: bool) -> Result<Notify> {
        let url = reqwest::Url::parse(url).map_err(|e| anyhow!("--notify-url: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if insecure_http || crate::api::proxy::is_loopback(&url) => {}
            "http" => bail!(
                "--notify-url: a plain http URL that is not on this machine would send the \
                 summary in clear; use https, or pass --insecure-http"
            ),
            other => bail!("--notify-url: {other}: URLs are not supported (use https)"),
        }
        if !url.username().is_empty() || url.password().is_some() {
            bail!("--notify-url: no user or password in the URL (it would be logged)");
        }
        let secret = std::env::var("CHECKUSER_NOTIFY_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .map(SecretString::from);
        if secret.is_none() && !unsigned {
            bail!(
                "--notify-url needs CHECKUSER_NOTIFY_SECRET in the environment (the receiver \
                 checks the X-Checkuser-Signature made with it), or --notify-unsigned"
            );
        }
        Ok(Notify {
            url,
            secret: if unsigned { None } else { secret },
            backoff: Duration::from_secs(1),
        })
    }

    /// The signature header's value for `body` sent at `timestamp`.
    pub fn signature(&self, body: &[u8]) -> Option<String> {
        let secret = self.secret.as_ref()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).ok()?;
        mac.update(body);
        Some(format!(
            "sha256={}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }

    /// Tells the URL; never fails the run (what went wrong is logged).
    pub async fn send(&self, body: Vec<u8>) {
        let started = std::time::Instant::now();
        let client = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TRY_FOR)
            .no_proxy()
            .build()
        {
            Ok(c) => c,
            Err(e) => return tracing::error!("--notify-url: {e}"),
        };
        let mut wait = self.backoff;
        loop {
            match self.try_once(&client, &body).await {
                Ok(()) => return,
                Err((e, retry)) if retry && started.elapsed() + wait < RETRY_FOR => {
                    tracing::warn!("--notify-url: {e}; trying again in {wait:?}");
                    tokio::time::sleep(jitter(wait)).await;
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
                Err((e, _)) => return tracing::error!("--notify-url: {e}; not told"),
            }
        }
    }

    /// One POST; `Err((why, worth another try))`.
    async fn try_once(&self, client: &reqwest::Client, body: &[u8]) -> Result<(), (String, bool)> {
        let mut req = client
            .post(self.url.clone())
            .header("Content-Type", "application/json")
            .header(
                "X-Checkuser-Timestamp",
                chrono::Utc::now().timestamp().to_string(),
            )
            .body(body.to_vec());
        if let Some(sig) = self.signature(body) {
            req = req.header("X-Checkuser-Signature", sig);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) if r.status().is_server_error() => {
                Err((format!("answered {}", r.status()), true))
            }
            Ok(r) => Err((format!("answered {} (not tried again)", r.status()), false)),
            Err(e) => Err((
                format!("no answer ({})", crate::api::redact::text(&e.to_string())),
                true,
            )),
        }
    }
}

/// Full jitter: a random wait up to `d`.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_contract() {
        std::env::remove_var("CHECKUSER_NOTIFY_SECRET");
        assert!(Notify::new("https://crm.example/hook", false, false)
            .unwrap_err()
            .to_string()
            .contains("CHECKUSER_NOTIFY_SECRET"));
        assert!(Notify::new("https://crm.example/hook", true, false).is_ok());
        assert!(Notify::new("http://crm.example/hook", true, false).is_err());
        assert!(Notify::new("http://crm.example/hook", true, true).is_ok());
        assert!(Notify::new("http://127.0.0.1:9/hook", true, false).is_ok());
        assert!(Notify::new("ftp://crm.example/", true, true).is_err());
        assert!(Notify::new("https://u:p@crm.example/", true, false).is_err());
    }
}
