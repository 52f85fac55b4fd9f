//! What the team-mode tests share: a `run` on a PostgreSQL store against the simulator, and
//! what the simulator saw (requests per second, 429s).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use checkuser::sandbox::Faults;

use super::common::*;

/// The gateway's limit, as the real one counts it.
pub const GATEWAY: f64 = 5.0;

pub fn team_cmd(sim: &Sim, fx: &Fixture, input: &Path, url: &str, out: &Path) -> Command {
    let id = &sim.sandbox.identity;
    let mut c = bin(fx.dir.path());
    c.env("HUAWEICLOUD_SDK_AK", &id.ak)
        .env("HUAWEICLOUD_SDK_SK", &id.sk)
        .arg("run")
        .arg(input)
        .args(["--endpoint", &sim.sandbox.endpoint()])
        .args(["--partner-id", &id.partner_id])
        .args([
            "--state",
            url,
            "--progress",
            "never",
            "--backoff-base",
            "5ms",
        ])
        .arg("-o")
        .arg(out);
    c
}

pub fn spawn(mut c: Command) -> Child {
    c.stderr(Stdio::piped()).spawn().unwrap()
}

/// The most requests that arrived within any one second.
pub fn peak_per_second(sim: &Sim) -> usize {
    let mut at: Vec<Duration> = sim
        .sandbox
        .stats
        .entries()
        .iter()
        .map(|e| e.arrived)
        .collect();
    at.sort();
    (0..at.len())
        .map(|i| {
            at[i..]
                .iter()
                .take_while(|&&t| t < at[i] + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

pub fn throttled(sim: &Sim) -> usize {
    sim.sandbox
        .stats
        .entries()
        .iter()
        .filter(|e| e.http_status == 429)
        .count()
}

pub fn gateway() -> Faults {
    Faults {
        throttle: GATEWAY,
        ..no_faults()
    }
}
