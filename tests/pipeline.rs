//! The production pipeline against the simulator over real HTTP: order, dedup, concurrency and
//! rate bounds, adaptive throttling, stop rules and signals.

use std::time::Duration;

use crate::common::*;
use checkuser::sandbox::{truth, Faults};

#[test]
fn order_is_preserved_under_random_latency() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(2),
        jitter: Duration::from_millis(40),
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(120);
    let input = fx.file("in.csv", email_csv(&keys));
    sim.run_expect(&fx, &input, &["--rate", "1000", "--concurrency", "16"], 0);
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(column(&h, &rows, "searchKey"), keys);
    assert_eq!(column(&h, &rows, "checked_key"), keys);
    for (k, r) in keys.iter().zip(column(&h, &rows, "result")) {
        assert_eq!(r, truth("email", k).result().as_str());
    }
    let entries = sim.sandbox.stats.entries();
    let answered: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    let sorted = {
        let mut a = answered.clone();
        a.sort();
        a
    };
    assert_ne!(
        answered, sorted,
        "answers must have arrived out of order for this test to mean something"
    );
}

#[test]
fn duplicates_are_sent_once() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(20),
        ..no_faults()
    });
    let fx = Fixture::new();
    let mut rows = vec![("email", "same@example.com"); 25];
    rows.extend(vec![
        ("mobile", "+86 139 0013 9000"),
        ("mobile", "0086-13900139000"),
        ("mobile", "(+86) 139.0013.9000"),
    ]);
    let input = fx.file("in.csv", per_row_csv(&rows));
    sim.run_expect(&fx, &input, &["--rate", "1000", "--concurrency", "8"], 0);
    assert_eq!(sim.sandbox.stats.requests_for("same@example.com"), 1);
    assert_eq!(sim.sandbox.stats.requests_for("0086-13900139000"), 1);
    assert_eq!(sim.requests(), 2);
    let j = fx.summary();
    assert_eq!(j["duplicates"], 26);
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    let attempts = column(&h, &rows, "attempts");
    assert_eq!(
        attempts.iter().filter(|a| *a == "1").count(),
        2,
        "one row per value carries the request"
    );
    assert!(column(&h, &rows, "result")
        .iter()
        .all(|r| r == "free" || r == "taken" || r == "uplimit"));
}

#[test]
fn the_concurrency_bound_is_never_exceeded() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(30),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(60)));
    sim.run_expect(&fx, &input, &["--rate", "1000", "--concurrency", "3"], 0);
    assert_eq!(
        sim.sandbox.stats.peak_in_flight(),
        3,
        "bounded by 3 and actually using 3"
    );
}

#[test]
fn no_one_second_window_holds_more_than_rate_plus_burst() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(70)));
    sim.run_expect(&fx, &input, &["--rate", "20", "--concurrency", "4"], 0);
    let mut times: Vec<Duration> = sim
        .sandbox
        .stats
        .entries()
        .iter()
        .map(|e| e.arrived)
        .collect();
    times.sort();
    assert_eq!(times.len(), 70);
    for (i, t) in times.iter().enumerate() {
        let n = times[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_secs(1))
            .count();
        assert!(n <= 21, "{n} requests in the second after {t:?}");
    }
    let span = times.last().unwrap().saturating_sub(times[0]).as_secs_f64();
    assert!(span > 3.0, "70 requests at 20/s cannot take {span:.2}s");
}

#[test]
fn a_gateway_slower_than_rate_is_adapted_to() {
    let sim = Sim::start(Faults {
        throttle: 20.0,
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(150);
    let input = fx.file("in.csv", email_csv(&keys));
    sim.run_expect(&fx, &input, &["--rate", "40", "--concurrency", "8"], 0);
    let j = fx.summary();
    assert_eq!(
        j["free"].as_u64().unwrap() + j["taken"].as_u64().unwrap(),
        150
    );
    let throttled = j["throttled"].as_u64().unwrap();
    assert!(throttled > 0, "the gateway must have throttled");
    assert!(
        throttled < 150,
        "adaptation keeps 429s well below one per check: {throttled}"
    );
}

#[test]
fn no_request_is_sent_after_a_fatal_answer_arrives() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(50),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(50)));
    let out = sim
        .run_cmd(&fx, &input, &["--rate", "1000", "--concurrency", "4"])
        .env("HUAWEICLOUD_SDK_SK", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let entries = sim.sandbox.stats.entries();
    // The first fatal answer left the simulator at `first`: no request may arrive after it.
    let first = entries.iter().map(|e| e.at).min().unwrap();
    assert!(entries.len() <= 4, "{} requests", entries.len());
    assert!(entries.iter().all(|e| e.arrived < first), "{entries:?}");
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(rows.len(), 50);
    assert_eq!(
        column(&h, &rows, "result")
            .iter()
            .filter(|r| *r == "pending")
            .count(),
        50 - entries.len()
    );
}

#[test]
fn ten_errors_in_a_row_open_the_circuit() {
    let sim = Sim::start(Faults {
        fail_first: 1000,
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(40)));
    let out = sim.run_expect(
        &fx,
        &input,
        &[
            "--rate",
            "1000",
            "--concurrency",
            "1",
            "--max-attempts",
            "2",
        ],
        2,
    );
    let j = fx.summary();
    assert_eq!(j["stopped_reason"], "circuit_open");
    // The 10th error stops dispatch; a check already in flight then (its slot is released as
    // soon as its request is answered) may still finish.
    let errors = j["error"].as_u64().unwrap();
    assert!((10..=11).contains(&errors), "{errors} errors");
    assert_eq!(j["pending"].as_u64().unwrap(), 40 - errors);
    // At concurrency 1 at most one other check is open (two in all), with one request made.
    let requests = sim.requests() as u64;
    assert!(
        (2 * errors..=2 * errors + 1).contains(&requests),
        "{requests} requests"
    );
    assert!(stderr(&out).contains("10 checks in a row ended in error"));
}

#[cfg(unix)]
#[test]
fn sigterm_mid_run_writes_a_complete_output_and_exits_130() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(100),
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(60);
    let input = fx.file("in.csv", email_csv(&keys));
    let child = sim
        .run_cmd(&fx, &input, &["--rate", "10"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // Twice, as `timeout` and a wrapper script that forwards signals send it: still one
    // graceful stop with the whole output.
    signal(&child, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(column(&h, &rows, "searchKey"), keys, "every row, in order");
    let results = column(&h, &rows, "result");
    let answered = results.iter().filter(|r| *r != "pending").count();
    assert!(
        answered > 3 && answered < 60,
        "{answered} answered before the signal"
    );
    let j = fx.summary();
    assert_eq!(j["stopped_reason"], "interrupted");
    assert_eq!(j["exit_code"], 130);
    assert_eq!(j["pending"].as_u64().unwrap() as usize, 60 - answered);
    assert_eq!(
        sim.requests(),
        answered,
        "in-flight requests finished and were recorded"
    );
}

#[test]
fn chaos_every_check_ends_with_the_true_answer_and_the_figures_reconcile() {
    let faults = Faults {
        transient: 0.10,
        http5xx: 0.10,
        reset: 0.03,
        jitter: Duration::from_millis(15),
        throttle: 150.0,
        seed: Some(11),
        ..no_faults()
    };
    let sim = Sim::start(faults);
    let fx = Fixture::new();
    let keys = emails(250);
    let mut rows: Vec<(&str, &str)> = keys.iter().map(|k| ("email", k.as_str())).collect();
    rows.extend([
        ("email", "not-an-email"),
        ("email", "lead00001@example.com"),
    ]);
    let input = fx.file("in.csv", per_row_csv(&rows));
    sim.run_expect(
        &fx,
        &input,
        &[
            "--rate",
            "300",
            "--concurrency",
            "8",
            "--max-attempts",
            "12",
        ],
        0,
    );
    let (h, out_rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(out_rows.len(), 252);
    let results = column(&h, &out_rows, "result");
    for (k, r) in keys.iter().zip(&results) {
        assert_eq!(r, truth("email", k).result().as_str(), "{k}");
    }
    assert_eq!(results[250], "invalid");
    let j = fx.summary();
    let entries = sim.sandbox.stats.entries();
    assert_eq!(
        j["api_requests"].as_u64().unwrap() as usize,
        entries.len(),
        "every request counted once"
    );
    let attempts: u64 = column(&h, &out_rows, "attempts")
        .iter()
        .map(|a| a.parse::<u64>().unwrap())
        .sum();
    assert_eq!(
        attempts,
        j["api_requests"].as_u64().unwrap(),
        "attempts columns add up to the requests"
    );
    assert_eq!(j["retries"].as_u64().unwrap(), entries.len() as u64 - 250);
    let throttled = entries.iter().filter(|e| e.code == "APIG.0308").count() as u64;
    assert_eq!(j["throttled"].as_u64().unwrap(), throttled);
    assert_eq!(j["duplicates"], 1);
    assert_eq!(
        j["free"].as_u64().unwrap() + j["taken"].as_u64().unwrap() + j["invalid"].as_u64().unwrap(),
        252
    );
    assert!(
        entries.iter().any(|e| e.code == "RESET")
            && entries.iter().any(|e| e.code == "HTML")
            && entries.iter().any(|e| e.code == "CBC.0999")
    );
}

#[cfg(unix)]
#[test]
fn a_second_signal_exits_at_once() {
    let sim = Sim::start(Faults {
        latency: Duration::from_secs(3),
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(10)));
    let child = sim
        .run_cmd(&fx, &input, &["--rate", "100"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    std::thread::sleep(Duration::from_millis(500));
    let kill = || {
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
    };
    assert!(kill().success());
    std::thread::sleep(Duration::from_millis(300));
    let second = std::time::Instant::now();
    assert!(kill().success());
    let out = child.wait_with_output().unwrap();
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "took {:?} after the second signal",
        second.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted twice"));
    assert!(
        !fx.path("in.checked.csv").exists(),
        "no half-written output under the final name"
    );
    // Monitoring still learns that this run was cut short.
    let s = fx.summary();
    assert_eq!(
        (s["exit_code"].as_u64(), s["stopped_reason"].as_str()),
        (Some(130), Some("interrupted"))
    );
    assert_eq!(s["figures_unknown"], true);
}

#[test]
fn retry_after_is_honoured() {
    let sim = Sim::start(Faults {
        throttle: 1.0,
        retry_after: Some(1),
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(3);
    let input = fx.file("in.csv", email_csv(&keys));
    sim.run_expect(&fx, &input, &["--rate", "50", "--concurrency", "1"], 0);
    assert_true_answers(&fx.path("in.checked.csv"), "email", &keys);
    let entries = sim.sandbox.stats.entries();
    let throttled: Vec<_> = entries.iter().filter(|e| e.code == "APIG.0308").collect();
    assert!(!throttled.is_empty(), "the test must provoke throttling");
    for t in throttled {
        let next = entries
            .iter()
            .filter(|e| e.key == t.key && e.arrived > t.arrived)
            .map(|e| e.arrived)
            .min()
            .unwrap();
        assert!(
            next - t.at >= Duration::from_millis(950),
            "{} retried {:?} after a 429 with Retry-After: 1",
            t.key,
            next - t.at
        );
    }
}

/// A pipe that sends a few rows and stays open (a CRM feeding leads): the rows read are
/// checked now, not when the pipe ends, and SIGTERM ends the run with them in the output
/// instead of waiting for an end of input that never comes.
#[test]
fn rows_from_a_pipe_left_open_are_checked_and_sigterm_ends_the_run() {
    use std::io::Write;
    let fx = Fixture::new();
    let out = fx.path("out.csv");
    let mut child = bin(fx.dir.path())
        .args(["run", "-", "--sandbox", "--progress", "never", "-o"])
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let keys = emails(3);
    stdin.write_all(email_csv(&keys).as_bytes()).unwrap();
    stdin.flush().unwrap();
    // Three checks at 5/s take well under a second once sent.
    std::thread::sleep(Duration::from_secs(3));
    let what = "SIGTERM while standard input stayed open";
    signal_and_wait(&mut child, libc::SIGTERM, Duration::from_secs(20), what);
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let (h, rows) = read_csv(&out, b',');
    let results = column(&h, &rows, "result");
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(
        results.iter().all(|r| r == "free" || r == "taken"),
        "the rows read were answered before the pipe ended: {results:?}"
    );
}

/// A pipe left open with nothing written yet (a feed that has not started): SIGTERM and Ctrl-C
/// end the run at once with 130 and the summary, and an earlier output at its path is left as
/// it was (no row was read, so there is nothing to replace it with).
#[test]
fn a_stop_before_a_piped_first_line_ends_the_run_at_once() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let fx = Fixture::new();
        let out = fx.file("out.csv", "an earlier output\n");
        let mut child = bin(fx.dir.path())
            .args(["run", "-", "--sandbox", "--progress", "never", "-o"])
            .arg(&out)
            .arg("--summary-json")
            .arg(fx.path("summary.json"))
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let what = "a stop before standard input's first line";
        let took = signal_and_wait(&mut child, sig, Duration::from_secs(15), what);
        drop(stdin);
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
        assert!(took < Duration::from_secs(5), "{took:?} to end");
        let s = fx.summary();
        assert_eq!(s["stopped_reason"], "interrupted", "{s}");
        assert_eq!(s["exit_code"], 130);
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "an earlier output\n"
        );
    }
}

/// A state database that accepts connections and never answers: a stop while the run reaches
/// it ends the run at once (130), instead of after the connection's time limit (exit 2).
#[test]
fn a_stop_while_the_state_database_does_not_answer_ends_the_run_at_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn);
        }
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(2)));
    let mut cmd = bin(fx.dir.path());
    cmd.env("PGPASSWORD", "unused")
        .args([
            "run",
            input.to_str().unwrap(),
            "--sandbox",
            "--progress",
            "never",
        ])
        .args([
            "--state",
            &format!("postgres://team@127.0.0.1:{port}/checkuser"),
        ])
        .arg("--summary-json")
        .arg(fx.path("summary.json"));
    let started = std::time::Instant::now();
    let o = signalled(cmd, Duration::from_millis(1500), libc::SIGTERM);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(took < Duration::from_secs(4), "{took:?} to end");
    assert_eq!(fx.summary()["stopped_reason"], "interrupted");
    assert!(!fx.path("in.checked.csv").exists(), "nothing was read");
}
