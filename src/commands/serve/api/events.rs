//! A job's live events (server-sent): the job at once, again whenever it changes, and an
//! `end` event with its final state. A stream reads nothing while nothing changed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::super::auth::Caller;
use super::super::App;
use super::{job_json, own, reader};

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
