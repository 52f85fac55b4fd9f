//! An upload becoming a job: the multipart form read field by field, the file streamed to
//! the job's folder under a name of ours (never the sender's), held to `--max-upload`, and
//! the settings that came with it checked.

use axum::extract::Multipart;
use axum::http::StatusCode;
use tokio::io::AsyncWriteExt;

use super::super::auth::Caller;
use super::super::jobs::Job;
use super::super::App;
use super::{error, ApiError};
use crate::config::serve::JobSettings;

/// The upload kept in a new job's folder (under a name of ours): the job, its folder, and
/// whether to start it. Nothing is left behind when the form is refused.
pub(super) async fn receive(
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
            let _ = app.runner.book.remove(&id);
            return Err(e);
        }
    };
    let mut job = Job::new(id, caller.user.clone(), &name, settings);
    job.home = app.runner.book.home.clone();
    std::fs::rename(&upload, dir.join(&job.input))
        .map_err(|e| internal(format!("cannot keep the upload: {e}")))?;
    Ok((job, dir, start))
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
