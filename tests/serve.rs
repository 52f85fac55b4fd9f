//! `checkuser serve` from outside, as a browser or an integration reaches it: the real binary
//! on 127.0.0.1 port 0 against the simulator on port 0, over real HTTP. Every auth, CSRF,
//! origin, limit and bad-input rule of the contract; a job checked as `run` checks the same
//! file; jobs sharing the quota in turn; a restart mid-job asking nothing twice (requests
//! counted per key at the simulator); the callback of a finished job.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::common::*;

/// A running `checkuser serve`, and a client for it.
struct Server {
    child: Child,
    base: String,
    token: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

/// `serve` against `sim`, with its state in `fx`, and `extra` flags.
fn serve(sim: &Sim, fx: &Fixture, extra: &[&str]) -> Server {
    serve_on(sim, fx, fx.state().to_str().unwrap(), extra)
}

/// `serve` with the state store `state` (a file or a database URL).
fn serve_on(sim: &Sim, fx: &Fixture, state: &str, extra: &[&str]) -> Server {
    serve_at(sim, fx, state, "xdg", extra)
}

/// `serve` keeping its jobs' files under `xdg` (another folder: another server).
fn serve_at(sim: &Sim, fx: &Fixture, state: &str, xdg: &str, extra: &[&str]) -> Server {
    let id = &sim.sandbox.identity;
    let mut c = bin(fx.dir.path());
    c.env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .env("XDG_STATE_HOME", fx.path(xdg))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args([
            "--endpoint",
            &sim.sandbox.endpoint(),
            "--partner-id",
            &id.partner_id,
        ])
        .args(["--state", state])
        .args(["--backoff-base", "5ms", "--progress", "never"])
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    start(c)
}

/// Starts a server command and reads the URL it prints.
fn start(mut c: std::process::Command) -> Server {
    let mut child = c.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("serve ended before printing its URL")
            .unwrap();
        if let Some(rest) = line.strip_prefix("checkuser serve: open ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining its log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let (base, token) = match url.split_once("/?token=") {
        Some((b, t)) => (b.to_string(), t.to_string()),
        None => (url.trim_end_matches('/').to_string(), String::new()),
    };
    Server {
        child,
        base,
        token,
        rt: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

/// One multipart part: a field, or the file with its name.
enum Part<'a> {
    Field(&'a str, &'a str),
    File(&'a str, &'a [u8]),
}

fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = "checkuser-test-boundary-7f3a";
    let mut body = Vec::new();
    for p in parts {
        write!(body, "--{boundary}\r\n").unwrap();
        match p {
            Part::Field(name, value) => write!(
                body,
                "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .unwrap(),
            Part::File(name, bytes) => {
                write!(
                    body,
                    "Content-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .unwrap();
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            }
        }
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl Server {
    fn bearer(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {}", self.token)).unwrap(),
        );
        h
    }

    /// Sends a request; the status and the body (JSON when it is JSON, else a string).
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: HeaderMap,
        body: Option<(String, Vec<u8>)>,
    ) -> (u16, Value, HeaderMap) {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let mut req = self
                .http
                .request(method.parse().unwrap(), &url)
                .headers(headers);
            if let Some((kind, bytes)) = body {
                req = req.header("content-type", kind).body(bytes);
            }
            let r = req.send().await.unwrap();
            let (status, h) = (r.status().as_u16(), r.headers().clone());
            let bytes = r.bytes().await.unwrap();
            let v = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            (status, v, h)
        })
    }

    /// A download's bytes.
    fn bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let r = self
                .http
                .get(&url)
                .headers(self.bearer())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        })
    }

    fn get(&self, path: &str, headers: HeaderMap) -> (u16, Value) {
        let (s, v, _) = self.call("GET", path, headers, None);
        (s, v)
    }

    fn upload(&self, headers: HeaderMap, parts: &[Part]) -> (u16, Value) {
        let (s, v, _) = self.call("POST", "/api/jobs", headers, Some(multipart(parts)));
        (s, v)
    }

    /// Waits until the job's status is one of `until`; the job.
    fn wait_for(&self, id: &str, until: &[&str], limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let (s, job) = self.get(&format!("/api/jobs/{id}"), self.bearer());
            assert_eq!(s, 200, "{job}");
            if until.contains(&job["status"].as_str().unwrap()) {
                return job;
            }
            assert!(
                started.elapsed() < limit,
                "job still {} after {limit:?}: {job}",
                job["status"]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Logs in with the printed token: the session cookie and its CSRF token.
    fn session(&self) -> (String, String) {
        let (s, _, h) = self.call(
            "GET",
            &format!("/?token={}", self.token),
            HeaderMap::new(),
            None,
        );
        assert_eq!(s, 303);
        let cookie = h["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let pair = cookie.split(';').next().unwrap().to_string();
        let mut with = HeaderMap::new();
        with.insert("cookie", HeaderValue::from_str(&pair).unwrap());
        let (s, me) = self.get("/api/session", with);
        assert_eq!(s, 200, "{me}");
        (pair, me["csrf"].as_str().unwrap().to_string())
    }

    fn stop(mut self) {
        signal(&self.child, libc::SIGTERM);
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Server {
    /// Kills the server with SIGKILL: nothing of it runs after.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const JSON: &str = "application/json";

fn crm() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/crm-export.csv")).unwrap()
}

fn cookie_headers(cookie: &str, csrf: Option<&str>, origin: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("cookie", HeaderValue::from_str(cookie).unwrap());
    if let Some(t) = csrf {
        h.insert("x-csrf-token", HeaderValue::from_str(t).unwrap());
    }
    if let Some(o) = origin {
        h.insert("origin", HeaderValue::from_str(o).unwrap());
    }
    h
}

#[test]
fn without_a_session_or_token_every_page_and_call_is_refused() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve(&sim, &fx, &[]);
    let (status, job) = s.upload(s.bearer(), &[Part::File("a.csv", &crm())]);
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().unwrap();
    let mut wrong = HeaderMap::new();
    wrong.insert(
        "authorization",
        HeaderValue::from_static("Bearer not-the-token"),
    );
    for path in [
        "/".to_string(),
        "/api/jobs".into(),
        format!("/api/jobs/{id}"),
        format!("/api/jobs/{id}/result"),
        format!("/api/jobs/{id}/events"),
        "/api/session".into(),
    ] {
        let (status, body) = s.get(&path, HeaderMap::new());
        assert_eq!(status, 401, "{path}: {body}");
        assert!(
            !body.to_string().contains(id),
            "{path} leaks the job: {body}"
        );
        // A wrong token: refused, then (failed tries are limited) too many tries.
        let (status, body) = s.get(&path, wrong.clone());
        assert!(status == 401 || status == 429, "{path}: {status} {body}");
        assert!(
            !body.to_string().contains(id),
            "{path} leaks the job: {body}"
        );
    }
    let (status, _, h) = s.call(
        "POST",
        &format!("/api/jobs/{id}/start"),
        HeaderMap::new(),
        None,
    );
    assert_eq!(status, 401);
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // The credentials never appear in a page or an answer.
    let (_, page) = s.get("/", s.bearer());
    let (_, list) = s.get("/api/jobs", s.bearer());
    for text in [page.to_string(), list.to_string()] {
        assert!(!text.contains(&sim.sandbox.identity.sk), "the SK leaked");
        assert!(!text.contains(&sim.sandbox.identity.ak), "the AK leaked");
    }
}

#[test]
fn a_job_checks_the_list_as_run_does_and_asks_each_value_once() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve(&sim, &fx, &["--rate", "50"]);
    let (status, job) = s.upload(
        s.bearer(),
        &[
            Part::File("crm-export.csv", &crm()),
            Part::Field("start", "true"),
        ],
    );
    assert_eq!(status, 201, "{job}");
    let checks: Vec<String> = job["settings"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        checks,
        ["email=E-Mail", "mobile=Phone", "name=Wished account"],
        "{job}"
    );
    assert_eq!(job["plan"]["to_ask"], 19, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    let done = s.wait_for(&id, &["done", "failed"], Duration::from_secs(60));
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["summary"]["job_id"], id.as_str());
    // Named as the person knows them, not by the server's paths.
    assert_eq!(done["summary"]["input"], "crm-export.csv");
    assert_eq!(done["summary"]["output"], "crm-export.checked.csv");
    // The job asked each value once.
    let asked = sim.sandbox.stats.entries();
    assert_eq!(asked.len(), 19);
    for e in &asked {
        assert_eq!(sim.sandbox.stats.requests_for(&e.key), 1, "{}", e.key);
    }
    let (status, result, h) = s.call("GET", &format!("/api/jobs/{id}/result"), s.bearer(), None);
    assert_eq!(status, 200);
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(
        disposition.contains("crm-export.checked.csv"),
        "{disposition}"
    );
    let served = fx.file("served.csv", result.as_str().unwrap());
    // The same result as a workbook, and the changes in both kinds.
    let (status, book) = s.bytes(&format!("/api/jobs/{id}/result?format=xlsx"));
    assert_eq!(status, 200);
    let book_path = fx.file("served.xlsx", &book);
    use calamine::Reader;
    let mut wb = calamine::open_workbook_auto(&book_path).unwrap();
    let sheet = wb.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(sheet.height(), 11, "the header and 10 rows");
    for format in ["csv", "xlsx"] {
        let (status, _) = s.bytes(&format!("/api/jobs/{id}/changes?format={format}"));
        assert_eq!(status, 200, "changes as {format}");
    }
    let (status, _) = s.bytes(&format!("/api/jobs/{id}/result?format=pdf"));
    assert_eq!(status, 400);
    // The same file through `run`, against the same simulator with a store of its own.
    let other = Fixture::new();
    let input = other.file("crm.csv", crm());
    let output = other.path("run.csv");
    let mut flags = vec!["-o", output.to_str().unwrap()];
    for c in &checks {
        flags.extend(["--check", c.as_str()]);
    }
    sim.run_expect(&other, &input, &flags, 0);
    let (h1, r1) = read_csv(&served, b';');
    let (h2, r2) = read_csv(&output, b';');
    assert_eq!(h1, h2);
    for col in [
        "email_result",
        "mobile_result",
        "name_result",
        "email_checked_key",
    ] {
        assert_eq!(column(&h1, &r1, col), column(&h2, &r2, col), "{col}");
    }
    s.stop();
}

#[test]
fn a_cookie_session_needs_the_csrf_token_and_its_own_origin() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve(&sim, &fx, &[]);
    let (cookie, csrf) = s.session();
    let file = [Part::File("crm.csv", &crm())];
    let (status, body) = s.upload(cookie_headers(&cookie, None, None), &file);
    assert_eq!(status, 403, "no CSRF token: {body}");
    let (status, body) = s.upload(cookie_headers(&cookie, Some("wrong"), None), &file);
    assert_eq!(status, 403, "a wrong CSRF token: {body}");
    let (status, body) = s.upload(
        cookie_headers(&cookie, Some(&csrf), Some("https://evil.example")),
        &file,
    );
    assert_eq!(status, 403, "another origin: {body}");
    let (status, body) = s.upload(cookie_headers(&cookie, Some(&csrf), Some(&s.base)), &file);
    assert_eq!(status, 201, "the page itself: {body}");
    let id = body["id"].as_str().unwrap();
    let (status, _, _) = s.call(
        "DELETE",
        &format!("/api/jobs/{id}"),
        cookie_headers(&cookie, None, None),
        None,
    );
    assert_eq!(status, 403, "a delete without the token");
    let (status, _, _) = s.call(
        "DELETE",
        &format!("/api/jobs/{id}"),
        cookie_headers(&cookie, Some(&csrf), None),
        None,
    );
    assert_eq!(status, 204);
    let (status, _) = s.get(&format!("/api/jobs/{id}"), s.bearer());
    assert_eq!(status, 404, "deleted");
    // The job's folder is gone too.
    let jobs = fx.path("xdg/checkuser/jobs");
    assert!(!jobs.join(id).exists());
}

#[test]
fn bad_uploads_end_as_messages_and_the_server_keeps_serving() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve(&sim, &fx, &["--max-upload", "2KB", "--max-jobs", "3"]);
    let big = vec![b'a'; 5000];
    let (status, body) = s.upload(s.bearer(), &[Part::File("big.csv", &big)]);
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("--max-upload"),
        "{body}"
    );
    // Not a list: random bytes named .xlsx, and a zip that is no workbook.
    let mut zip = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
        w.start_file("x.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(&[b'0'; 1000]).unwrap();
        w.finish().unwrap();
    }
    for (name, bytes) in [("a.xlsx", &b"\x00\x01garbage"[..]), ("b.xlsx", &zip[..])] {
        let (status, job) = s.upload(s.bearer(), &[Part::File(name, bytes)]);
        assert_eq!(status, 201, "{job}");
        assert_eq!(job["status"], "failed", "{job}");
        assert!(!job["error"].as_str().unwrap().is_empty(), "{job}");
    }
    // A mapping naming a column the list does not have.
    let (status, job) = s.upload(
        s.bearer(),
        &[
            Part::File("crm.csv", &crm()),
            Part::Field("check", "email=Nope"),
        ],
    );
    assert_eq!(status, 201);
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("Nope"), "{job}");
    // Changed to a good one, it plans; changed to a bad one, the message comes back.
    let id = job["id"].as_str().unwrap();
    let good = serde_json::json!({"checks": ["email=E-Mail"]}).to_string();
    let (status, job, _) = s.call(
        "POST",
        &format!("/api/jobs/{id}/mapping"),
        s.bearer(),
        Some((JSON.into(), good.into_bytes())),
    );
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "planned");
    let bad = serde_json::json!({"checks": ["fax=E-Mail"]}).to_string();
    let (status, body, _) = s.call(
        "POST",
        &format!("/api/jobs/{id}/mapping"),
        s.bearer(),
        Some((JSON.into(), bad.into_bytes())),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("fax"), "{body}");
    // No file at all, and a header row that is not a number.
    let (status, body) = s.upload(s.bearer(), &[Part::Field("start", "true")]);
    assert_eq!(status, 400, "{body}");
    let (status, body) = s.upload(
        s.bearer(),
        &[Part::File("c.csv", &crm()), Part::Field("header_row", "x")],
    );
    assert_eq!(status, 400, "{body}");
    // --max-jobs: planned jobs count.
    for _ in 0..3 {
        s.upload(s.bearer(), &[Part::File("crm.csv", &crm())]);
    }
    let (status, body) = s.upload(s.bearer(), &[Part::File("crm.csv", &crm())]);
    assert_eq!(status, 429, "{body}");
    let (status, _) = s.get("/api/jobs", s.bearer());
    assert_eq!(status, 200, "still serving");
}

fn add_user(fx: &Fixture, users: &Path, name: &str, password: &str) {
    let mut c = bin(fx.dir.path());
    c.args(["serve", "--add-user", name, "--users"]).arg(users);
    let mut child = c
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}\n{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn basic(name: &str, password: &str) -> HeaderMap {
    use std::fmt::Write as _;
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{name}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| acc << 8 | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            let _ = out.write_char(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_str(&format!("Basic {out}")).unwrap(),
    );
    h
}

#[test]
fn named_users_see_only_their_own_jobs_and_failed_logins_are_limited() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let users = fx.path("users");
    add_user(&fx, &users, "alice", "correct horse");
    add_user(&fx, &users, "bob", "battery staple");
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(
        text.contains("alice:$argon2id$") && !text.contains("horse"),
        "{text}"
    );
    let s = serve(&sim, &fx, &["--users", users.to_str().unwrap()]);
    assert!(s.token.is_empty(), "no token with --users");
    let (status, job) = s.upload(
        basic("alice", "correct horse"),
        &[Part::File("a.csv", &crm())],
    );
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_str().unwrap();
    let (status, _) = s.get(&format!("/api/jobs/{id}"), basic("bob", "battery staple"));
    assert_eq!(status, 404, "bob sees no job of alice's");
    let (_, list) = s.get("/api/jobs", basic("bob", "battery staple"));
    assert_eq!(list["jobs"].as_array().unwrap().len(), 0, "{list}");
    let (status, _, _) = s.call(
        "DELETE",
        &format!("/api/jobs/{id}"),
        basic("bob", "battery staple"),
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = s.get("/api/jobs", basic("alice", "wrong"));
    assert_eq!(status, 401);
    let mut last = 0;
    for _ in 0..8 {
        last = s.get("/api/jobs", basic("alice", "wrong")).0;
    }
    assert_eq!(last, 429, "failed logins are limited");
    // The login form in a browser.
    let form = (
        "application/x-www-form-urlencoded".to_string(),
        b"name=bob&password=nope".to_vec(),
    );
    let (status, _, h) = s.call("POST", "/login", HeaderMap::new(), Some(form));
    assert!(status == 401 || status == 429, "{status}");
    assert!(
        h["content-type"].to_str().unwrap().starts_with("text/html"),
        "the login page again"
    );
    assert!(
        !h.contains_key("set-cookie"),
        "no session for a wrong password"
    );
}

#[test]
fn off_loopback_the_server_needs_users() {
    let fx = Fixture::new();
    let out = bin(fx.dir.path())
        .env("XDG_STATE_HOME", fx.path("xdg"))
        .args(["serve", "--sandbox", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--users"), "{}", stderr(&out));
}

#[test]
fn a_small_job_is_not_queued_behind_a_big_one() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve(&sim, &fx, &["--rate", "10"]);
    let big = email_csv(&emails(150));
    let (_, bigjob) = s.upload(
        s.bearer(),
        &[
            Part::File("big.csv", big.as_bytes()),
            Part::Field("start", "true"),
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let small: Vec<String> = (0..5).map(|i| format!("small{i}@example.org")).collect();
    let (_, smalljob) = s.upload(
        s.bearer(),
        &[
            Part::File("small.csv", email_csv(&small).as_bytes()),
            Part::Field("start", "true"),
        ],
    );
    let small_done = s.wait_for(
        smalljob["id"].as_str().unwrap(),
        &["done", "failed"],
        Duration::from_secs(60),
    );
    assert_eq!(small_done["status"], "done", "{small_done}");
    let (_, big_now) = s.get(
        &format!("/api/jobs/{}", bigjob["id"].as_str().unwrap()),
        s.bearer(),
    );
    assert_eq!(
        big_now["status"], "running",
        "the small job ended first: {big_now}"
    );
    // And the two together never went over the one rate.
    let peak = crate::teams::peak_per_second(&sim);
    assert!(peak <= 12, "{peak} requests in one second at --rate 10");
}

#[test]
fn a_restarted_server_goes_on_with_a_running_job_asking_nothing_twice() {
    restarted_mid_job(Server::stop, 0);
}

/// Killed with -9 mid-job: the job goes on at the next start; only the values in flight when
/// it died (at most --concurrency, 4) may be asked again.
#[test]
fn a_server_killed_mid_job_goes_on_at_its_next_start() {
    restarted_mid_job(Server::kill, 4);
}

/// A server stopped by `stop` mid-job, started again: the job ends, every key asked once
/// (`twice` at most asked twice), the result complete.
fn restarted_mid_job(stop: fn(Server), twice: usize) {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let keys = emails(40);
    let s = serve(&sim, &fx, &["--rate", "8"]);
    let (_, job) = s.upload(
        s.bearer(),
        &[
            Part::File("leads.csv", email_csv(&keys).as_bytes()),
            Part::Field("start", "true"),
        ],
    );
    let id = job["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    while sim.requests() < 12 {
        assert!(started.elapsed() < Duration::from_secs(30), "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop(s);
    let asked_before = sim.requests();
    assert!(
        asked_before < keys.len(),
        "the job had not finished: {asked_before}"
    );
    let s = serve(&sim, &fx, &["--rate", "8"]);
    let done = s.wait_for(&id, &["done", "failed"], Duration::from_secs(60));
    assert_eq!(done["status"], "done", "{done}");
    let mut asked_twice = 0;
    for k in &keys {
        let n = sim.sandbox.stats.requests_for(k);
        assert!((1..=2).contains(&n), "{k} asked {n} times");
        asked_twice += usize::from(n == 2);
    }
    assert!(asked_twice <= twice, "{asked_twice} keys asked twice");
    let (_, result, _) = s.call("GET", &format!("/api/jobs/{id}/result"), s.bearer(), None);
    let out = fx.file("out.csv", result.as_str().unwrap());
    assert_true_answers(&out, "email", &keys);
}

#[test]
fn a_finished_job_is_told_to_the_servers_notify_url_with_its_id() {
    let (receiver, seen, _rt) = crate::notify::receiver();
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let mut c = bin(fx.dir.path());
    let id = &sim.sandbox.identity;
    c.env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .env("XDG_STATE_HOME", fx.path("xdg"))
        .env("CHECKUSER_NOTIFY_SECRET", "serve-secret-42")
        .args(["serve", "--listen", "127.0.0.1:0", "--progress", "never"])
        .args([
            "--endpoint",
            &sim.sandbox.endpoint(),
            "--partner-id",
            &id.partner_id,
        ])
        .arg("--state")
        .arg(fx.state())
        .args(["--notify-url", &format!("{receiver}/done")])
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let s = start(c);
    let (_, job) = s.upload(
        s.bearer(),
        &[Part::File("crm.csv", &crm()), Part::Field("start", "true")],
    );
    let job_id = job["id"].as_str().unwrap();
    s.wait_for(job_id, &["done"], Duration::from_secs(60));
    let started = Instant::now();
    while seen.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "never told");
        std::thread::sleep(Duration::from_millis(50));
    }
    let seen = seen.lock().unwrap();
    let (path, headers, body) = &seen[0];
    assert_eq!(path, "/done");
    let summary: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(summary["job_id"], job_id, "{summary}");
    assert_eq!(summary["rows"], 10, "{summary}");
    assert!(headers["x-checkuser-signature"]
        .to_str()
        .unwrap()
        .starts_with("sha256="));
}

#[test]
fn a_cancelled_job_stops_sending_and_its_events_end() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve(&sim, &fx, &["--rate", "4"]);
    let keys = emails(60);
    let (_, job) = s.upload(
        s.bearer(),
        &[
            Part::File("slow.csv", email_csv(&keys).as_bytes()),
            Part::Field("start", "true"),
        ],
    );
    let id = job["id"].as_str().unwrap().to_string();
    while sim.requests() < 3 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, job, _) = s.call("POST", &format!("/api/jobs/{id}/cancel"), s.bearer(), None);
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "cancelled", "{job}");
    let asked = sim.requests();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(sim.requests() <= asked + 1, "still sending after cancel");
    // The events of a cancelled job: its state, then the end.
    let (status, events) = s.get(&format!("/api/jobs/{id}/events"), s.bearer());
    assert_eq!(status, 200);
    let text = events.as_str().unwrap();
    assert!(
        text.contains("event: end") && text.contains("\"cancelled\""),
        "{text}"
    );
    // What was answered before the cancel is downloadable; the rest says pending.
    let (status, result, _) = s.call("GET", &format!("/api/jobs/{id}/result"), s.bearer(), None);
    assert_eq!(status, 200);
    let out = fx.file("cancelled.csv", result.as_str().unwrap());
    let (h, rows) = read_csv(&out, b',');
    assert_eq!(rows.len(), keys.len(), "every row is written");
    assert!(column(&h, &rows, "result").iter().any(|r| r == "pending"));
    // A running job deleted: off the list at once, its folder gone once its run stopped.
    let (_, job) = s.upload(
        s.bearer(),
        &[
            Part::File("other.csv", email_csv(&emails(80)).as_bytes()),
            Part::Field("start", "true"),
        ],
    );
    let other = job["id"].as_str().unwrap().to_string();
    let before = sim.requests();
    while sim.requests() < before + 2 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _, _) = s.call("DELETE", &format!("/api/jobs/{other}"), s.bearer(), None);
    assert_eq!(status, 204);
    let (status, _) = s.get(&format!("/api/jobs/{other}"), s.bearer());
    assert_eq!(status, 404, "deleted at once");
    let (_, list) = s.get("/api/jobs", s.bearer());
    assert!(!list.to_string().contains(&other), "{list}");
    let folder = fx.path("xdg/checkuser/jobs").join(&other);
    let started = Instant::now();
    while folder.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the folder stays"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With a PostgreSQL store, a server's jobs are members of the team: they share the one quota
/// with every `run` of the team and ask each key once between them.
#[test]
fn jobs_on_a_team_database_share_the_quota_with_runs_and_ask_each_key_once() {
    let Some(db) = crate::pg::Cluster::start() else {
        return;
    };
    let url = db.database();
    let sim = Sim::start(crate::teams::gateway());
    let fx = Fixture::new();
    let keys = emails(30);
    let s = serve_on(&sim, &fx, &url, &[]);
    let lists = [keys[0..15].to_vec(), keys[8..23].to_vec()];
    let ids: Vec<String> = lists
        .iter()
        .enumerate()
        .map(|(i, list)| {
            let file = email_csv(list);
            let (status, job) = s.upload(
                s.bearer(),
                &[
                    Part::File(&format!("l{i}.csv"), file.as_bytes()),
                    Part::Field("start", "true"),
                ],
            );
            assert_eq!(status, 201, "{job}");
            job["id"].as_str().unwrap().to_string()
        })
        .collect();
    let run_list = [&keys[15..30]].concat();
    let input = fx.file("run.csv", email_csv(&run_list));
    let out = fx.path("run.checked.csv");
    let run = crate::teams::spawn(crate::teams::team_cmd(&sim, &fx, &input, &url, &out));
    for id in &ids {
        let job = s.wait_for(id, &["done", "failed"], Duration::from_secs(90));
        assert_eq!(job["status"], "done", "{job}");
    }
    let o = run.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_true_answers(&out, "email", &run_list);
    for k in &keys {
        assert_eq!(
            sim.sandbox.stats.requests_for(k),
            1,
            "{k} asked once in all"
        );
    }
    assert_eq!(crate::teams::throttled(&sim), 0, "no 429 at the gateway");
    jobs_are_listed_by_every_server_of_the_team(&sim, &fx, &url, &ids);
}

/// The jobs live in the team's database: another server lists them, and says which server
/// keeps their files instead of changing or serving them.
fn jobs_are_listed_by_every_server_of_the_team(sim: &Sim, fx: &Fixture, url: &str, ids: &[String]) {
    let other = serve_at(sim, fx, url, "xdg-other", &[]);
    let (status, list) = other.get("/api/jobs", other.bearer());
    assert_eq!(status, 200, "{list}");
    let listed: Vec<&str> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    for id in ids {
        assert!(listed.contains(&id.as_str()), "{id} not listed: {list}");
    }
    let (status, job) = other.get(&format!("/api/jobs/{}", ids[0]), other.bearer());
    assert_eq!(
        (status, &job["status"]),
        (200, &Value::from("done")),
        "{job}"
    );
    let (status, why) = other.get(&format!("/api/jobs/{}/result", ids[0]), other.bearer());
    assert_eq!(status, 409, "{why}");
    assert!(why.to_string().contains("kept by the server on"), "{why}");
    let (status, _, _) = other.call(
        "DELETE",
        &format!("/api/jobs/{}", ids[0]),
        other.bearer(),
        None,
    );
    assert_eq!(status, 409, "another server's job deleted from here");
}

/// On a file store one process works at a time: an idle server holds no lock (the nightly run
/// is not refused), and a job started while a run holds it waits, queued, then reuses the
/// run's answers.
#[test]
fn on_a_file_store_the_page_and_a_run_take_turns() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve(&sim, &fx, &["--rate", "20"]);
    let keys = emails(12);
    let input = fx.file("night.csv", email_csv(&keys[..8]));
    sim.run_expect(&fx, &input, &["--rate", "20"], 0);
    let slow = fx.file("slow.csv", email_csv(&keys));
    let mut run = sim
        .run_cmd(&fx, &slow, &["--rate", "2", "--refresh"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let before = sim.requests();
    while sim.requests() == before {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, job) = s.upload(
        s.bearer(),
        &[
            Part::File("page.csv", email_csv(&keys).as_bytes()),
            Part::Field("start", "true"),
        ],
    );
    let id = job["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(1500));
    let (_, waiting) = s.get(&format!("/api/jobs/{id}"), s.bearer());
    assert_eq!(waiting["status"], "queued", "waits for the run: {waiting}");
    assert!(run.wait().unwrap().success());
    let done = s.wait_for(&id, &["done", "failed"], Duration::from_secs(60));
    assert_eq!(done["status"], "done", "{done}");
    // The run asked every key (--refresh) once more; the job asked nothing.
    for k in &keys {
        let expected = if keys[..8].contains(k) { 2 } else { 1 };
        assert_eq!(sim.sandbox.stats.requests_for(k), expected, "{k}");
    }
}

/// A Start and a mapping change sent at once (a double click, a client's retry): one acts
/// first, the other sees its result; the job runs once, asks each key once, and a cancel
/// stops it.
#[test]
fn a_start_and_a_mapping_change_sent_together_run_the_job_once() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve(&sim, &fx, &["--rate", "40"]);
    let list = "Id,Mail,Other\n".to_string()
        + &(0..30)
            .map(|i| format!("{i},m{i}@example.com,o{i}@example.net\n"))
            .collect::<String>();
    for round in 0..8 {
        let (_, job) = s.upload(
            s.bearer(),
            &[
                Part::File("race.csv", list.as_bytes()),
                Part::Field("check", "email=Mail"),
            ],
        );
        let id = job["id"].as_str().unwrap().to_string();
        let url = |p: &str| format!("{}/api/jobs/{id}{p}", s.base);
        let mapping = serde_json::json!({"checks": ["email=Other"]}).to_string();
        let (a, b) = s.rt.block_on(async {
            let start = s.http.post(url("/start")).headers(s.bearer()).send();
            let map = s
                .http
                .post(url("/mapping"))
                .headers(s.bearer())
                .header("content-type", JSON)
                .body(mapping)
                .send();
            let (a, b) = tokio::join!(start, map);
            (a.unwrap().status().as_u16(), b.unwrap().status().as_u16())
        });
        assert!(a == 202, "round {round}: start {a}");
        assert!(b == 200 || b == 409, "round {round}: mapping {b}");
        let (again, _, _) = s.call("POST", &format!("/api/jobs/{id}/start"), s.bearer(), None);
        assert_eq!(again, 409, "round {round}: started twice");
        let done = s.wait_for(&id, &["done"], Duration::from_secs(60));
        // The mapping the run used is the one on record.
        let column = done["checks"][0]["column"].as_str().unwrap().to_string();
        assert_eq!(done["summary"]["checks"], 30, "{done}");
        let asked = if column == "Other" { "o" } else { "m" };
        assert!(
            sim.sandbox
                .stats
                .entries()
                .iter()
                .any(|e| e.key.starts_with(asked)),
            "round {round}"
        );
    }
    for e in sim.sandbox.stats.entries() {
        assert_eq!(
            sim.sandbox.stats.requests_for(&e.key),
            1,
            "{} asked twice",
            e.key
        );
    }
}

/// What the adversarial review found, each closed: nothing answered before authentication,
/// JSON errors everywhere, uploads sent together held to --max-jobs, owner-only job folders
/// whatever the umask, no server path in a message, a header row 0 refused by the mapping,
/// a job deleted while watched ends its stream with `end`.
#[test]
fn the_review_cases_hold() {
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve(&sim, &fx, &["--max-jobs", "3", "--rate", "2"]);
    let plain = ("text/plain".to_string(), b"hello".to_vec());
    let (status, body, _) = s.call("POST", "/api/jobs", HeaderMap::new(), Some(plain.clone()));
    assert_eq!(status, 401, "{body}");
    let (status, body) = s.get("/api/jobs/abc/result?format=a&format=b", HeaderMap::new());
    assert_eq!(status, 401, "{body}");
    let (status, body) = s.get("/api/nothing", HeaderMap::new());
    assert_eq!(status, 401, "{body}");
    let (status, body) = s.get("/api/nothing", s.bearer());
    assert_eq!(status, 404);
    assert!(body["error"].is_string(), "{body}");
    let (status, body, _) = s.call("POST", "/api/jobs", s.bearer(), Some(plain));
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("multipart"),
        "{body}"
    );
    // Ten uploads at once against --max-jobs 3.
    let created = s.rt.block_on(async {
        let sends = (0..10).map(|_| {
            let (kind, bytes) = multipart(&[Part::File("crm.csv", &crm())]);
            s.http
                .post(format!("{}/api/jobs", s.base))
                .headers(s.bearer())
                .header("content-type", kind)
                .body(bytes)
                .send()
        });
        futures::future::join_all(sends).await
    });
    let statuses: Vec<u16> = created
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        3,
        "{statuses:?}"
    );
    let (_, list) = s.get("/api/jobs", s.bearer());
    let jobs = list["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 3, "{list}");
    // Owner-only, whatever the umask (the tests run under 022).
    use std::os::unix::fs::PermissionsExt;
    let id = jobs[0]["id"].as_str().unwrap();
    let folder = fx.path("xdg/checkuser/jobs").join(id);
    assert_eq!(
        std::fs::metadata(&folder).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let input = folder.join("input.csv");
    assert_eq!(
        std::fs::metadata(&input).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A mapping with header row 0, and one past the end: refused in the person's words.
    let zero = serde_json::json!({"checks": ["email=E-Mail"], "header_row": 0}).to_string();
    let (status, body, _) = s.call(
        "POST",
        &format!("/api/jobs/{id}/mapping"),
        s.bearer(),
        Some((JSON.into(), zero.into_bytes())),
    );
    assert_eq!(status, 400, "{body}");
    let far = serde_json::json!({"checks": ["email=E-Mail"], "header_row": 500}).to_string();
    let (status, body, _) = s.call(
        "POST",
        &format!("/api/jobs/{id}/mapping"),
        s.bearer(),
        Some((JSON.into(), far.into_bytes())),
    );
    assert_eq!(status, 400, "{body}");
    let why = body["error"].as_str().unwrap();
    assert!(
        why.contains("crm.csv") && !why.contains("/jobs/") && !why.contains("input.csv"),
        "{why}"
    );
    // A job deleted while its events are watched: the stream ends with `end`.
    let (status, _, _) = s.call("POST", &format!("/api/jobs/{id}/start"), s.bearer(), None);
    assert_eq!(status, 202);
    let (base, token, watched) = (s.base.clone(), s.token.clone(), id.to_string());
    let stream = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = reqwest::Client::new()
                .get(format!("{base}/api/jobs/{watched}/events"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            r.text().await.unwrap()
        })
    });
    std::thread::sleep(Duration::from_millis(800));
    let (status, _, _) = s.call("DELETE", &format!("/api/jobs/{id}"), s.bearer(), None);
    assert_eq!(status, 204);
    let text = stream.join().unwrap();
    assert!(
        text.contains("event: end") && text.contains("\"deleted\""),
        "{text}"
    );
}

/// The team's database away for a moment: the page says so (503), never an empty list as if
/// the jobs were gone, the server keeps serving, and the jobs are back with the database.
#[test]
fn the_database_away_answers_503_and_the_jobs_come_back_with_it() {
    let Some(db) = crate::pg::Cluster::restartable() else {
        return;
    };
    let url = db.database();
    let (sim, fx) = (Sim::start(no_faults()), Fixture::new());
    let s = serve_on(&sim, &fx, &url, &[]);
    let (status, job) = s.upload(s.bearer(), &[Part::File("crm.csv", &crm())]);
    assert_eq!(status, 201, "{job}");
    db.down();
    let (status, body) = s.get("/api/jobs", s.bearer());
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("state store"),
        "{body}"
    );
    assert!(
        !body.to_string().contains(&url),
        "the URL in an answer: {body}"
    );
    db.up();
    let started = Instant::now();
    loop {
        let (status, list) = s.get("/api/jobs", s.bearer());
        if status == 200 {
            assert_eq!(list["jobs"][0]["id"], job["id"], "{list}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{status} {list}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
