//! Planning the night against the simulator: a budget spent on new values first, stale
//! answers oldest first, a deadline that stops on time with a complete output, `plan` figures
//! that match the run, and the change feed after a simulated registration.

use std::time::{Duration, Instant};

use crate::common::*;
use checkuser::model::{CheckType, Outcome, Source};
use checkuser::sandbox::{truth, Faults, Truth};
use checkuser::store::Reuse;
use checkuser::store::{sqlite, Store};

/// Stores an answer for `key` given `age_secs` ago, as an earlier night would have.
fn seed(store: &mut Store, key: &str, age_secs: i64) {
    let mut o = Outcome::new(key, truth("email", key).result(), Source::Api);
    o.answer = Some(checkuser::model::Answer {
        taken: false,
        uplimit: false,
    });
    o.checked_at = Some(chrono::Utc::now() - chrono::TimeDelta::seconds(age_secs));
    store.record(CheckType::Email, &o).unwrap();
}

fn reuse() -> Reuse {
    Reuse {
        max_age: Duration::from_secs(20 * 3600),
        taken_max_age: Duration::from_secs(30 * 86400),
        refresh: false,
    }
}

#[test]
fn a_small_budget_goes_to_new_values_then_the_oldest_answers() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let old = emails(6);
    let new: Vec<String> = (0..3)
        .map(|i| format!("brand.new{i}@example.com"))
        .collect();
    {
        let mut store = sqlite::store(&fx.state(), sim.scope(), reuse()).unwrap();
        // Stale (older than 20h / 30d), with ages out of input order; one fresh.
        let ages = [
            40 * 86400,
            50 * 86400,
            45 * 86400,
            3600,
            60 * 86400,
            41 * 86400,
        ];
        for (k, age) in old.iter().zip(ages) {
            seed(&mut store, k, age);
        }
        store.commit().unwrap();
    }
    // New values at the end of the file, as a CRM export appends them.
    let mut keys = old.clone();
    keys.extend(new.iter().cloned());
    let input = fx.file("in.csv", email_csv(&keys));
    let out = sim.run_expect(
        &fx,
        &input,
        &[
            "--max-requests",
            "5",
            "--concurrency",
            "1",
            "--taken-max-age",
            "20h",
        ],
        1,
    );
    let sent: Vec<String> = sim
        .sandbox
        .stats
        .entries()
        .iter()
        .map(|e| e.key.clone())
        .collect();
    assert_eq!(sent.len(), 5, "exactly the budget");
    assert_eq!(&sent[..3], &new[..], "new values first, in input order");
    assert_eq!(sent[3], old[4], "then the oldest answer (60 days)");
    assert_eq!(sent[4], old[1], "then the next oldest (50 days)");
    let s = fx.summary();
    assert_eq!(s["stopped_reason"], "max_requests");
    assert_eq!(s["api_requests"], 5);
    assert_eq!(s["exit_code"], 1);
    assert!(stderr(&out).contains("--max-requests 5 reached"));
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(
        column(&h, &rows, "searchKey"),
        keys,
        "every row, in input order"
    );
    let results = column(&h, &rows, "result");
    assert_eq!(
        results[3],
        truth("email", &old[3]).result().as_str(),
        "fresh: from the store"
    );
    assert_eq!(column(&h, &rows, "source")[3], "cache");
    assert_eq!(
        results[0], "pending",
        "stale and not re-asked within the budget"
    );
    assert_eq!(
        column(&h, &rows, "previous_result")[0],
        truth("email", &old[0]).result().as_str()
    );
}

#[test]
fn a_deadline_stops_on_time_with_every_row_written() {
    let sim = Sim::start(Faults {
        latency: Duration::from_millis(100),
        ..no_faults()
    });
    let fx = Fixture::new();
    let keys = emails(60);
    let input = fx.file("in.csv", email_csv(&keys));
    let started = Instant::now();
    sim.run_expect(&fx, &input, &["--rate", "5", "--deadline", "2s"], 1);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "{took:?}");
    let s = fx.summary();
    assert_eq!(s["stopped_reason"], "deadline");
    let sent = sim.requests() as u64;
    assert!(
        (5..=20).contains(&sent),
        "{sent} requests in about 2 s at 5/s"
    );
    // Nothing arrived at the simulator after the deadline plus the in-flight grace.
    let last = sim
        .sandbox
        .stats
        .entries()
        .iter()
        .map(|e| e.arrived)
        .max()
        .unwrap();
    assert!(last < Duration::from_millis(2600), "{last:?}");
    let (h, rows) = read_csv(&fx.path("in.checked.csv"), b',');
    assert_eq!(rows.len(), 60);
    let pending = column(&h, &rows, "result")
        .iter()
        .filter(|r| *r == "pending")
        .count() as u64;
    assert_eq!(pending, 60 - s["api_requests"].as_u64().unwrap());
}

#[test]
fn a_deadline_already_passed_sends_nothing() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let input = fx.file("in.csv", email_csv(&emails(5)));
    for _ in 0..3 {
        sim.run_expect(&fx, &input, &["--deadline", "0s"], 1);
        assert_eq!(fx.summary()["stopped_reason"], "deadline");
        assert_eq!(fx.summary()["pending"], 5);
    }
    assert_eq!(sim.requests(), 0);
}

#[test]
fn plan_figures_match_what_the_run_then_does() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let mut keys = emails(20);
    keys.extend(emails(5)); // duplicates
    keys.push("not-an-email".into());
    let input = fx.file("in.csv", email_csv(&keys));
    {
        let mut store = sqlite::store(&fx.state(), sim.scope(), reuse()).unwrap();
        for (i, k) in keys.iter().take(8).enumerate() {
            seed(&mut store, k, if i < 4 { 60 } else { 90 * 86400 });
        }
        store.commit().unwrap();
    }
    let id = &sim.sandbox.identity;
    let plan = bin(fx.dir.path())
        .env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .args([
            "plan",
            input.to_str().unwrap(),
            "--endpoint",
            &sim.sandbox.endpoint(),
        ])
        .args([
            "--partner-id",
            &id.partner_id,
            "--max-requests",
            "10",
            "--summary-json",
            "-",
        ])
        .arg("--state")
        .arg(fx.state())
        .output()
        .unwrap();
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert_eq!(sim.requests(), 0, "plan sends nothing");
    let p: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(p["rows"], 26);
    assert_eq!(p["invalid"], 1);
    assert_eq!(p["duplicates"], 5);
    assert_eq!(p["plan"]["fresh"], 4);
    assert_eq!(p["plan"]["never_asked"], 12);
    assert_eq!(
        p["plan"]["stale"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        4
    );
    assert_eq!(p["plan"]["requests_needed"], 16);
    assert_eq!(p["plan"]["would_send"], 10);
    assert_eq!(p["plan"]["would_leave_pending"], 6);
    assert!(
        stderr(&plan).contains("16 values need a request"),
        "{}",
        stderr(&plan)
    );
    sim.run_expect(&fx, &input, &[], 0);
    assert_eq!(
        sim.requests() as u64,
        p["plan"]["requests_needed"].as_u64().unwrap()
    );
    assert_eq!(
        fx.summary()["cache_hits"],
        8,
        "4 fresh values, each twice in the input"
    );
}

#[test]
fn a_lead_who_registered_since_last_night_is_in_the_change_feed() {
    let fx = Fixture::new();
    let keys = emails(12);
    let free: Vec<&String> = keys
        .iter()
        .filter(|k| truth("email", k) == Truth::Free)
        .collect();
    let who = free[0].clone();
    let input = fx.file("in.csv", email_csv(&keys));
    let first = Sim::start(no_faults());
    first.run_expect(
        &fx,
        &input,
        &["--changes", fx.path("changes.csv").to_str().unwrap()],
        0,
    );
    let (_, rows) = read_csv(&fx.path("changes.csv"), b',');
    assert!(rows.is_empty(), "nothing changed on the first night");
    assert_eq!(fx.summary()["changed"], 0);
    // The next night, same endpoint: the lead registered; stored answers are stale.
    let port = first.sandbox.addr.port();
    drop(first);
    let second = Sim::start_at(
        Faults {
            registered: vec![who.clone()],
            ..no_faults()
        },
        port,
    );
    let mut cmd = second.run_cmd(&fx, &input, &["--max-age", "1ms", "--taken-max-age", "1ms"]);
    cmd.arg("--changes").arg(fx.path("changes.csv"));
    cmd.arg("-o").arg(fx.path("night2.xlsx"));
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (h, rows) = read_csv(&fx.path("changes.csv"), b',');
    assert_eq!(column(&h, &rows, "searchKey"), std::slice::from_ref(&who));
    // The workbook output has the same rows on a Changes sheet after Results.
    {
        use calamine::{Reader, Xlsx};
        let mut wb: Xlsx<_> = calamine::open_workbook(fx.path("night2.xlsx")).unwrap();
        assert_eq!(wb.sheet_names(), ["Results", "Changes", "Summary"]);
        let changes = wb.worksheet_range("Changes").unwrap();
        let rows: Vec<_> = changes.rows().collect();
        assert_eq!(rows.len(), 2, "header and one changed row");
        assert_eq!(rows[1][1].to_string(), who);
        assert_eq!(
            wb.worksheet_range("Results").unwrap().height(),
            keys.len() + 1
        );
    }
    assert_eq!(column(&h, &rows, "result"), ["taken"]);
    assert_eq!(column(&h, &rows, "previous_result"), ["free"]);
    let s = fx.summary();
    assert_eq!(s["changed"], 1);
    assert_eq!(s["changes"]["free->taken"], 1);
    // An outage the night after is not a change.
    drop(second);
    let down = Sim::start_at(
        Faults {
            fail_first: 100,
            ..no_faults()
        },
        port,
    );
    down.run_expect(
        &fx,
        &input,
        &[
            "--max-age",
            "1ms",
            "--taken-max-age",
            "1ms",
            "--max-attempts",
            "1",
        ],
        2,
    );
    assert_eq!(fx.summary()["changed"], 0);
}

/// A run that received a change and then died (kill -9, a full disk under `-o`) loses nothing:
/// the change was stored with its answer, and the next run whose outputs are written reports
/// it (summary, `--changes`), though it answers the value from the store. Once only.
#[test]
fn a_change_received_by_a_run_that_died_is_reported_by_the_next_run_once() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let keys = emails(3);
    let key = &keys[0];
    {
        let mut store = sqlite::store(&fx.state(), sim.scope(), reuse()).unwrap();
        let mut was = Outcome::new(
            key.as_str(),
            checkuser::model::ResultKind::Free,
            Source::Api,
        );
        was.checked_at = Some(chrono::Utc::now() - chrono::TimeDelta::days(3));
        store.record(CheckType::Email, &was).unwrap();
        // The dead run's answer: a change, recorded, never reported.
        let mut now = Outcome::new(
            key.as_str(),
            checkuser::model::ResultKind::Taken,
            Source::Api,
        );
        now.checked_at = Some(chrono::Utc::now() - chrono::TimeDelta::minutes(10));
        assert!(store.record(CheckType::Email, &now).unwrap().change);
        store.commit().unwrap();
    }
    let input = fx.file("in.csv", email_csv(&keys));
    let changes = fx.path("changes.csv");
    let args = ["--changes", changes.to_str().unwrap()];
    sim.run_expect(&fx, &input, &args, 0);
    assert_eq!(fx.summary()["changed"], 1, "{}", fx.summary());
    let (h, rows) = read_csv(&changes, b',');
    assert_eq!(column(&h, &rows, "searchKey"), std::slice::from_ref(key));
    assert_eq!(column(&h, &rows, "source"), ["cache"]);
    assert_eq!(column(&h, &rows, "previous_result"), ["free"]);
    sim.run_expect(&fx, &input, &args, 0);
    assert_eq!(fx.summary()["changed"], 0, "reported once per store");
}

#[test]
fn plan_needs_no_credentials_only_what_keys_the_store() {
    let sim = Sim::start(no_faults());
    let fx = Fixture::new();
    let keys = emails(6);
    let input = fx.file("in.csv", email_csv(&keys));
    {
        let mut store = sqlite::store(&fx.state(), sim.scope(), reuse()).unwrap();
        for k in keys.iter().take(2) {
            seed(&mut store, k, 60);
        }
        store.commit().unwrap();
    }
    let partner = sim.sandbox.identity.partner_id.clone();
    let plan = |env: &[(&str, &str)], extra: &[&str]| {
        let mut c = bin(fx.dir.path());
        c.envs(env.iter().copied())
            .args(["plan", input.to_str().unwrap()])
            .args(["--endpoint", &sim.sandbox.endpoint()])
            .args(["--summary-json", "-", "--state"])
            .arg(fx.state())
            .args(extra);
        c.output().unwrap()
    };
    for (env, extra) in [
        (vec![], vec!["--partner-id", partner.as_str()]),
        (vec![("HUAWEICLOUD_PARTNER_ID", partner.as_str())], vec![]),
        (
            vec![("HUAWEICLOUD_SDK_DOMAIN_ID", partner.as_str())],
            vec![],
        ),
    ] {
        let out = plan(&env, &extra);
        assert_eq!(out.status.code(), Some(0), "{env:?}: {}", stderr(&out));
        let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(p["plan"]["fresh"], 2, "{env:?}: keyed like the run");
        assert_eq!(p["plan"]["never_asked"], 4);
    }
    // A --ca-cert is not read either: nothing is sent.
    let out = plan(
        &[],
        &["--partner-id", &partner, "--ca-cert", "/nonexistent.pem"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // With no account at all, the error says what keys the store, not "no credentials".
    let out = plan(&[], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("--partner-id") && !err.contains("no credentials"),
        "{err}"
    );
    assert_eq!(sim.requests(), 0);
}
