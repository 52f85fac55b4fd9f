//! `checkuser serve`: a web page and a JSON API over the same engine, store and quota, for
//! people who never open a terminal. A job is a `run` of an uploaded file ([`runner`]),
//! kept under the state folder ([`jobs`]); [`auth`] says who may come in, [`api`] answers
//! the page and integrations, [`page`] serves the page itself.

pub mod api;
pub mod auth;
pub mod book;
pub mod jobs;
pub mod page;
pub mod runner;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;

use crate::cli::{LogArgs, ServeArgs};
use crate::config::serve::ServeConfig;
use crate::model::ExitCode;
use auth::{Auth, Door};
use runner::Runner;

/// What every handler shares.
pub struct App {
    pub auth: Auth,
    pub runner: Arc<Runner>,
    pub cfg: Arc<ServeConfig>,
    /// Cancelled when the server stops (event streams end then).
    pub stopping: CancellationToken,
}

/// The command: `--add-user`, or the server until SIGINT/SIGTERM.
pub fn command(a: &ServeArgs, log: &LogArgs) -> Result<ExitCode> {
    if let (Some(name), Some(users)) = (&a.add_user, &a.users) {
        let password = ask_password()?;
        auth::add_user(users, name, &password)?;
        eprintln!(
            "checkuser serve: {name} can log in (--users {})",
            users.display()
        );
        return Ok(ExitCode::Ok);
    }
    let cfg = ServeConfig::from_args(a, log)?;
    let door = match &cfg.users {
        Some(path) => Door::Users(auth::read_users(path)?),
        None => Door::Token(SecretString::from(auth::random_token())),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let stop = super::signals::interrupts(|| {});
        serve(cfg, door, stop).await
    })?;
    Ok(ExitCode::Ok)
}

/// The password, twice: from the terminal without echo, or two lines of standard input.
fn ask_password() -> Result<SecretString> {
    use std::io::IsTerminal;
    let read = |prompt: &str| -> Result<String> {
        if std::io::stdin().is_terminal() {
            Ok(rpassword::prompt_password(prompt)?)
        } else {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            Ok(line.trim_end_matches(['\r', '\n']).to_string())
        }
    };
    let first = SecretString::from(read("Password: ")?);
    let second = SecretString::from(read("Password again: ")?);
    if first.expose_secret() != second.expose_secret() {
        bail!("the two passwords differ: nothing was changed");
    }
    Ok(first)
}

/// Serves until `stop`; running jobs then stop sending, keep their answers, and go on at the
/// next start.
pub async fn serve(cfg: ServeConfig, door: Door, stop: CancellationToken) -> Result<()> {
    let cfg = Arc::new(cfg);
    let base = match super::run::Base::prepare(&cfg.base, &stop, false).await? {
        Ok(base) => base,
        Err(why) => bail!("{why}"),
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let host = match addr.ip().is_unspecified() {
        true => "127.0.0.1".to_string(),
        false => addr.ip().to_string(),
    };
    let url = match &door {
        Door::Token(t) => format!("http://{host}:{}/?token={}", addr.port(), t.expose_secret()),
        Door::Users(_) => format!(
            "http://{host}:{}/ (log in with a name from --users)",
            addr.port()
        ),
    };
    eprintln!("checkuser serve: open {url}");
    let book = book::Book::open(&cfg.jobs_dir, &cfg.base.state)?;
    let runner = Arc::new(Runner::new(cfg.clone(), base, book, stop.clone()));
    runner.resume()?;
    let app = Arc::new(App {
        auth: Auth::new(door),
        runner: runner.clone(),
        cfg: cfg.clone(),
        stopping: stop.clone(),
    });
    tokio::spawn(prune(app.clone()));
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop.clone().cancelled_owned())
    .await
    .context("the server stopped")?;
    runner.wait().await;
    tracing::info!("checkuser serve: stopped; running jobs go on at the next start");
    Ok(())
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    let upload_limit = app.cfg.max_upload.saturating_add(1 << 20) as usize;
    Router::new()
        .route("/", get(page::index))
        .route("/login", get(page::login_form).post(page::login))
        .route("/logout", post(page::logout))
        .route("/assets/{name}", get(page::asset))
        .route("/api/session", get(api::session))
        .route(
            "/api/jobs",
            get(api::list)
                .post(api::create)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/jobs/{id}", get(api::show).delete(api::delete))
        .route("/api/jobs/{id}/start", post(api::start))
        .route("/api/jobs/{id}/cancel", post(api::cancel))
        .route("/api/jobs/{id}/mapping", post(api::mapping))
        .route("/api/jobs/{id}/events", get(api::events))
        .route("/api/jobs/{id}/{what}", get(api::download))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn(page::secure))
        .with_state(app)
}

/// The address a request comes from: the peer's, or, from a reverse proxy on this machine,
/// the last address it added to `X-Forwarded-For` (what failed logins are counted by; a
/// client cannot forge it past a proxy that appends).
pub fn client(headers: &axum::http::HeaderMap, peer: SocketAddr) -> std::net::IpAddr {
    if !peer.ip().is_loopback() {
        return peer.ip();
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// Removes jobs older than `--keep-jobs` (never a live one), at start and every hour.
async fn prune(app: Arc<App>) {
    loop {
        let keep = app.cfg.keep_jobs.as_millis() as i64;
        let now = chrono::Utc::now().timestamp_millis();
        if let Err(e) = sweep(&app, now - keep) {
            tracing::warn!("old jobs not removed: {e:#}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = app.stopping.cancelled() => return,
        }
    }
}

/// Removes this server's jobs made before `cutoff` (ms) and not running, and the folders
/// left without a record.
fn sweep(app: &App, cutoff: i64) -> Result<()> {
    let book = &app.runner.book;
    for job in book.all()? {
        if book.keeps(&job) && job.created_ms < cutoff && app.runner.live(&job.id).is_none() {
            tracing::info!("job {}: older than --keep-jobs, removed", job.id);
            book.remove(&job.id)?;
        }
    }
    for orphan in book.orphans() {
        let _ = std::fs::remove_dir_all(orphan);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn a_proxy_on_this_machine_names_the_client() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9"),
        );
        let local = "127.0.0.1:5000".parse().unwrap();
        let remote = "198.51.100.2:5000".parse().unwrap();
        assert_eq!(super::client(&h, local).to_string(), "203.0.113.9");
        // Only a proxy on this machine is believed.
        assert_eq!(super::client(&h, remote).to_string(), "198.51.100.2");
        assert_eq!(
            super::client(&HeaderMap::new(), local).to_string(),
            "127.0.0.1"
        );
    }
}
