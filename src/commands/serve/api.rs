//! The JSON API (what the page uses, and what an integration calls): jobs made from uploads,
//! their mapping, start, cancel, live events, downloads and delete. Every call is
//! authenticated; every call that changes something passes the CSRF and origin checks; a
//! user sees only their own jobs (another's id answers 404, as a missing one does). Errors
//! are `{"error": "…"}` in the command line's words.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::auth::{may_change, Caller, Refusal};
use super::jobs::{Job, Status};
use super::App;
use crate::config::serve::JobSettings;
use crate::output::progress::Seen;

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
        .filter(|j| j.owner == caller.user)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, format!("no job {id}")))
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
            app.runner.book.remove(&job.id);
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
    let active = waiting(app, caller).len();
    if active < app.cfg.max_jobs {
        return Ok(());
    }
    too_many(app, active)
}

/// The user's jobs waiting or running.
fn waiting(app: &App, caller: &Caller) -> Vec<Job> {
    app.runner
        .book
        .all()
        .into_iter()
        .filter(|j| j.owner == caller.user && (j.status.active() || j.status == Status::Planned))
        .collect()
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

/// The upload kept in a new job's folder (under a name of ours): the job, its folder, and
/// whether to start it. Nothing is left behind when the form is refused.
async fn receive(
    app: &App,
    caller: &Caller,
    mp: &mut Multipart,
) -> Result<(Job, std::path::PathBuf, bool), ApiError> {
    let internal = |e: String| error(StatusCode::INTERNAL_SERVER_ERROR, e);
    let (id, dir) = app
        .runner
        .book
        .make()
        .map_err(|e| internal(format!("{e:#}")))?;
    let upload = dir.join("upload.part");
    let (name, settings, start) = match read_form(mp, &upload, app.cfg.max_upload).await {
        Ok(form) => form,
        Err(e) => {
            app.runner.book.remove(&id);
            return Err(e);
        }
    };
    let job = Job::new(id, caller.user.clone(), &name, settings);
    std::fs::rename(&upload, dir.join(&job.input))
        .map_err(|e| internal(format!("cannot keep the upload: {e}")))?;
    Ok((job, dir, start))
}

fn save(app: &App, job: &Job) -> Result<(), ApiError> {
    app.runner
        .book
        .save(job)
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))
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

/// The form's fields: the file (streamed to `upload`, at most `max` bytes), the settings,
/// and whether to start.
async fn read_form(
    mp: &mut Multipart,
    upload: &std::path::Path,
    max: u64,
) -> Result<(String, JobSettings, bool), ApiError> {
    let mut settings = JobSettings::default();
    let (mut name, mut start) = (None, false);
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e, max)),
        };
        let key = field.name().unwrap_or("").to_string();
        if key == "file" {
            name = Some(field.file_name().unwrap_or("list.csv").to_string());
            keep_file(field, upload, max).await?;
            continue;
        }
        let text = field.text().await.map_err(|e| multipart_error(e, max))?;
        match key.as_str() {
            "start" => start = matches!(text.trim(), "true" | "1" | "on" | "yes"),
            _ => setting(&mut settings, &key, text)?,
        }
    }
    let name = name.ok_or_else(|| bad("no file: send the list as the field \"file\"".into()))?;
    Ok((name, settings, start))
}

/// One of the form's settings.
fn setting(settings: &mut JobSettings, key: &str, text: String) -> Result<(), ApiError> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
    match key {
        "check" => settings.checks.push(text),
        "default_country" => settings.default_country = Some(text).filter(|t| !t.is_empty()),
        "sheet" => settings.sheet = Some(text).filter(|t| !t.is_empty()),
        "header_row" if text.trim().is_empty() => {}
        "header_row" => {
            // Its range is checked with the rest of the job's settings.
            let n = text.trim().parse::<u64>().ok();
            let why = || {
                bad(format!(
                    "header_row {text:?} is not a row number (1 or more)"
                ))
            };
            settings.header_row = Some(n.ok_or_else(why)?);
        }
        other => {
            return Err(bad(format!(
                "unknown field {other:?}: file, check, default_country, header_row, sheet, start"
            )))
        }
    }
    Ok(())
}

async fn keep_file(
    mut field: axum::extract::multipart::Field<'_>,
    upload: &std::path::Path,
    max: u64,
) -> Result<(), ApiError> {
    let io = |e: std::io::Error| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot keep the upload: {e}"),
        )
    };
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(upload)
        .await
        .map_err(io)?;
    let mut size = 0u64;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e, max)),
        };
        size += chunk.len() as u64;
        if size > max {
            return Err(too_big(max));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    if size == 0 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the file is empty: choose a list with a header row",
        ));
    }
    Ok(())
}

fn too_big(max: u64) -> ApiError {
    let size = match max {
        m if m >= 1_000_000 => format!("{:.0} MB", m as f64 / 1e6),
        m if m >= 1_000 => format!("{:.0} KB", m as f64 / 1e3),
        m => format!("{m} bytes"),
    };
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the file is larger than this server takes ({size}, --max-upload): split the list"),
    )
}

fn multipart_error(e: axum::extract::multipart::MultipartError, max: u64) -> ApiError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_big(max),
        status => error(
            status,
            format!("the upload could not be read: {}", e.body_text()),
        ),
    }
}

/// `POST /api/jobs/{id}/mapping`: new checks or settings, planned again.
pub async fn mapping(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<JobSettings>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let caller = changer(&app, &headers, addr)?;
    let _held = app.runner.hold(&id).await;
    let job = own(&app, &caller, &id)?;
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
    let caller = changer(&app, &headers, addr)?;
    let _held = app.runner.hold(&id).await;
    let job = own(&app, &caller, &id)?;
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
    let caller = changer(&app, &headers, addr)?;
    let _held = app.runner.hold(&id).await;
    let mut job = own(&app, &caller, &id)?;
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
    let caller = changer(&app, &headers, addr)?;
    let _held = app.runner.hold(&id).await;
    own(&app, &caller, &id)?;
    match app.runner.stop(&id, true) {
        // Off the list now; its folder goes when its run has stopped.
        true => app.runner.book.forget(&id),
        false => app.runner.book.remove(&id),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct Format {
    format: Option<String>,
}

/// `GET /api/jobs/{id}/result` and `/changes`.
pub async fn download(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((id, what)): Path<(String, String)>,
    q: Result<Query<Format>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let caller = reader(&app, &headers, addr)?;
    let job = own(&app, &caller, &id)?;
    let Query(q) = q.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text()))?;
    let dir = app
        .runner
        .book
        .folder(&id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "no job"))?;
    let (path, name, ext) =
        job.download(&dir, &what, q.format.as_deref())
            .map_err(|(found, why)| match found {
                true => error(StatusCode::BAD_REQUEST, why),
                false => error(StatusCode::NOT_FOUND, why),
            })?;
    if !job.status.finished() {
        return Err(error(
            StatusCode::CONFLICT,
            "the job has not finished: its files are not written yet",
        ));
    }
    let bytes = tokio::fs::read(&path).await.map_err(|_| {
        error(
            StatusCode::NOT_FOUND,
            format!("this job wrote no {what} file"),
        )
    })?;
    Ok(attachment(bytes, &name, &ext))
}

fn attachment(bytes: Vec<u8>, name: &str, ext: &str) -> Response {
    let mime = match ext {
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "text/csv; charset=utf-8",
    };
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `GET /api/jobs/{id}/events`: the job at once, again at each change (at most 4 a second),
/// then `end` with its final state.
pub async fn events(
    State(app): State<Arc<App>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = match reader(&app, &headers, addr) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    if let Err(r) = own(&app, &caller, &id) {
        return r.into_response();
    }
    let first = Watching {
        app,
        caller,
        id,
        last: None,
        seen: None,
        ended: false,
    };
    let stream = futures::stream::unfold(first, |w| async move {
        let (event, next) = w.next().await?;
        Some((Ok::<_, std::convert::Infallible>(event), next))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// An event stream's state: what it sent last, and whether it has ended.
struct Watching {
    app: Arc<App>,
    caller: Caller,
    id: String,
    last: Option<String>,
    /// When the record last changed and the run's progress version, as last seen: nothing
    /// is read or written again while they stay the same.
    seen: Option<(Option<std::time::SystemTime>, u64)>,
    ended: bool,
}

impl Watching {
    /// The next event: the job when it changed (at once the first time), or `end` with its
    /// final state (`deleted` for a job deleted meanwhile); `None` when the stream is over.
    async fn next(mut self) -> Option<(Event, Watching)> {
        if self.ended {
            return None;
        }
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    _ = self.app.stopping.cancelled() => return None,
                }
            }
            first = false;
            let now = self.version();
            if self.seen == Some(now) {
                continue;
            }
            self.seen = Some(now);
            let Ok(job) = own(&self.app, &self.caller, &self.id) else {
                self.ended = true;
                let gone = json!({ "id": self.id, "status": "deleted" }).to_string();
                return Some((Event::default().event("end").data(gone), self));
            };
            let text = job_json(&self.app, &job).to_string();
            if job.status.finished() && self.app.runner.live(&self.id).is_none() {
                self.ended = true;
                return Some((Event::default().event("end").data(text), self));
            }
            if self.last.as_deref() != Some(&text) {
                self.last = Some(text.clone());
                return Some((Event::default().event("job").data(text), self));
            }
        }
    }

    /// The job record's time and its run's progress version.
    fn version(&self) -> (Option<std::time::SystemTime>, u64) {
        let record = self
            .app
            .runner
            .book
            .folder(&self.id)
            .and_then(|d| std::fs::metadata(d.join("job.json")).ok())
            .and_then(|m| m.modified().ok());
        let live = self
            .app
            .runner
            .live(&self.id)
            .map_or(0, |l| l.watch.version());
        (record, live)
    }
}
