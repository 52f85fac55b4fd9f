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
        foreign: false,
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
    /// [`Watching::version`] as last seen: nothing is read or sent again while it stays.
    seen: Option<(u64, u64, u64)>,
    /// The job is kept by another server of the team.
    foreign: bool,
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
            let job = match own(&self.app, &self.caller, &self.id) {
                Ok(job) => job,
                // The store away for a moment: read again at the next turn.
                Err(e) if e.0 != axum::http::StatusCode::NOT_FOUND => {
                    self.seen = None;
                    continue;
                }
                Err(_) => {
                    self.ended = true;
                    let gone = json!({ "id": self.id, "status": "deleted" }).to_string();
                    return Some((Event::default().event("end").data(gone), self));
                }
            };
            self.foreign = !self.app.runner.book.keeps(&job);
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

    /// What moves when the job may have changed: the changes made by this server, its run's
    /// progress, and for a job of another server of the team (changed there) the time, read
    /// every two seconds.
    fn version(&self) -> (u64, u64, u64) {
        let runner = &self.app.runner;
        let live = runner.live(&self.id).map_or(0, |l| l.watch.version());
        let elsewhere = match self.foreign {
            true => chrono::Utc::now().timestamp() as u64 / 2,
            false => 0,
        };
        (runner.book.version(), live, elsewhere)
    }
}
