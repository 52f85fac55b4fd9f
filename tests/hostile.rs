//! Hostile servers, odd files and signals: each test reproduces a way trust broke before
//! (a redirect that carried credentials, a pipe read twice, /dev/null replaced, a server that
//! never stops talking, a gateway that lies), against the real binary and the simulator.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use checkuser::sandbox::Faults;

#[test]
fn redirects_are_never_followed_and_credentials_stay_home() {
    // The place the redirect points to: a second simulator that counts what reaches it.
    let elsewhere = Sim::start(no_faults());
    let sim = Sim::start(Faults {
        redirect_to: Some(format!(
            "{}/v1.0/{}/partner/customer-mgr/check-user",
            elsewhere.sandbox.endpoint(),
            elsewhere.sandbox.identity.partner_id
        )),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    sim.run_expect(&fx, &input, &[], 1);
    assert_eq!(
        elsewhere.requests(),
        0,
        "nothing may reach the redirect target"
    );
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    for (r, msg) in column(&h, &rows, "result")
        .iter()
        .zip(column(&h, &rows, "error_msg"))
    {
        assert_eq!(r, "error");
        assert!(
            msg.contains("redirect to http://127.0.0.1") && msg.contains("never followed"),
            "{msg}"
        );
    }
    assert_eq!(column(&h, &rows, "http_status")[0], "302");
}

#[test]
fn undocumented_answers_are_errors_and_never_stored() {
    let sim = Sim::start(Faults {
        bad_answer: 1.0,
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(5);
    let input = fx.file("in.csv", email_csv(&keys));
    sim.run_expect(&fx, &input, &["--concurrency", "1"], 1);
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert!(column(&h, &rows, "result").iter().all(|r| r == "error"));
    assert!(column(&h, &rows, "error_code")
        .iter()
        .all(|c| c == "BAD_ANSWER"));
    // Not stored: a second run asks again instead of reusing a guess.
    let before = sim.requests();
    sim.run_expect(&fx, &input, &[], 1);
    assert_eq!(sim.requests() - before, keys.len());
}

#[test]
fn a_server_that_never_stops_talking_costs_one_small_buffer() {
    let sim = Sim::start(Faults {
        huge_body: Some(200 * 1024 * 1024),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let started = Instant::now();
    sim.run_expect(&fx, &input, &[], 1);
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(column(&h, &rows, "result")[0], "error");
    assert!(column(&h, &rows, "error_msg")[0].contains("longer than 64 KiB"));
    // Reading 200 MB would take far longer than reading 64 KiB and stopping.
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn endless_throttling_stops_the_run_as_quota_exhausted() {
    let sim = Sim::start(Faults {
        throttle: 0.01,
        retry_after: Some(100_000),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(6)));
    let started = Instant::now();
    let out = sim.run_expect(&fx, &input, &["--max-throttle-wait", "2s"], 2);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let s = fx.summary();
    assert_eq!(s["stopped_reason"], "circuit_open");
    assert!(stderr(&out).contains("quota for this partner looks exhausted"));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(rows.len(), 6, "every row is written");
    assert!(column(&h, &rows, "result")
        .iter()
        .skip(1)
        .all(|r| r == "pending"));
}

#[test]
fn a_fifo_input_is_read_once_with_the_progress_bar_on() {
    let fx = Fixture::new();
    let fifo = fx.path("in.fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let keys = emails(5000);
    let body = email_csv(&keys);
    let writer_path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(writer_path, body).unwrap());
    let out = bin(fx.dir.path())
        .arg("run")
        .arg(&fifo)
        .args([
            "--sandbox",
            "--throttle",
            "0",
            "--rate",
            "5000",
            "--concurrency",
            "16",
        ])
        .args(["--progress", "always", "-o"])
        .arg(fx.path("out.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    writer.join().unwrap();
    let (_, rows) = read_csv(&fx.path("out.csv"), b',');
    assert_eq!(rows.len(), keys.len(), "no row lost from a FIFO");
}

#[test]
fn dev_null_and_fifos_are_written_through_never_replaced() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let out = run(
        fx.dir.path(),
        &["validate", input.to_str().unwrap(), "-o", "/dev/null"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let meta = std::fs::metadata("/dev/null").unwrap();
    assert!(
        meta.file_type().is_char_device(),
        "/dev/null is still a device"
    );
    // A FIFO as output: written through to its reader.
    let fifo = fx.path("out.fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read_to_string(reader_path).unwrap());
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            fifo.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = reader.join().unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn outputs_that_name_the_input_are_refused_before_anything_happens() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let original = std::fs::read(&input).unwrap();
    for args in [
        vec!["--summary-json", input.to_str().unwrap()],
        vec!["-o", input.to_str().unwrap()],
    ] {
        let mut all = vec!["validate", input.to_str().unwrap()];
        all.extend(args);
        let out = run(fx.dir.path(), &all);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("is the input file itself"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read(&input).unwrap(),
            original,
            "the lead list is intact"
        );
    }
}

#[test]
fn flags_out_of_range_are_usage_errors_not_panics() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let i = input.to_str().unwrap();
    for args in [
        vec!["run", i, "--sandbox", "--rate", "1e10"],
        vec!["run", i, "--sandbox", "--rate", "NaN"],
        vec!["run", i, "--sandbox", "--throttle", "1e10"],
        vec!["run", i, "--sandbox", "--throttle", "1e-20"],
        vec!["sandbox", "--throttle", "1e-300", "--port", "0"],
        vec!["run", i, "--sandbox", "--concurrency", "0"],
        vec!["run", i, "--sandbox", "--timeout", "584000000000y"],
        vec!["run", i, "--sandbox", "--max-age", "99999999999d"],
        vec!["sandbox", "--throttle", "1e10", "--port", "0"],
        vec!["sandbox", "--fault-5xx", "2", "--port", "0"],
        vec!["state", "prune", "--older-than", "200000000y"],
    ] {
        let out = run(fx.dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");
    }
}

#[test]
fn the_state_store_is_private_whatever_the_umask() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let state = fx.path("private/deeper/state.sqlite");
    let mut cmd = bin(fx.dir.path());
    cmd.args([
        "run",
        input.to_str().unwrap(),
        "--sandbox",
        "--progress",
        "never",
        "--state",
    ])
    .arg(&state);
    // Run under umask 022, the usual default.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$@\"")
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&state), 0o600);
    assert_eq!(mode(state.parent().unwrap()), 0o700);
}

#[test]
fn a_symlinked_lock_file_is_not_followed() {
    let fx = Fixture::new();
    let victim = fx.file("victim.txt", "precious");
    // The lock file lives beside the store (the sandbox's own, in the state folder), named
    // after the store file's identity: a store made beforehand lets it be planted.
    let folder = fx.path(".local/state/checkuser");
    std::fs::create_dir_all(&folder).unwrap();
    let store = folder.join("sandbox.sqlite");
    std::fs::File::create(&store).unwrap();
    let scope = checkuser::store::Scope {
        host: "sandbox".into(),
        partner: "sandbox-partner-0001".into(),
        api: "v1".into(),
    };
    let lock = checkuser::store::lock::path(&store, &scope);
    assert_eq!(lock.parent(), Some(folder.as_path()));
    std::os::unix::fs::symlink(&victim, lock).unwrap();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let out = run(
        fx.dir.path(),
        &[
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--progress",
            "never",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn sighup_finishes_the_output_like_sigterm() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(200),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(50)));
    let cmd = sim.run_cmd(&fx, &input, &["--concurrency", "1", "--rate", "5"]);
    let out = signalled(cmd, Duration::from_millis(1500), libc::SIGHUP);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(rows.len(), 50);
    assert!(column(&h, &rows, "result").iter().any(|r| r == "pending"));
    let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_file_cut_off_mid_row_is_read_whole_and_warned_about() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", "email,name\na@example.com,Ann\nb@exam");
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "--check",
            "email=email",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("may have been cut off"),
        "{}",
        stderr(&out)
    );
    let (_, rows) = read_csv(&fx.path("in.validated.csv"), b',');
    assert_eq!(rows.len(), 2, "the cut row is still written");
}

/// Request headers, names in lower case.
type Headers = [(String, String)];

/// A server on 127.0.0.1 that answers every request with `respond(request headers)`:
/// (extra response headers, JSON body), HTTP 400. Returns its port.
fn echo_server(respond: fn(&Headers) -> (String, String)) -> u16 {
    echo_server_with("400 Bad Request", respond)
}

/// `echo_server` answering with another status line (`302 Found`).
fn echo_server_with(status: &'static str, respond: fn(&Headers) -> (String, String)) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0usize);
            let mut body = vec![0u8; len];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            let (extra, answer) = respond(&headers);
            let mut conn = conn;
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    port
}

fn header<'a>(headers: &'a Headers, name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Runs two emails against an echoing server with the given credentials; returns every text
/// the run wrote (output, stderr, summary).
fn run_against_echo(port: u16, env: &[(&str, &str)]) -> Vec<String> {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let mut cmd = bin(fx.dir.path());
    cmd.envs(env.iter().copied())
        .args([
            "run",
            input.to_str().unwrap(),
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["--partner-id", "p", "--progress", "never", "-v"])
        .arg("--summary-json")
        .arg(fx.path("s.json"))
        .arg("--state")
        .arg(fx.state());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    vec![
        std::fs::read_to_string(fx.path("in.checked.csv")).unwrap(),
        stderr(&out),
        std::fs::read_to_string(fx.path("s.json")).unwrap(),
    ]
}

#[test]
fn a_server_echoing_the_token_gets_it_redacted_everywhere() {
    // Real IAM tokens run to thousands of characters, longer than any text kept: they are
    // redacted before anything is cut, in the request id and in JSON-escaped form (`\/`).
    let port = echo_server(|h| {
        let token = header(h, "x-auth-token");
        (
            format!("x-request-id: {token}\r\n"),
            format!(
                r#"{{"error_code":"CBC.9999","error_msg":"bad token {} sent"}}"#,
                token.replace('/', "\\/")
            ),
        )
    });
    let secret = format!("MIIsecret/TOKEN+{}=", "vAlUe/123".repeat(200));
    let texts = run_against_echo(port, &[("HUAWEICLOUD_AUTH_TOKEN", secret.as_str())]);
    assert!(
        texts[0].contains("bad token [redacted] sent"),
        "{}",
        texts[0]
    );
    for text in texts {
        assert!(
            !text.contains("MIIsecret") && !text.contains("vAlUe/123vAlUe"),
            "{text}"
        );
    }
}

/// The token's disguises a server may send back: base64 (standard, in a longer text, at an
/// odd alignment) and base64url, full-width letters, zero-width characters between letters.
fn disguises(token: &str) -> [String; 4] {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    [
        b64.encode(format!("token={token};")),
        b64url.encode(format!("Bearer {token}")),
        token
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
            .collect(),
        token.chars().flat_map(|c| [c, '\u{200B}']).collect(),
    ]
}

/// The token is nowhere in `text`, however it is read: plainly, with compatibility forms
/// folded and invisible characters (or the spaces they became) dropped, or base64-decoded at
/// any offset.
fn assert_token_absent(text: &str, token: &str) {
    use base64::Engine;
    let folded: String = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc()
        .normalize(text)
        .chars()
        .filter(|c| *c != '\u{200B}')
        .collect();
    assert!(!folded.contains(token), "{text}");
    let squeezed: String = folded.split_whitespace().collect();
    assert!(!squeezed.contains(token), "spaced out in {text}");
    let letter = |c: char| c.is_ascii_alphanumeric() || "+/-_".contains(c);
    for run in text.split(|c: char| !letter(c)) {
        let run = run.replace('-', "+").replace('_', "/");
        for skip in 0..4.min(run.len()) {
            let part = &run[skip..];
            let part = &part[..part.len() / 4 * 4];
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(part) {
                let bytes = String::from_utf8_lossy(&bytes);
                assert!(!bytes.contains(token), "base64 in {text}");
            }
        }
    }
}

#[test]
fn a_server_echoing_the_token_in_disguise_gets_it_redacted() {
    let port = echo_server(|h| {
        let [b64, b64url, wide, zero_width] = disguises(header(h, "x-auth-token"));
        (
            format!("x-request-id: req-{b64}\r\n"),
            format!(
                r#"{{"error_code":"CBC.9999","error_msg":"bad {b64url} / {wide} / {zero_width} end"}}"#
            ),
        )
    });
    let token = "MIItokenXyZ0123456789abcdefDISGUISED";
    let texts = run_against_echo(port, &[("HUAWEICLOUD_AUTH_TOKEN", token)]);
    assert!(
        texts[0].contains("req-") && texts[0].contains(" end"),
        "{}",
        texts[0]
    );
    for text in &texts {
        assert_token_absent(text, token);
    }
    // A redirect's Location, base64url in its query.
    let port = echo_server_with("302 Found", |h| {
        let [_, b64url, _, _] = disguises(header(h, "x-auth-token"));
        (
            format!("location: https://elsewhere.example/cb?t={b64url}&x=1\r\n"),
            "{}".into(),
        )
    });
    let texts = run_against_echo(port, &[("HUAWEICLOUD_AUTH_TOKEN", token)]);
    assert!(texts[0].contains("elsewhere.example/cb?t="), "{}", texts[0]);
    for text in &texts {
        assert_token_absent(text, token);
    }
}

/// The token's escapes a server, a mail gateway or a web page may send back: hex,
/// quoted-printable, a MIME Q-word, HTML entities and `\x` escapes (JSON-escaped, as a JSON
/// string holding them is sent).
fn escapes(token: &str) -> [String; 5] {
    let each = |f: &dyn Fn(u8) -> String| token.bytes().map(f).collect::<String>();
    [
        each(&|b| format!("{b:02x}")),
        each(&|b| format!("={b:02X}")),
        format!("=?UTF-8?Q?{}?=", each(&|b| format!("={b:02X}"))),
        each(&|b| format!("&#{b};")),
        each(&|b| format!("\\\\x{b:02x}")),
    ]
}

#[test]
fn a_server_echoing_the_token_escaped_gets_it_redacted() {
    let port = echo_server(|h| {
        let [hex, qp, q_word, entities, x] = escapes(header(h, "x-auth-token"));
        (
            format!("x-request-id: req-{hex}\r\n"),
            format!(
                r#"{{"error_code":"CBC.9999","error_msg":"bad {qp} / {q_word} / {entities} / {x} end"}}"#
            ),
        )
    });
    let token = "MIItokenXyZ0123456789abcdefESCAPED";
    let texts = run_against_echo(port, &[("HUAWEICLOUD_AUTH_TOKEN", token)]);
    assert!(
        texts[0].contains("req-[redacted]")
            && texts[0]
                .contains("bad [redacted] / =?UTF-8?Q?[redacted]?= / [redacted] / [redacted] end"),
        "{}",
        texts[0]
    );
    for text in &texts {
        for form in escapes(token) {
            // Half of an escaped token would give most of it away.
            let middle = &form[form.len() / 4..form.len() * 3 / 4];
            assert!(!text.contains(middle), "{middle} in {text}");
        }
    }
}

#[test]
fn a_server_echoing_the_signature_or_a_disguised_ak_gets_them_redacted() {
    // The Authorization header back in the request id and the message, the AK JSON-escaped
    // and in lower case: none of it may reach the output, the log or the summary.
    let port = echo_server(|h| {
        let auth = header(h, "authorization");
        let ak = auth
            .split("Access=")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .unwrap_or("");
        let escaped: String = ak.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
        (
            format!("x-request-id: {auth}\r\n"),
            format!(
                r#"{{"error_code":"CBC.9999","error_msg":"got {auth}; ak {escaped} / {}"}}"#,
                ak.to_lowercase()
            ),
        )
    });
    let (ak, sk) = ("AKECHOED00000001", "skEchoedSecret0000000001");
    let texts = run_against_echo(
        port,
        &[("HUAWEICLOUD_SDK_AK", ak), ("HUAWEICLOUD_SDK_SK", sk)],
    );
    assert!(texts[0].contains("Signature=[redacted]"), "{}", texts[0]);
    for text in texts {
        let lower = text.to_lowercase();
        assert!(
            !lower.contains(&ak.to_lowercase()) && !lower.contains(&sk.to_lowercase()),
            "{text}"
        );
        let after = |t: &str| {
            t.split("Signature=")
                .skip(1)
                .all(|r| r.starts_with("[redacted]"))
        };
        assert!(after(&text), "{text}");
    }
}

#[test]
fn a_refused_clash_writes_nothing_and_the_state_must_be_a_store() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let prev = fx.file("prev.csv", "precious\n");
    // --summary-json or --state naming the output: refused, and nothing written.
    for flag in ["--summary-json", "--state"] {
        let p = prev.to_str().unwrap();
        let out = run(
            fx.dir.path(),
            &[
                "run",
                input.to_str().unwrap(),
                "--sandbox",
                "-o",
                p,
                flag,
                p,
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(stderr(&out).contains("both write to"), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(&prev).unwrap(), "precious\n");
    }
    // --state a file that is no store: left alone.
    let notes = fx.file("notes.txt", "not a database");
    std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(
        fx.dir.path(),
        &[
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--state",
            notes.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a checkuser state store"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::metadata(&notes).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "not a database");
}

#[test]
fn an_output_that_cannot_be_written_is_refused_before_any_request() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let folder = fx.path("results");
    std::fs::create_dir(&folder).unwrap();
    let folder = folder.to_str().unwrap();
    let missing = fx.path("no/such/folder/out.csv");
    let missing = missing.to_str().unwrap();
    for (extra, says) in [
        (["-o", folder], "is a folder"),
        (["--changes", folder], "is a folder"),
        (["--metrics-file", folder], "is a folder"),
        (["-o", missing], "does not exist"),
        (["--metrics-file", missing], "does not exist"),
    ] {
        let out = sim.run_expect(&fx, &input, &extra, 2);
        assert!(stderr(&out).contains(says), "{extra:?}: {}", stderr(&out));
        assert_eq!(sim.requests(), 0, "{extra:?}: no request spent");
    }
    assert!(!fx.path("in.checked.csv").exists());
    // A workbook cannot hold more than 16,384 columns: known from the header, before sending.
    let header: Vec<String> = (0..16_380).map(|i| format!("c{i}")).collect();
    let wide = fx.file(
        "wide.csv",
        format!(
            "searchType,searchKey,{}\nemail,wide@example.com\n",
            header.join(",")
        ),
    );
    let out = sim.run_expect(
        &fx,
        &wide,
        &["-o", fx.path("wide.xlsx").to_str().unwrap()],
        2,
    );
    assert!(stderr(&out).contains("-o NAME.csv"), "{}", stderr(&out));
    assert_eq!(sim.requests(), 0);
    // `plan` writes no output: where it would go is not its concern.
    let out = run(
        fx.dir.path(),
        &["plan", input.to_str().unwrap(), "--sandbox", "-o", missing],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn standard_output_is_recognised_under_any_name() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let captured = fx.path("captured.txt");
    let validate = |stdout: std::fs::File, extra: &[&str]| {
        let mut cmd = bin(fx.dir.path());
        cmd.args(["validate", input.to_str().unwrap()])
            .args(extra)
            .stdout(stdout);
        cmd.output().unwrap()
    };
    // `/dev/stdout` and `-` are the same file when standard output is redirected to one.
    let out = validate(
        std::fs::File::create(&captured).unwrap(),
        &["-o", "/dev/stdout", "--summary-json", "-"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("both write to"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&captured).unwrap(), "");
    // `-o -` appended to the input itself (`>> in.csv`) would grow the file being read.
    let before = std::fs::read_to_string(&input).unwrap();
    let appending = std::fs::File::options().append(true).open(&input).unwrap();
    let out = validate(appending, &["-o", "-"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the input file itself"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&input).unwrap(), before);
    // Redirected to another file, the same run writes there, appending when `>>` asked so, and
    // `/dev/stdout` stays a link (it was renamed over as a regular file before, as root).
    std::fs::write(&captured, "kept\n").unwrap();
    let appending = std::fs::File::options()
        .append(true)
        .open(&captured)
        .unwrap();
    let out = validate(appending, &["-o", "/dev/stdout"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(&captured).unwrap();
    assert!(text.starts_with("kept\n"), "{text}");
    assert_eq!(text.lines().count(), 5);
    let link = std::fs::symlink_metadata("/dev/stdout").unwrap();
    assert!(link.file_type().is_symlink());
}

#[test]
fn an_output_behind_a_symlink_replaces_the_file_and_keeps_the_link() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let real = fx.file("real.csv", "old\n");
    let link = fx.path("latest.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            link.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let is_link = |p: &Path| {
        std::fs::symlink_metadata(p)
            .unwrap()
            .file_type()
            .is_symlink()
    };
    assert!(is_link(&link));
    assert_eq!(std::fs::read_to_string(&real).unwrap().lines().count(), 4);
    // A link to a file not made yet: the file is made, the link kept.
    let dangling = fx.path("next.csv");
    std::os::unix::fs::symlink("made-later.csv", &dangling).unwrap();
    let out = run(
        fx.dir.path(),
        &[
            "validate",
            input.to_str().unwrap(),
            "-o",
            dangling.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(is_link(&dangling));
    let made = std::fs::read_to_string(fx.path("made-later.csv")).unwrap();
    assert_eq!(made.lines().count(), 4);
}

#[test]
fn a_signal_while_planning_still_writes_every_row() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(150_000)));
    let mut cmd = bin(fx.dir.path());
    cmd.args([
        "run",
        input.to_str().unwrap(),
        "--sandbox",
        "--progress",
        "never",
        "--summary-json",
    ])
    .arg(fx.path("s.json"));
    let out = signalled(cmd, Duration::from_millis(300), libc::SIGTERM);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let (_, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(rows.len(), 150_000);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.path("s.json")).unwrap()).unwrap();
    assert_eq!(s["stopped_reason"], "interrupted");
}

#[test]
fn an_input_replaced_or_changed_during_the_run_is_never_silently_mixed() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(100),
        ..no_faults()
    });
    let keys = emails(40);
    // Replaced by a rename: the run goes on with the file it opened.
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&keys));
    let other = fx.file("other.csv", email_csv(&keys[..5]));
    let child = sim
        .run_cmd(&fx, &input, &["--rate", "50"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    std::fs::rename(&other, &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(column(&h, &rows, "searchKey"), keys);
    // Truncated in place: every pass reads the bytes the run took at its start, so the
    // output holds the rows that were planned and answered (no pending, nothing lost).
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&keys));
    let child = sim
        .run_cmd(&fx, &input, &["--rate", "50"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    std::fs::write(&input, email_csv(&keys[..5])).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(column(&h, &rows, "searchKey"), keys);
    assert!(column(&h, &rows, "result").iter().all(|r| r != "pending"));
}

/// A workbook saved over while the run sends: the output lists the rows that were planned and
/// paid for, not the new file's rows as `pending` (the workbook was re-opened by path).
#[test]
fn a_workbook_saved_over_during_the_run_is_read_as_it_was() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(100),
        ..no_faults()
    });
    let keys = emails(30);
    let fx = Fixture::new();
    let book = |path: &std::path::Path, keys: &[String]| {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "searchType").unwrap();
        ws.write_string(0, 1, "searchKey").unwrap();
        for (i, k) in keys.iter().enumerate() {
            ws.write_string(i as u32 + 1, 0, "email").unwrap();
            ws.write_string(i as u32 + 1, 1, k).unwrap();
        }
        wb.save(path).unwrap();
    };
    let input = fx.path("leads.xlsx");
    book(&input, &keys);
    let output = fx.path("out.csv");
    let child = sim
        .run_cmd(
            &fx,
            &input,
            &["--rate", "50", "-o", output.to_str().unwrap()],
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let other: Vec<String> = (0..30).map(|i| format!("other{i}@example.net")).collect();
    book(&input, &other);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (h, rows) = read_csv(&output, b',');
    assert_eq!(column(&h, &rows, "searchKey"), keys);
    assert!(column(&h, &rows, "result").iter().all(|r| r != "pending"));
}

#[test]
fn validate_finishes_its_output_on_sigterm_and_exits_130() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(300_000)));
    let mut cmd = bin(fx.dir.path());
    cmd.args(["validate", input.to_str().unwrap(), "-q"]);
    let out = signalled(cmd, Duration::from_millis(300), libc::SIGTERM);
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let (_, rows) = read_csv(&fx.path("in.validated.csv"), b',');
    assert_eq!(rows.len(), 300_000, "every row written");
}
