//! The completion callback (`--notify-url`) against a real HTTP receiver on 127.0.0.1 port 0:
//! signed with the secret, retried on 5xx, no redirect followed, refused without a secret,
//! told of a run that failed too, and never a reason to change the run's exit code.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};

use crate::common::*;

pub(crate) type Seen = Arc<Mutex<Vec<(String, HeaderMap, Vec<u8>)>>>;

/// A receiver: `/hook` answers 500 to the first call and 200 after; `/moved` redirects to
/// `/elsewhere`. Everything it got is kept.
pub(crate) fn receiver() -> (String, Seen, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let seen: Seen = Arc::default();
    let kept = seen.clone();
    let addr = rt.block_on(async move {
        let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let path = uri.path().to_string();
                let mut seen = kept.lock().unwrap();
                seen.push((path.clone(), headers, body.to_vec()));
                let calls = seen.iter().filter(|(p, _, _)| *p == path).count();
                match path.as_str() {
                    "/hook" if calls == 1 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    "/moved" => (StatusCode::FOUND, [("location", "/elsewhere")]).into_response(),
                    _ => StatusCode::OK.into_response(),
                }
            }
        };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    (format!("http://{addr}"), seen, rt)
}

fn run_told(fx: &Fixture, url: &str, secret: Option<&str>) -> std::process::Output {
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let mut cmd = bin(fx.dir.path());
    cmd.args([
        "run",
        input.to_str().unwrap(),
        "--sandbox",
        "--progress",
        "never",
    ])
    .args(["--notify-url", url]);
    match secret {
        Some(s) => cmd.env("CHECKUSER_NOTIFY_SECRET", s),
        None => cmd.env_remove("CHECKUSER_NOTIFY_SECRET"),
    };
    cmd.output().unwrap()
}

#[test]
fn the_summary_is_posted_signed_and_tried_again_after_a_5xx() {
    let (base, seen, _rt) = receiver();
    let fx = Fixture::new();
    let secret = "notify-secret-0123";
    let o = run_told(&fx, &format!("{base}/hook"), Some(secret));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains(secret), "the secret is never shown");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one 500, then told");
    let (_, headers, body) = &seen[1];
    let summary: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(summary["rows"], 3, "{summary}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(headers["x-checkuser-signature"], want.as_str());
    assert!(headers.contains_key("x-checkuser-timestamp"));
}

#[test]
fn a_redirect_is_not_followed_and_the_run_still_ends_well() {
    let (base, seen, _rt) = receiver();
    let fx = Fixture::new();
    let o = run_told(&fx, &format!("{base}/moved"), Some("s"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let paths: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(p, _, _)| p.clone())
        .collect();
    assert_eq!(
        paths,
        ["/moved"],
        "no redirect followed, a 3xx not tried again"
    );
    assert!(stderr(&o).contains("--notify-url"), "{}", stderr(&o));
}

#[test]
fn a_callback_without_a_secret_is_refused_before_anything_is_sent() {
    let fx = Fixture::new();
    let o = run_told(&fx, "http://127.0.0.1:9/hook", None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("CHECKUSER_NOTIFY_SECRET"),
        "{}",
        stderr(&o)
    );
    let o = run_told(&fx, "http://crm.example/hook", Some("s"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("https"), "{}", stderr(&o));
}

/// A run that fails (here: its input is missing) is an ending too: the integration learns it
/// instead of waiting for a list that will never come.
#[test]
fn a_run_that_fails_is_told_with_its_error() {
    let (base, seen, _rt) = receiver();
    let fx = Fixture::new();
    let missing = fx.path("missing.csv");
    let o = bin(fx.dir.path())
        .args([
            "run",
            missing.to_str().unwrap(),
            "--sandbox",
            "--progress",
            "never",
        ])
        .args(["--notify-url", &format!("{base}/failed")])
        .env("CHECKUSER_NOTIFY_SECRET", "notify-secret-0123")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "told once");
    let summary: serde_json::Value = serde_json::from_slice(&seen[0].2).unwrap();
    assert_eq!(summary["exit_code"], 2, "{summary}");
    let message = summary["stop_message"].as_str().unwrap_or_default();
    assert!(message.contains("missing.csv"), "{summary}");
    assert!(seen[0].1.contains_key("x-checkuser-signature"));
}
