//! Networks of real companies: the simulator served over TLS with a certificate from a CA made
//! at test time, reachable only with `--ca-cert`, and through a local CONNECT proxy named by
//! HTTPS_PROXY (as `api.checkuser.example`, a name only the proxy knows: an endpoint on this
//! machine never goes through a proxy).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::common::*;
use checkuser::sandbox::{Faults, Identity};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;

/// A name for the simulator that only the test proxies resolve (to 127.0.0.1): an endpoint
/// that is not on this machine as far as checkuser can tell.
const REMOTE: &str = "api.checkuser.example";

/// A CA and a certificate for 127.0.0.1 / localhost / REMOTE signed by it: (CA PEM, leaf DER,
/// key DER).
fn test_pki() -> (String, Vec<u8>, Vec<u8>) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "checkuser test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        REMOTE.to_string(),
    ])
    .unwrap()
    .signed_by(&leaf_key, &ca)
    .unwrap();
    (ca.pem(), leaf.der().to_vec(), leaf_key.serialize_der())
}

/// The simulator over TLS on 127.0.0.1, on its own runtime; returns its port and the runtime.
fn tls_sim(
    cert: Vec<u8>,
    key: Vec<u8>,
) -> (u16, Arc<checkuser::sandbox::Stats>, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (router, stats) = checkuser::sandbox::router(Identity::builtin(), Faults::default());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.into()],
        tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, router) = (acceptor.clone(), router.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), TowerToHyperService::new(router))
                    .await;
            });
        }
    });
    (port, stats, rt)
}

/// A minimal CONNECT proxy on 127.0.0.1 that counts the tunnels it opened.
fn connect_proxy() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tunnels = Arc::new(AtomicUsize::new(0));
    let count = tunnels.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let target = line.split_whitespace().nth(1).unwrap_or("");
                let target = target.replace(REMOTE, "127.0.0.1");
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let Ok(upstream) = TcpStream::connect(&target) else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let mut client_w = client.try_clone().unwrap();
                client_w
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let mut up_r = upstream.try_clone().unwrap();
                let mut up_w = upstream;
                let t = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut up_r, &mut client_w);
                });
                let _ = std::io::copy(&mut reader, &mut up_w);
                let _ = up_w.shutdown(std::net::Shutdown::Write);
                let _ = t.join();
            });
        }
    });
    (port, tunnels)
}

fn run_tls(fx: &Fixture, port: u16, extra: &[&str], proxy: Option<u16>) -> std::process::Output {
    run_tls_at(fx, "localhost", port, extra, proxy, None)
}

/// `run_tls` against `https://HOST:PORT`, with `NO_PROXY` if given.
fn run_tls_at(
    fx: &Fixture,
    host: &str,
    port: u16,
    extra: &[&str],
    proxy: Option<u16>,
    no_proxy: Option<&str>,
) -> std::process::Output {
    let id = Identity::builtin();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let mut c = bin(fx.dir.path());
    c.env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .arg("run")
        .arg(&input)
        .args(["--endpoint", &format!("https://{host}:{port}")])
        .args([
            "--partner-id",
            &id.partner_id,
            "--progress",
            "never",
            "--max-attempts",
            "1",
        ])
        .arg("--state")
        .arg(fx.state())
        .args(extra);
    if let Some(p) = proxy {
        c.env("HTTPS_PROXY", format!("http://127.0.0.1:{p}"));
    }
    if let Some(n) = no_proxy {
        c.env("NO_PROXY", n);
    }
    c.output().unwrap()
}

#[test]
fn a_private_ca_is_trusted_only_with_ca_cert() {
    let (ca_pem, cert, key) = test_pki();
    let (port, stats, _rt) = tls_sim(cert, key);
    let fx = Fixture::new();
    let ca = fx.file("ca.pem", &ca_pem);
    let out = run_tls(&fx, port, &[], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert!(column(&h, &rows, "error_code")
        .iter()
        .all(|c| c == "NETWORK"));
    assert_eq!(
        stats.entries().len(),
        0,
        "no request got through an untrusted TLS handshake"
    );
    let out = run_tls(&fx, port, &["--ca-cert", ca.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stats.entries().len(), 3);
    let bad = fx.file("bad.pem", "not a certificate");
    let out = run_tls(&fx, port, &["--ca-cert", bad.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--ca-cert"), "{}", stderr(&out));
}

#[test]
fn doctor_trusts_what_run_trusts() {
    let (ca_pem, cert, key) = test_pki();
    let (port, stats, _rt) = tls_sim(cert, key);
    let fx = Fixture::new();
    let ca = fx.file("ca.pem", &ca_pem);
    let id = Identity::builtin();
    let doctor = |extra: &[&str]| {
        let out = bin(fx.dir.path())
            .env("HUAWEICLOUD_SDK_AK", &id.ak)
            .env("HUAWEICLOUD_SDK_SK", &id.sk)
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .args(["doctor", "--endpoint", &format!("https://localhost:{port}")])
            .args(["--partner-id", &id.partner_id])
            .arg("--state")
            .arg(fx.state())
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let endpoint_ok = text
            .lines()
            .any(|l| l.starts_with("ok") && l.contains("endpoint"));
        (out.status.code(), endpoint_ok, text)
    };
    let (code, endpoint_ok, text) = doctor(&[]);
    assert_eq!((code, endpoint_ok), (Some(1), false), "{text}");
    let (code, endpoint_ok, text) = doctor(&["--ca-cert", ca.to_str().unwrap()]);
    assert_eq!((code, endpoint_ok), (Some(0), true), "{text}");
    let (code, _, text) = doctor(&["--ca-cert", fx.path("missing.pem").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("--ca-cert")),
        "{text}"
    );
    assert_eq!(stats.entries().len(), 0, "doctor spends no check request");
}

#[test]
fn requests_go_through_the_https_proxy() {
    let (ca_pem, cert, key) = test_pki();
    let (port, stats, _rt) = tls_sim(cert, key);
    let (proxy, tunnels) = connect_proxy();
    let fx = Fixture::new();
    let ca = fx.file("ca.pem", &ca_pem);
    let ca = ["--ca-cert", ca.to_str().unwrap()];
    let out = run_tls_at(&fx, REMOTE, port, &ca, Some(proxy), None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        tunnels.load(Ordering::SeqCst) >= 1,
        "the proxy carried the requests"
    );
    assert!(
        stderr(&out).contains("through the proxy http://127.0.0.1:"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stats.entries().len(), 3);
    // NO_PROXY as curl reads it: a leading dot, a subdomain, case; then the name is looked up
    // directly (and is unknown); an entry that does not match leaves the proxy in use.
    let ca = [ca[0], ca[1], "--refresh"];
    let before = tunnels.load(Ordering::SeqCst);
    for no_proxy in [".checkuser.example", "CHECKUSER.example", "*"] {
        let out = run_tls_at(&fx, REMOTE, port, &ca, Some(proxy), Some(no_proxy));
        assert_eq!(out.status.code(), Some(1), "{no_proxy}: {}", stderr(&out));
    }
    assert_eq!(tunnels.load(Ordering::SeqCst), before, "NO_PROXY honoured");
    let out = run_tls_at(
        &fx,
        REMOTE,
        port,
        &ca,
        Some(proxy),
        Some("notcheckuser.example, 127.0.0.1"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(tunnels.load(Ordering::SeqCst) > before);
}

#[test]
fn plain_http_elsewhere_needs_insecure_http() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let out = bin(fx.dir.path())
        .env("HUAWEICLOUD_SDK_AK", "AK")
        .env("HUAWEICLOUD_SDK_SK", "SK")
        .args([
            "run",
            input.to_str().unwrap(),
            "--endpoint",
            "http://192.0.2.1",
            "--partner-id",
            "p",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--insecure-http"), "{}", stderr(&out));
}

/// Runs `cmd` with at most 2 GiB of address space and 60 seconds: a command reading an endless
/// file without bound fails fast instead of taking the machine down.
fn bounded(mut cmd: std::process::Command) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and touches only the child about to exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn an_endless_ca_cert_is_read_with_a_cap() {
    let fx = Fixture::new();
    let id = Identity::builtin();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let mut run = bin(fx.dir.path());
    run.env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .arg("run")
        .arg(&input)
        .args(["--partner-id", &id.partner_id, "--ca-cert", "/dev/zero"])
        .arg("--state")
        .arg(fx.state());
    let out = bounded(run);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--ca-cert /dev/zero") && stderr(&out).contains("MiB"),
        "{}",
        stderr(&out)
    );
    let mut doctor = bin(fx.dir.path());
    doctor.args(["doctor", "--sandbox", "--ca-cert", "/dev/zero"]);
    let out = bounded(doctor);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("/dev/zero")),
        "{text}"
    );
}

/// A proxy on 127.0.0.1 that answers every request itself with a made-up "free" (what a
/// hostile proxy would do) and counts the connections it got.
fn lying_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let used = Arc::new(AtomicUsize::new(0));
    let count = used.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut w = client;
                loop {
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; length];
                    if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                        return;
                    }
                    let free =
                        r#"{"error_code":"CBC.0000","error_msg":"success","status":0,"uplimit":0}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{free}",
                        free.len()
                    );
                    if w.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, used)
}

/// Every proxy variable curl reads, pointing at `proxy`.
fn all_proxies(c: &mut std::process::Command, proxy: &str) {
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        c.env(v, proxy);
    }
    c.env_remove("no_proxy").env_remove("NO_PROXY");
}

#[test]
fn a_loopback_endpoint_never_goes_through_a_proxy() {
    let (proxy, used) = lying_proxy();
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let keys = vec!["taken@example.com".to_string(), "lead1@example.com".into()];
    let input = fx.file("in.csv", email_csv(&keys));
    let port = sim.sandbox.addr.port();
    for (endpoint, no_proxy) in [
        (format!("http://127.0.0.1:{port}"), None),
        (format!("http://localhost:{port}"), Some("127.0.0.1")),
        (format!("http://LocalHost:{port}"), Some("")),
    ] {
        let id = &sim.sandbox.identity;
        let mut c = bin(fx.dir.path());
        c.env("HUAWEICLOUD_SDK_AK", &id.ak)
            .env("HUAWEICLOUD_SDK_SK", &id.sk)
            .arg("run")
            .arg(&input)
            .args(["--endpoint", &endpoint, "--partner-id", &id.partner_id])
            .args(["--refresh", "--progress", "never", "--state"])
            .arg(fx.state());
        all_proxies(&mut c, &proxy);
        if let Some(n) = no_proxy {
            c.env("NO_PROXY", n);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{endpoint}: {}", stderr(&out));
        assert_true_answers(&fx.path("in.checked.csv"), "email", &keys);
    }
    let mut c = bin(fx.dir.path());
    c.arg("run")
        .arg(&input)
        .args(["--sandbox", "--throttle", "0", "-q"]);
    all_proxies(&mut c, &proxy);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "--sandbox: {}", stderr(&out));
    assert_true_answers(&fx.path("in.checked.csv"), "email", &keys);
    let mut c = bin(fx.dir.path());
    c.args(["doctor", "--sandbox"]);
    all_proxies(&mut c, &proxy);
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "doctor: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A plain-http endpoint elsewhere would show the proxy everything: refused up front.
    let mut c = bin(fx.dir.path());
    c.env("HUAWEICLOUD_SDK_AK", "AK")
        .env("HUAWEICLOUD_SDK_SK", "SK")
        .arg("run")
        .arg(&input)
        .args([
            "--endpoint",
            &format!("http://{REMOTE}:{port}"),
            "--partner-id",
            "p",
        ]);
    all_proxies(&mut c, &proxy);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--insecure-http"), "{}", stderr(&out));
    assert_eq!(used.load(Ordering::SeqCst), 0, "the proxy was never asked");
}
