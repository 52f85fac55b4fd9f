//! The built-in simulator of the partner API: both check paths over real HTTP, signature and
//! token checks, the API's input rules, a gateway rate limit and injected faults. `checkuser
//! sandbox` serves it by hand, `run --sandbox` starts it in-process, and the tests drive it on
//! port 0 and read its request log.

pub mod truth;
pub mod verify;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::model::CheckType;
use crate::normalize;
pub use truth::{truth, Truth};

/// Who the simulator accepts. Not secrets: they only open the simulator.
#[derive(Debug, Clone)]
pub struct Identity {
    pub ak: String,
    pub sk: String,
    pub token: String,
    pub partner_id: String,
}

impl Identity {
    /// The fixed identity `checkuser sandbox` prints and `run --sandbox` uses.
    pub fn builtin() -> Identity {
        Identity {
            ak: "SANDBOXAK00000000001".into(),
            sk: "sandbox-sk-only-opens-the-simulator".into(),
            token: "sandbox-iam-token".into(),
            partner_id: "sandbox-partner-0001".into(),
        }
    }

    /// Credentials a client signs with to reach the simulator.
    pub fn credentials(&self) -> crate::api::credentials::Credentials {
        crate::api::credentials::Credentials {
            auth: crate::api::credentials::Auth::AkSk {
                ak: self.ak.clone(),
                sk: self.sk.clone().into(),
                security_token: None,
            },
            domain_id: None,
            source: "the built-in sandbox".into(),
        }
    }
}

/// Faults and limits (`checkuser sandbox --help` describes each).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub throttle: f64,
    pub transient: f64,
    pub http5xx: f64,
    pub reset: f64,
    pub fail_first: u32,
    pub latency: Duration,
    pub jitter: Duration,
    pub seed: Option<u64>,
    /// How far the simulator's clock is ahead of the real one (negative: behind), to
    /// reproduce the gateway's 15-minute signature window.
    pub clock_offset_secs: i64,
    /// Seconds to announce in `Retry-After` on 429 (APIG documents none; some gateways do).
    pub retry_after: Option<u64>,
    /// Fraction of answers that are `CBC.0000` with an undocumented status (a lying gateway).
    pub bad_answer: f64,
    /// Answer every request with a 302 to this URL (a hijacked or misconfigured endpoint).
    pub redirect_to: Option<String>,
    /// Follow every answer's JSON with this many bytes of spaces (a server that never stops).
    pub huge_body: Option<u64>,
    /// Values registered since: answered `taken` whatever their usual truth (a lead who
    /// signed up between two nights).
    pub registered: Vec<String>,
}

/// One request as the simulator saw it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When the answer was sent, as time since the simulator started.
    pub at: Duration,
    /// When the request arrived (before any injected latency).
    pub arrived: Duration,
    pub kind: String,
    pub key: String,
    pub http_status: u16,
    /// The `error_code` answered (`RESET` for a cut connection).
    pub code: String,
}

/// What the simulator counted: every request, and the peak number in flight.
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    entries: Mutex<Vec<Entry>>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Stats {
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().expect("stats lock").clone()
    }
    pub fn peak_in_flight(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
    /// Time since the simulator started: the clock `Entry::arrived` is on.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
    /// Requests made for one key.
    pub fn requests_for(&self, key: &str) -> usize {
        self.entries().iter().filter(|e| e.key == key).count()
    }
    fn push(&self, arrived: Duration, kind: &str, key: &str, status: u16, code: &str) {
        let e = Entry {
            at: self.start.elapsed(),
            arrived,
            kind: kind.into(),
            key: key.into(),
            http_status: status,
            code: code.into(),
        };
        self.entries.lock().expect("stats lock").push(e);
    }
}

struct App {
    identity: Identity,
    faults: Faults,
    limiter: Option<DefaultDirectRateLimiter>,
    rng: Mutex<StdRng>,
    seen: Mutex<HashMap<String, u32>>,
    /// Consecutive bad signatures and, once over 5, when the AK was locked.
    bad_signatures: Mutex<(u32, Option<Instant>)>,
    stats: Arc<Stats>,
    ids: AtomicU64,
}

/// The simulator's routes and the stats they fill, to be served by [`Sandbox::start`] or
/// by a caller's own server (the tests serve it over TLS).
pub fn router(identity: Identity, faults: Faults) -> (Router, Arc<Stats>) {
    let limiter = (faults.throttle > 0.0).then(|| {
        let burst =
            NonZeroU32::new(faults.throttle.ceil().max(1.0) as u32).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs_f64(1.0 / faults.throttle).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        RateLimiter::direct(quota)
    });
    let stats = Arc::new(Stats {
        start: Instant::now(),
        entries: Mutex::new(Vec::new()),
        in_flight: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let rng = match faults.seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_os_rng(),
    };
    let app = Arc::new(App {
        identity,
        faults,
        limiter,
        rng: Mutex::new(rng),
        seen: Mutex::new(HashMap::new()),
        bad_signatures: Mutex::new((0, None)),
        stats: stats.clone(),
        ids: AtomicU64::new(1),
    });
    let router = Router::new()
        .route(
            "/v1.0/{partner}/partner/customer-mgr/check-user",
            post(handle),
        )
        .route(
            "/v2/partners/sub-customers/users/check-identity",
            post(handle),
        )
        .fallback(not_found)
        .with_state(app);
    (router, stats)
}

/// A running simulator.
pub struct Sandbox {
    pub addr: SocketAddr,
    pub identity: Identity,
    pub stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Sandbox {
    /// Binds 127.0.0.1:`port` (0 for any) and serves until dropped.
    pub async fn start(identity: Identity, faults: Faults, port: u16) -> Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| {
                format!("cannot listen on 127.0.0.1:{port} (is the port in use? try --port 0)")
            })?;
        let addr = listener.local_addr()?;
        let (router, stats) = router(identity.clone(), faults);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Sandbox {
            addr,
            identity,
            stats,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn not_found(State(app): State<Arc<App>>) -> Response {
    let resp = reply(
        StatusCode::NOT_FOUND,
        "APIG.0101",
        "The API does not exist or has not been published in the environment.",
        None,
    );
    app.stamp(resp)
}

fn reply(status: StatusCode, code: &str, msg: &str, extra: Option<Value>) -> Response {
    let mut body = json!({"error_code": code, "error_msg": msg});
    if let (Some(Value::Object(m)), Some(obj)) = (extra, body.as_object_mut()) {
        obj.extend(m);
    }
    (status, axum::Json(body)).into_response()
}

/// Decrements the in-flight count when the request ends, however it ends.
struct InFlight(Arc<Stats>);

impl InFlight {
    fn enter(stats: &Arc<Stats>) -> InFlight {
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(stats.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = app.stats.start.elapsed();
    let _guard = InFlight::enter(&app.stats);
    let (kind, key) = request_fields(uri.path(), &body);
    let delay = app.faults.latency + app.faults.jitter.mul_f64(app.roll());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut resp = app.decide(&method, &uri, &headers, &body, &kind, &key);
    let code = resp
        .headers()
        .get("x-sandbox-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    app.stats
        .push(arrived, &kind, &key, resp.status().as_u16(), &code);
    resp.headers_mut().remove("x-sandbox-code");
    if let Some(n) = app.faults.huge_body {
        resp = endless(resp, n).await;
    }
    app.stamp(resp)
}

/// The answer's body followed by `n` bytes of spaces, streamed: valid JSON that never ends.
async fn endless(resp: Response, n: u64) -> Response {
    let (parts, body) = resp.into_parts();
    let head = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    const CHUNK: usize = 64 * 1024;
    let spaces = Bytes::from(vec![b' '; CHUNK]);
    let tail = futures::stream::unfold(n, move |left| {
        let spaces = spaces.clone();
        async move {
            (left > 0).then(|| {
                let take = left.min(CHUNK as u64);
                (
                    Ok::<Bytes, std::io::Error>(spaces.slice(..take as usize)),
                    left - take,
                )
            })
        }
    });
    let stream = futures::StreamExt::chain(
        futures::stream::once(async move { Ok::<Bytes, std::io::Error>(head) }),
        tail,
    );
    let mut resp = Response::from_parts(parts, Body::from_stream(stream));
    resp.headers_mut().remove("content-length");
    resp
}

/// (type, key) of a request body of either version; empty when absent.
fn request_fields(path: &str, body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let (t, k) = if path.starts_with("/v2/") {
        ("search_type", "search_value")
    } else {
        ("searchType", "searchKey")
    };
    let s = |f: &str| v.get(f).and_then(Value::as_str).unwrap_or("").to_string();
    (s(t), s(k))
}

fn tagged(mut resp: Response, code: &str) -> Response {
    if let Ok(v) = code.parse() {
        resp.headers_mut().insert("x-sandbox-code", v);
    }
    resp
}

impl App {
    /// The gateway's headers: a request id that says the answer is simulated, and the date by
    /// the simulator's clock.
    fn stamp(&self, mut resp: Response) -> Response {
        let id = format!("SIMULATED-{:024x}", self.ids.fetch_add(1, Ordering::SeqCst));
        if let Ok(v) = id.parse() {
            resp.headers_mut().insert("x-request-id", v);
        }
        let date = httpdate::fmt_http_date(self.now().into());
        if let Ok(v) = date.parse() {
            resp.headers_mut().insert("date", v);
        }
        resp
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::TimeDelta::seconds(self.faults.clock_offset_secs)
    }

    fn roll(&self) -> f64 {
        self.rng.lock().expect("rng lock").random::<f64>()
    }

    fn decide(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        kind: &str,
        key: &str,
    ) -> Response {
        if let Some(to) = &self.faults.redirect_to {
            let resp = (StatusCode::FOUND, [("location", to.as_str())], "").into_response();
            return tagged(resp, "REDIRECT");
        }
        if let Some(refusal) = self.authenticate(method, uri, headers, body) {
            return refusal;
        }
        if let Some(l) = &self.limiter {
            if l.check().is_err() {
                let msg = format!(
                    "The throttling threshold has been reached: policy user over ratelimit,limit:{},time:1 second",
                    self.faults.throttle
                );
                let mut resp = reply(StatusCode::TOO_MANY_REQUESTS, "APIG.0308", &msg, None);
                if let Some(v) = self
                    .faults
                    .retry_after
                    .and_then(|s| s.to_string().parse().ok())
                {
                    resp.headers_mut().insert("retry-after", v);
                }
                return tagged(resp, "APIG.0308");
            }
        }
        if let Some(p) = uri
            .path()
            .strip_prefix("/v1.0/")
            .and_then(|r| r.split('/').next())
        {
            if p != self.identity.partner_id {
                let msg = "Access denied: the partner id does not belong to these credentials.";
                return tagged(
                    reply(StatusCode::FORBIDDEN, "CBC.0151", msg, None),
                    "CBC.0151",
                );
            }
        }
        if self.faults.fail_first > 0 {
            let mut seen = self.seen.lock().expect("seen lock");
            let n = seen.entry(format!("{kind}:{key}")).or_insert(0);
            *n += 1;
            if *n <= self.faults.fail_first {
                return transient();
            }
        }
        if let Some(resp) = self.random_fault() {
            return resp;
        }
        let Ok(check) = kind.parse::<CheckType>() else {
            return tagged(
                reply(
                    StatusCode::BAD_REQUEST,
                    "CBC.0100",
                    "Invalid parameter: search type.",
                    None,
                ),
                "CBC.0100",
            );
        };
        if let Err(why) = server_rules(check, key) {
            return tagged(
                reply(
                    StatusCode::BAD_REQUEST,
                    "CBC.0100",
                    &format!("Invalid parameter: {why}"),
                    None,
                ),
                "CBC.0100",
            );
        }
        if key == "sandbox-invalid@example.com" {
            return tagged(
                reply(
                    StatusCode::BAD_REQUEST,
                    "CBC.0100",
                    "Invalid parameter: searchKey.",
                    None,
                ),
                "CBC.0100",
            );
        }
        if key == "sandbox-rowerror@example.com" {
            return tagged(
                reply(
                    StatusCode::FORBIDDEN,
                    "CBC.0156",
                    "The customer does not belong to this site.",
                    None,
                ),
                "CBC.0156",
            );
        }
        if self.roll() < self.faults.bad_answer {
            return self.bad_answer();
        }
        let t = if self.faults.registered.iter().any(|r| r == key) {
            Truth::Taken
        } else {
            truth(kind, key)
        };
        let extra = if uri.path().starts_with("/v2/") {
            let mut m = json!({"check_result": if t == Truth::Free { "available" } else { "used_by_user" }});
            if check == CheckType::Mobile {
                m["mobile_remain_available_num"] = json!(if t == Truth::Uplimit { 0 } else { 3 });
            }
            m
        } else {
            let (status, uplimit) = t.v1();
            json!({"status": status, "uplimit": uplimit})
        };
        tagged(
            reply(StatusCode::OK, "CBC.0000", "success", Some(extra)),
            "CBC.0000",
        )
    }

    fn authenticate(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Response> {
        let denied = |msg: &str| {
            tagged(
                reply(StatusCode::UNAUTHORIZED, "APIG.0301", msg, None),
                "APIG.0301",
            )
        };
        if let Some(t) = headers.get("x-auth-token") {
            return if t.as_bytes() == self.identity.token.as_bytes() {
                None
            } else {
                Some(denied(
                    "Incorrect IAM authentication information: decrypt token fail",
                ))
            };
        }
        let mut bad = self.bad_signatures.lock().expect("lock");
        if let Some(since) = bad.1 {
            if since.elapsed() < Duration::from_secs(300) {
                return Some(denied("Incorrect IAM authentication information: AK access failed to reach the limit,forbidden"));
            }
            *bad = (0, None);
        }
        let secret = |ak: &str| (ak == self.identity.ak).then(|| self.identity.sk.clone());
        match verify::verify(method, uri, headers, body, self.now(), secret) {
            Ok(_) => {
                bad.0 = 0;
                None
            }
            Err(refusal) => {
                bad.0 += 1;
                if bad.0 > 5 {
                    bad.1 = Some(Instant::now());
                }
                let msg = match refusal {
                    verify::Refusal::UnknownAk => "Incorrect IAM authentication information: Get secretKey failed, ak not exist".to_string(),
                    verify::Refusal::Skewed => "Incorrect IAM authentication information: verify aksk signature fail, the request time is out of range".to_string(),
                    verify::Refusal::Malformed(why) => format!("Incorrect IAM authentication information: {why}"),
                    verify::Refusal::BadSignature => "Incorrect IAM authentication information: verify aksk signature fail".to_string(),
                };
                Some(denied(&msg))
            }
        }
    }

    /// `CBC.0000` with a status no documentation describes, in turn: each must be refused.
    fn bad_answer(&self) -> Response {
        let n = self.ids.load(Ordering::SeqCst) % 5;
        let (status, extra) = match n {
            0 => (StatusCode::OK, json!({"status": 2, "uplimit": "0"})),
            1 => (StatusCode::OK, json!({"status": "exists", "uplimit": "0"})),
            2 => (StatusCode::OK, json!({"status": null, "uplimit": "0"})),
            3 => (StatusCode::OK, json!({"uplimit": "0"})),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"status": "0", "uplimit": "0"}),
            ),
        };
        tagged(
            reply(status, "CBC.0000", "success", Some(extra)),
            "BAD_ANSWER",
        )
    }

    fn random_fault(&self) -> Option<Response> {
        let f = &self.faults;
        let r = self.roll();
        if r < f.reset {
            return Some(cut_connection());
        }
        if r < f.reset + f.http5xx {
            let status = [
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::GATEWAY_TIMEOUT,
            ][(self.roll() * 3.0) as usize % 3];
            let html = format!("<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center><hr><center>nginx</center></body></html>");
            let resp = (status, [("content-type", "text/html")], html).into_response();
            return Some(tagged(resp, "HTML"));
        }
        if r < f.reset + f.http5xx + f.transient {
            return Some(transient());
        }
        None
    }
}

fn transient() -> Response {
    tagged(
        reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CBC.0999",
            "Other errors.",
            None,
        ),
        "CBC.0999",
    )
}

/// A response whose body fails: the server drops the connection mid-answer.
fn cut_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("simulated reset"))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    if let Ok(v) = "RESET".parse() {
        resp.headers_mut().insert("x-sandbox-code", v);
    }
    resp
}

/// The API's documented input rules (its reference page: a key of 1 to 64 characters, an
/// account name's pattern, a mobile as `CCCC-NATIONAL`), checked on the server side.
fn server_rules(kind: CheckType, key: &str) -> Result<(), String> {
    if key.is_empty() || key.chars().count() > normalize::MAX_KEY_LEN {
        return Err("search key must have 1 to 64 characters".into());
    }
    let ok = match kind {
        CheckType::Email => key.contains('@'),
        CheckType::Mobile => {
            let (cc, nat) = key.split_once('-').unwrap_or(("", ""));
            cc.len() == 4
                && cc.bytes().all(|b| b.is_ascii_digit())
                && !nat.is_empty()
                && nat.bytes().all(|b| b.is_ascii_digit())
        }
        CheckType::Name => normalize::name(key).is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{kind} has the wrong format"))
    }
}
