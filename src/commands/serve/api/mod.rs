//! The JSON API (what the page uses, and what an integration calls): jobs made from uploads,
//! their mapping, start, cancel, live events, downloads and delete. Every call is
//! authenticated; every call that changes something passes the CSRF and origin checks; a
//! user sees only their own jobs (another's id answers 404, as a missing one does). Errors
//! are `{"error": "…"}` in the command line's words.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::{may_change, Caller, Refusal};
use super::jobs::{Job, Status};
use super::App;
use crate::config::serve::JobSettings;
use crate::output::progress::Seen;

mod download;
mod events;
mod upload;

pub use download::download;
pub use events::events;
use upload::receive;

/// An error as the API answers it: `{"error": "…"}` with its status.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

pub fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::Unauthorized => error(
            StatusCode::UNAUTHORIZED,
            "log in first: open the URL checkuser serve printed, or send Authorization",
        ),
        Refusal::TooManyTries => error(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins from here: wait a minute",
        ),
        Refusal::Forbidden => error(
            StatusCode::FORBIDDEN,
            "refused: this request did not come from checkuser's own page (CSRF token or origin)",
        ),
    }
}

/// The caller of a request that only reads.
fn reader(app: &App, headers: &HeaderMap, addr: SocketAddr) -> Result<Caller, ApiError> {
    app.auth
        .caller(headers, super::client(headers, addr))
        .map_err(refused)
}

/// The caller of a request that changes something: same origin and CSRF token too.
fn changer(app: &App, headers: &HeaderMap, addr: SocketAddr) -> Result<Caller, ApiError> {
    let caller = reader(app, headers, addr)?;
    match may_change(&caller, headers, None) {
        true => Ok(caller),
        false => Err(refused(Refusal::Forbidden)),
    }
}

/// The caller's own job `id` (someone else's is as unknown as a missing one).
fn own(app: &App, caller: &Caller, id: &str) -> Result<Job, ApiError> {
    app.runner
        .book
        .load(id)
        .map_err(away)?
        .filter(|j| j.owner == caller.user)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no job {id}")))
}

/// The caller's own job `id`, to change or download: only the server keeping its files does
/// (another server of the team lists it, and says where it is).
fn own_here(app: &App, caller: &Caller, id: &str) -> Result<Job, ApiError> {
    let job = own(app, caller, id)?;
    if !app.runner.book.keeps(&job) {
        let why = format!(
            "this job's list is kept by the server on {}: open that server's page to change \
             or download it",
            job.server()
        );
        return Err(error(StatusCode::CONFLICT, why));
    }
    Ok(job)
}

/// A change to the caller's job `id`: the job held (one change at a time: keep the guard
/// while changing), the caller (same origin and CSRF token), and the job as it is once held.
async fn change(
    app: &App,
    headers: &HeaderMap,
    addr: SocketAddr,
    id: &str,
) -> Result<(tokio::sync::OwnedMutexGuard<()>, Caller, Job), ApiError> {
    let caller = changer(app, headers, addr)?;
    let held = app.runner.hold(id).await;
    let job = own_here(app, &caller, id)?;
    Ok((held, caller, job))
}

/// The store could not be read or written.
fn away(e: anyhow::Error) -> ApiError {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{e:#}: try again in a moment"),
    )
}

type Answer = Result<Response, ApiError>;

/// The progress a page shows.
pub fn progress_json(seen: &Seen, status: Status) -> Value {
    let counts: serde_json::Map<String, Value> = seen
        .counts
        .iter()
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    // Values a stop left unasked are counted (pending), but not done.
    let pending = seen
        .counts
        .iter()
        .find(|(k, _)| *k == "pending")
        .map_or(0, |(_, n)| *n);
    let done = seen.done.saturating_sub(pending);
    let total = seen.total.unwrap_or(seen.done);
    json!({
        "done": if status == Status::Done { total.max(done) } else { done },
        "total": total,
        "counts": counts,
        "eta_seconds": if status == Status::Running { seen.eta_seconds() } else { None },
    })
}

/// The progress of a job that has ended: its run's last, with the summary's counts (of the
/// whole list, those answered before a restart included).
pub fn final_progress(
    seen: &Seen,
    status: Status,
    summary: Option<&crate::output::Summary>,
) -> Value {
    let mut p = progress_json(seen, status);
    if let Some(s) = summary {
        let counts: serde_json::Map<String, Value> = s
            .counts
            .results()
            .map(|(k, n)| (k.as_str().to_string(), json!(n)))
            .collect();
        p["counts"] = Value::Object(counts);
    }
    p
}

/// A job as the API shows it.
pub fn job_json(app: &App, job: &Job) -> Value {
    let progress = match app.runner.live(&job.id) {
        Some(live) => progress_json(&live.watch.seen(), job.status),
        None => job.progress.clone().unwrap_or_else(|| {
            let total = job
                .plan
                .as_ref()
                .and_then(|p| p["to_ask"].as_u64())
                .unwrap_or(0);
            json!({"done": 0, "total": total, "counts": {}, "eta_seconds": null})
        }),
    };
    let has_result = app
        .runner
        .book
        .folder(&job.id)
        .is_some_and(|d| job.files(&d).output.is_file());
    let downloads = (job.status.finished() && has_result).then(|| {
        json!({
            "result": format!("/api/jobs/{}/result", job.id),
            "changes": format!("/api/jobs/{}/changes", job.id),
        })
    });
    json!({
        "id": job.id,
        "name": job.name,
        "status": job.status,
        "created": job.created,
        "columns": job.columns,
        "checks": job.checks,
        "settings": job.settings,
        "notes": job.notes,
        "plan": job.plan,
        "progress": progress,
        "summary": job.summary,
        "error": job.error,
        "downloads": downloads,
        "server": job.server(),
    })
}

/// Any other address: a JSON 404 (after authentication for the API, so that nothing tells
/// an outsider which addresses exist).
pub async fn not_found(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    reader(&app, &headers, addr)?;
    Err(error(StatusCode::NOT_FOUND, "no such page"))
}

/// `GET /api/session`: who is logged in, and the CSRF token the page sends back.
pub async fn session(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match reader(&app, &headers, addr) {
        Ok(c) => Json(json!({ "user": c.user, "csrf": c.csrf })).into_response(),
        Err(r) => r.into_response(),
    }
}

pub async fn list(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Answer {
    let caller = reader(&app, &headers, addr)?;
    let jobs: Vec<Value> = app
        .runner
        .book
        .all()
        .map_err(away)?
        .iter()
        .filter(|j| j.owner == caller.user)
        .map(|j| job_json(&app, j))
        .collect();
    Ok(Json(json!({ "jobs": jobs })).into_response())
}

pub async fn show(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let caller = reader(&app, &headers, addr)?;
    let job = own(&app, &caller, &id)?;
    Ok(Json(job_json(&app, &job)).into_response())
}

/// `POST /api/jobs`: the upload becomes a job, mapped and planned (and started if asked).
pub async fn create(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Answer {
    // Who is asking first: a body that is no form is no one's business before that.
    changer(&app, &headers, addr)?;
    let multipart = multipart.map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("send the list as multipart/form-data: {}", e.body_text()),
        )
    })?;
    create_job(app, addr, headers, multipart).await
}

async fn create_job(
    app: Arc<App>,
    addr: SocketAddr,
    headers: HeaderMap,
    mut mp: Multipart,
) -> Answer {
    let caller = changer(&app, &headers, addr)?;
    room_for(&app, &caller)?;
    let (mut job, dir, start) = receive(&app, &caller, &mut mp).await?;
    // Again, one upload at a time: uploads sent together all passed the first look.
    {
        let _one = app.runner.admitting.lock().await;
        if let Err(e) = room_for(&app, &caller) {
            let _ = app.runner.book.remove(&job.id);
            return Err(e);
        }
        save(&app, &job)?;
    }
    let job = prepared(&app, job.clone(), &dir).await.unwrap_or_else(|| {
        job.status = Status::Failed;
        job.error = Some("internal error: the list could not be planned".into());
        job
    });
    let job = match start && job.status == Status::Planned {
        true => app.runner.start(job),
        false => {
            save(&app, &job)?;
            job
        }
    };
    Ok((StatusCode::CREATED, Json(job_json(&app, &job))).into_response())
}

/// `--max-jobs`: planned, queued and running jobs of one user.
fn room_for(app: &App, caller: &Caller) -> Result<(), ApiError> {
    let active = waiting(app, caller)?.len();
    if active < app.cfg.max_jobs {
        return Ok(());
    }
    too_many(app, active)
}

/// The user's jobs waiting or running.
fn waiting(app: &App, caller: &Caller) -> Result<Vec<Job>, ApiError> {
    let all = app.runner.book.all().map_err(away)?;
    Ok(all
        .into_iter()
        .filter(|j| j.owner == caller.user && (j.status.active() || j.status == Status::Planned))
        .collect())
}

fn too_many(app: &App, active: usize) -> Result<(), ApiError> {
    Err(error(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "you have {active} jobs waiting or running (at most {}, --max-jobs): start, cancel \
             or delete some first",
            app.cfg.max_jobs
        ),
    ))
}

fn save(app: &App, job: &Job) -> Result<(), ApiError> {
    app.runner.book.save(job).map_err(away)
}

/// Maps and plans a job on a blocking thread (it reads the file and the store).
async fn prepared(app: &Arc<App>, mut job: Job, dir: &std::path::Path) -> Option<Job> {
    let (app, dir) = (app.clone(), dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        job.prepare(&dir, &app.cfg);
        job
    })
    .await
    .ok()
}

/// `POST /api/jobs/{id}/mapping`: new checks or settings, planned again.
pub async fn mapping(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<JobSettings>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let (_held, _, job) = change(&app, &headers, addr, &id).await?;
    let Json(settings) = body.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    if !matches!(job.status, Status::Planned | Status::Failed) || job.summary.is_some() {
        return Err(error(
            StatusCode::CONFLICT,
            "this job has started: its mapping can no longer change",
        ));
    }
    let dir = app
        .runner
        .book
        .folder(&id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "no job"))?;
    let mut changed = job.clone();
    changed.settings = settings;
    let changed = prepared(&app, changed, &dir)
        .await
        .ok_or_else(|| error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?;
    if changed.status == Status::Failed {
        let why = changed.error.clone().unwrap_or_default();
        return Err(error(StatusCode::BAD_REQUEST, why));
    }
    save(&app, &changed)?;
    Ok(Json(job_json(&app, &changed)).into_response())
}

pub async fn start(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let (_held, _, job) = change(&app, &headers, addr, &id).await?;
    if job.status != Status::Planned {
        let why = match job.status {
            Status::Failed => format!(
                "this job cannot start: {}",
                job.error.clone().unwrap_or_default()
            ),
            _ => "this job has started already".to_string(),
        };
        return Err(error(StatusCode::CONFLICT, why));
    }
    let job = app.runner.start(job);
    Ok((StatusCode::ACCEPTED, Json(job_json(&app, &job))).into_response())
}

pub async fn cancel(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let (_held, caller, mut job) = change(&app, &headers, addr, &id).await?;
    if app.runner.stop(&id, false) {
        job = settled(&app, &caller, &id).await?;
    } else if job.status == Status::Planned {
        job.status = Status::Cancelled;
        save(&app, &job)?;
    }
    Ok(Json(job_json(&app, &job)).into_response())
}

/// The job once its run has stopped (a few seconds at most: requests in flight finish).
async fn settled(app: &Arc<App>, caller: &Caller, id: &str) -> Result<Job, ApiError> {
    for _ in 0..600 {
        if app.runner.live(id).is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    own(app, caller, id)
}

pub async fn delete(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let (_held, ..) = change(&app, &headers, addr, &id).await?;
    match app.runner.stop(&id, true) {
        // Off the list now; its folder goes when its run has stopped.
        true => app.runner.book.forget(&id),
        false => app.runner.book.remove(&id),
    }
    .map_err(away)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
