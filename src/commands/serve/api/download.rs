//! A finished job's files as downloads: the result or the changes, CSV or its workbook twin,
//! under the list's own name (ASCII and UTF-8 forms in Content-Disposition).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::super::App;
use super::{error, own_here, reader, Answer};

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
    let job = own_here(&app, &caller, &id)?;
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
