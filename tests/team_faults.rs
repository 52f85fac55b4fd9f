//! Team mode under the timings a team really sees, against a real PostgreSQL and the simulator
//! at the gateway's rate: runs started together and staggered on one list, a run frozen
//! (SIGSTOP) past its lease and within it, a clock 30 s behind (`faketime`). Each test counts
//! the requests per key and per second at the simulator, not only the rows written.

mod common;
#[path = "common/pg.rs"]
mod pg;
#[path = "common/teams.rs"]
mod teams;

use std::process::{Child, Command};
use std::time::Duration;

use checkuser::sandbox::Faults;
use common::*;
use teams::*;

/// A faster gateway, for the tests that need many keys.
const FAST: f64 = 20.0;

fn fast_gateway() -> Faults {
    Faults {
        throttle: FAST,
        ..no_faults()
    }
}

/// Every key asked exactly once at the simulator, none throttled, the rate kept.
fn assert_once(sim: &Sim, keys: &[String], rate: f64) {
    assert_once_but(sim, keys, rate, Duration::ZERO, 0);
}

/// The same, except that up to `lost` keys whose answer had arrived before `frozen` (sim time)
/// may be asked once more after it: a run frozen past its lease is, to its team, a run that
/// died with the answers it had not yet recorded (at most a fraction of a second's worth).
fn assert_once_but(sim: &Sim, keys: &[String], rate: f64, frozen: Duration, lost: usize) {
    let entries = sim.sandbox.stats.entries();
    let excused = keys
        .iter()
        .filter(|k| {
            let times: Vec<Duration> = entries
                .iter()
                .filter(|e| &e.key == *k)
                .map(|e| e.arrived)
                .collect();
            times.len() == 2 && times.iter().filter(|t| **t <= frozen).count() == 1
        })
        .count();
    assert!(excused <= lost, "{excused} answers lost in the freeze");
    let twice: Vec<&String> = keys
        .iter()
        .filter(|k| sim.sandbox.stats.requests_for(k) != 1)
        .collect();
    let twice: Vec<&String> = match lost {
        0 => twice,
        _ => twice
            .into_iter()
            .filter(|k| {
                let before = entries
                    .iter()
                    .filter(|e| &e.key == *k && e.arrived <= frozen)
                    .count();
                !(sim.sandbox.stats.requests_for(k) == 2 && before == 1)
            })
            .collect(),
    };
    let when: Vec<(String, Duration, u16)> = sim
        .sandbox
        .stats
        .entries()
        .iter()
        .filter(|e| twice.contains(&&e.key))
        .map(|e| (e.key.clone(), e.arrived, e.http_status))
        .collect();
    assert!(
        twice.is_empty(),
        "{} keys not asked exactly once: {when:?}",
        twice.len()
    );
    assert_eq!(throttled(sim), 0, "no 429");
    let peak = peak_per_second(sim);
    assert!(peak <= rate as usize, "{peak} requests within one second");
}

fn finish(children: Vec<(Child, std::path::PathBuf)>, keys: &[String]) {
    for (child, out) in children {
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_true_answers(&out, "email", keys);
    }
}

fn with_rate(mut c: Command, rate: f64) -> Command {
    c.args(["--rate", &rate.to_string()]);
    c
}

#[test]
fn four_runs_on_one_list_together_or_staggered_ask_each_key_once() {
    let Some(db) = pg::Cluster::start() else {
        return;
    };
    let url = db.database();
    let sim = Sim::start(fast_gateway());
    let fx = Fixture::new();
    for (phase, stagger) in [("together", 0), ("staggered", 700)] {
        let keys: Vec<String> = (0..60).map(|i| format!("{phase}{i}@example.com")).collect();
        let input = fx.file(&format!("{phase}.csv"), email_csv(&keys));
        let runs: Vec<(Child, std::path::PathBuf)> = (0..4)
            .map(|i| {
                std::thread::sleep(Duration::from_millis(stagger));
                let out = fx.path(&format!("{phase}{i}.out.csv"));
                let cmd = with_rate(team_cmd(&sim, &fx, &input, &url, &out), FAST);
                (spawn(cmd), out)
            })
            .collect();
        finish(runs, &keys);
        assert_once(&sim, &keys, FAST);
    }
    assert_eq!(
        pg::query(&url, "SELECT 1 FROM claims WHERE answered_at IS NULL").len(),
        0,
        "no claim left open"
    );
}

/// A member frozen (a closed laptop lid) for longer than its lease while it holds claims: a
/// teammate asks those keys once the lease ends, and the frozen one, woken, sends none of them.
#[test]
fn a_run_frozen_past_its_lease_sends_nothing_a_teammate_asked() {
    frozen_for(Duration::from_secs(27));
}

/// A freeze shorter than the lease: the slots that passed meanwhile are not spent late (no
/// burst at wake-up), and nothing is asked twice.
#[test]
fn a_run_frozen_within_its_lease_neither_bursts_nor_asks_twice() {
    frozen_for(Duration::from_secs(8));
}

fn frozen_for(freeze: Duration) {
    let Some(db) = pg::Cluster::start() else {
        return;
    };
    let url = db.database();
    let sim = Sim::start(gateway());
    let fx = Fixture::new();
    let keys = emails(30);
    let input = fx.file("in.csv", email_csv(&keys));
    let (a_out, b_out) = (fx.path("a.csv"), fx.path("b.csv"));
    let a = spawn(team_cmd(&sim, &fx, &input, &url, &a_out));
    std::thread::sleep(Duration::from_millis(2000));
    signal(&a, libc::SIGSTOP);
    // Anything that arrives from now on was sent after the freeze began.
    std::thread::sleep(Duration::from_millis(50));
    let frozen = sim.sandbox.stats.entries().last().map(|e| e.arrived);
    let b = spawn(team_cmd(&sim, &fx, &input, &url, &b_out));
    std::thread::sleep(freeze);
    signal(&a, libc::SIGCONT);
    finish(vec![(a, a_out), (b, b_out)], &keys);
    // At most the answers received in the last statement's window before the freeze.
    assert_once_but(&sim, &keys, GATEWAY, frozen.unwrap_or_default(), 2);
}

/// A member whose clock is 30 s behind uses its teammates' answers: times shared between
/// machines are the database's.
#[test]
fn a_clock_30_s_behind_asks_nothing_a_teammate_answered() {
    let Some(db) = pg::Cluster::start() else {
        return;
    };
    if std::process::Command::new("faketime")
        .arg("--version")
        .output()
        .is_err()
    {
        let why = "skipped: faketime is not installed (apt-get install faketime)";
        if std::env::var_os("CHECKUSER_REQUIRE_POSTGRES").is_some() {
            panic!("{why}");
        }
        eprintln!("{why}");
        return;
    }
    let url = db.database();
    let sim = Sim::start(fast_gateway());
    let fx = Fixture::new();
    let keys = emails(50);
    let input = fx.file("in.csv", email_csv(&keys));
    let behind = |out: &std::path::Path| {
        let cmd = with_rate(team_cmd(&sim, &fx, &input, &url, out), FAST);
        let mut skewed = Command::new("faketime");
        skewed.arg("-f").arg("-30s").arg(cmd.get_program());
        skewed.args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => skewed.env(k, v),
                None => skewed.env_remove(k),
            };
        }
        skewed
    };
    // Together: one on time, one behind.
    let (a_out, b_out) = (fx.path("a.csv"), fx.path("b.csv"));
    let a = spawn(with_rate(team_cmd(&sim, &fx, &input, &url, &a_out), FAST));
    let b = spawn(behind(&b_out));
    finish(vec![(a, a_out), (b, b_out)], &keys);
    assert_once(&sim, &keys, FAST);
    // After them, a run behind asks nothing at all: the answers are fresh on the database's clock.
    let before = sim.requests();
    let c_out = fx.path("c.csv");
    finish(vec![(spawn(behind(&c_out)), c_out)], &keys);
    assert_eq!(sim.requests(), before, "nothing asked again");
}
