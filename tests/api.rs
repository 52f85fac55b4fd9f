//! `checkuser run` against the simulator over real HTTP: answer classes and their effect on the
//! run, both API versions, credentials handling, and that secrets never leak.

use crate::common::*;
use checkuser::sandbox::{truth, Faults, Identity};

fn results(fx: &Fixture, name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&fx.path(name), b',')
}

#[test]
fn v1_and_v2_answers_match_the_simulators_truth() {
    let sim = Sim::start(no_faults());
    let keys = emails(40);
    for api in ["v1", "v2"] {
        let fx = Fixture::new();
        let mut rows: Vec<(&str, &str)> = keys.iter().map(|k| ("email", k.as_str())).collect();
        rows.push(("mobile", "+86 137 0013 7000"));
        rows.push(("name", "huaweicloud"));
        let input = fx.file("in.csv", per_row_csv(&rows));
        let out = sim
            .run_cmd(
                &fx,
                &input,
                &["--api", api, "--rate", "500", "--concurrency", "8"],
            )
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{api}: {}", stderr(&out));
        let (h, rows) = results(&fx, "in.checked.csv");
        let got = column(&h, &rows, "result");
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(got[i], truth("email", k).result().as_str(), "{api} {k}");
        }
        assert_eq!(got[40], "uplimit");
        assert_eq!(got[41], "taken");
        assert!(column(&h, &rows, "request_id")
            .iter()
            .all(|r| r.starts_with("SIMULATED-")));
        assert!(column(&h, &rows, "source").iter().all(|s| s == "api"));
        assert!(column(&h, &rows, "attempts").iter().all(|a| a == "1"));
        assert_eq!(column(&h, &rows, "http_status")[0], "200");
    }
}

#[test]
fn transient_failures_are_retried_then_answered() {
    let sim = Sim::start(Faults {
        fail_first: 2,
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", per_row_csv(&[("email", "retry@example.com")]));
    sim.run_expect(&fx, &input, &[], 0);
    let (h, rows) = results(&fx, "in.checked.csv");
    assert_eq!(
        column(&h, &rows, "result")[0],
        truth("email", "retry@example.com").result().as_str()
    );
    assert_eq!(column(&h, &rows, "attempts")[0], "3");
    assert_eq!(sim.requests(), 3);
    let json: serde_json::Value = fx.summary();
    assert_eq!(
        (json["api_requests"].as_u64(), json["retries"].as_u64()),
        (Some(3), Some(2))
    );
}

#[test]
fn retries_run_out_into_error_and_exit_1() {
    let sim = Sim::start(Faults {
        fail_first: 100,
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file(
        "in.csv",
        per_row_csv(&[("email", "down@example.com"), ("email", "bad-email")]),
    );
    sim.run_expect(&fx, &input, &["--max-attempts", "3"], 1);
    let (h, rows) = results(&fx, "in.checked.csv");
    assert_eq!(column(&h, &rows, "result"), ["error", "invalid"]);
    assert_eq!(column(&h, &rows, "error_code")[0], "CBC.0999");
    assert_eq!(column(&h, &rows, "attempts"), ["3", "0"]);
    assert_eq!(sim.requests(), 3, "the invalid row never spends quota");
}

#[test]
fn gateway_5xx_html_and_cut_connections_are_transient() {
    let sim = Sim::start(Faults {
        http5xx: 0.3,
        reset: 0.2,
        seed: Some(3),
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(30);
    let input = fx.file("in.csv", email_csv(&keys));
    sim.run_expect(&fx, &input, &["--rate", "500", "--max-attempts", "12"], 0);
    assert_true_answers(&fx.path("in.checked.csv"), "email", &keys);
    let codes: Vec<String> = sim
        .sandbox
        .stats
        .entries()
        .iter()
        .map(|e| e.code.clone())
        .collect();
    assert!(
        codes.iter().any(|c| c == "HTML") && codes.iter().any(|c| c == "RESET"),
        "{codes:?}"
    );
}

#[test]
fn throttling_is_retried_without_using_up_attempts() {
    let sim = Sim::start(Faults {
        throttle: 2.0,
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(8);
    let input = fx.file("in.csv", email_csv(&keys));
    sim.run_expect(&fx, &input, &["--rate", "50", "--max-attempts", "1"], 0);
    let (h, rows) = results(&fx, "in.checked.csv");
    assert!(column(&h, &rows, "result").iter().all(|r| r != "error"));
    let json: serde_json::Value = fx.summary();
    assert!(
        json["throttled"].as_u64().unwrap() > 0,
        "the test must provoke throttling: {json}"
    );
}

#[test]
fn api_side_invalid_is_not_retried_and_row_errors_end_in_error() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file(
        "in.csv",
        per_row_csv(&[
            ("email", "sandbox-invalid@example.com"),
            ("email", "sandbox-rowerror@example.com"),
            ("email", "ok@example.com"),
        ]),
    );
    sim.run_expect(&fx, &input, &[], 1);
    let (h, rows) = results(&fx, "in.checked.csv");
    assert_eq!(&column(&h, &rows, "result")[..2], ["invalid", "error"]);
    assert_eq!(
        &column(&h, &rows, "error_code")[..2],
        ["CBC.0100", "CBC.0156"]
    );
    assert_eq!(&column(&h, &rows, "http_status")[..2], ["400", "403"]);
    assert_eq!(sim.requests(), 3);
}

#[test]
fn a_bad_signature_stops_the_run_at_the_first_request() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let keys = emails(20);
    let input = fx.file("in.csv", email_csv(&keys));
    let out = sim
        .run_cmd(&fx, &input, &["--concurrency", "1", "--rate", "100"])
        .env("HUAWEICLOUD_SDK_SK", "wrong-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(sim.requests(), 1, "no second request after APIG.0301");
    assert!(
        stderr(&out).contains("APIG.0301") && stderr(&out).contains("AK/SK"),
        "{}",
        stderr(&out)
    );
    let (h, rows) = results(&fx, "in.checked.csv");
    let r = column(&h, &rows, "result");
    assert_eq!(rows.len(), 20, "every row is written");
    assert_eq!(r[0], "error");
    assert!(r[1..].iter().all(|x| x == "pending"));
    let json: serde_json::Value = fx.summary();
    assert_eq!(json["stopped_reason"], "fatal");
    assert_eq!(json["pending"], 19);
}

#[test]
fn a_wrong_partner_id_is_fatal_and_names_the_cause() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(5)));
    let id = &sim.sandbox.identity;
    let out = bin(fx.dir.path())
        .env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .env("HUAWEICLOUD_PARTNER_ID", "someone-else")
        .args([
            "run",
            input.to_str().unwrap(),
            "--endpoint",
            &sim.sandbox.endpoint(),
            "--concurrency",
            "1",
        ])
        .arg("--state")
        .arg(fx.state())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("CBC.0151") && stderr(&out).contains("--partner-id"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sim.requests(), 1);
}

#[test]
fn clock_skew_is_pointed_out_on_apig_0301() {
    let sim = Sim::start(Faults {
        clock_offset_secs: 20 * 60,
        ..no_faults()
    });
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let out = sim.run_expect(&fx, &input, &["--concurrency", "1"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("APIG.0301") && err.contains("behind the server") && err.contains("NTP"),
        "{err}"
    );
}

#[test]
fn tokens_work_and_a_bad_token_is_fatal() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(3)));
    let token = fx.file("token", &sim.sandbox.identity.token);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut cmd = sim.run_cmd(&fx, &input, &["--token-file", token.to_str().unwrap()]);
    cmd.env_remove("HUAWEICLOUD_SDK_AK")
        .env_remove("HUAWEICLOUD_SDK_SK");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut cmd = sim.run_cmd(&fx, &input, &["--refresh", "--concurrency", "1"]);
    cmd.env_remove("HUAWEICLOUD_SDK_AK")
        .env_remove("HUAWEICLOUD_SDK_SK")
        .env("HUAWEICLOUD_AUTH_TOKEN", "expired-token");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_credentials_file_others_can_read_is_refused() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let creds = fx.file(
        "credentials",
        "[global]\nak = FILEAK000000001\nsk = file-secret-value\n",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = bin(fx.dir.path())
        .env("HUAWEICLOUD_SDK_CREDENTIALS_FILE", &creds)
        .args([
            "run",
            input.to_str().unwrap(),
            "--partner-id",
            "p",
            "--state",
            fx.state().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("chmod 600") && !err.contains("file-secret-value"),
        "{err}"
    );
}

#[test]
fn no_credentials_explains_every_way_to_provide_them() {
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(1)));
    let out = run(
        fx.dir.path(),
        &["run", input.to_str().unwrap(), "--partner-id", "p"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("HUAWEICLOUD_SDK_AK")
            && err.contains("~/.huaweicloud/credentials")
            && err.contains("--sandbox"),
        "{err}"
    );
}

#[test]
fn secrets_never_appear_in_output_logs_or_files() {
    let sk = "Sk-Distinctive-7f3e9a1c5b";
    let token = "Tok-Distinctive-2d8b6e4f0a";
    let identity = Identity {
        ak: "LEAKTESTAK0000000001".into(),
        sk: sk.into(),
        token: token.into(),
        partner_id: "leak-partner".into(),
    };
    let sim = Sim::with_identity(
        identity,
        Faults {
            fail_first: 1,
            ..no_faults()
        },
    );
    let fx = Fixture::new();
    let input = fx.file(
        "in.csv",
        per_row_csv(&[
            ("email", "a@example.com"),
            ("mobile", "+86 138 0013 8000"),
            ("email", "sandbox-invalid@example.com"),
        ]),
    );
    let out = sim.run_expect(&fx, &input, &["-vv"], 0);
    let bad = sim
        .run_cmd(
            &fx,
            &input,
            &[
                "-vv",
                "--refresh",
                "-o",
                fx.path("bad.csv").to_str().unwrap(),
            ],
        )
        .env("HUAWEICLOUD_SDK_SK", "x")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let tok = sim
        .run_cmd(
            &fx,
            &input,
            &[
                "-vv",
                "--refresh",
                "-o",
                fx.path("tok.csv").to_str().unwrap(),
            ],
        )
        .env("HUAWEICLOUD_AUTH_TOKEN", token)
        .env_remove("HUAWEICLOUD_SDK_AK")
        .env_remove("HUAWEICLOUD_SDK_SK")
        .output()
        .unwrap();
    assert_eq!(tok.status.code(), Some(0), "{}", stderr(&tok));
    let mut haystack = Vec::new();
    for o in [&out, &bad, &tok] {
        haystack.extend_from_slice(&o.stdout);
        haystack.extend_from_slice(&o.stderr);
    }
    let logs = String::from_utf8_lossy(&haystack).into_owned();
    assert!(
        logs.contains("attempt"),
        "-vv must log per request for this test to mean something"
    );
    assert!(
        !logs.contains("13800138000") && logs.contains("0086-138****8000"),
        "mobiles are masked in logs"
    );
    for entry in walk(fx.dir.path()) {
        haystack.extend(std::fs::read(entry).unwrap());
    }
    let text = String::from_utf8_lossy(&haystack);
    assert!(text.contains("SIMULATED-"), "the files were read");
    assert!(!text.contains(sk), "the SK leaked");
    assert!(!text.contains(token), "the token leaked");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if !p.ends_with("in.csv") {
            out.push(p);
        }
    }
    out
}
