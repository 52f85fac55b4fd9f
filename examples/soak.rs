//! Kill-and-resume soak: runs the real binary against the simulator, SIGKILLs it at seeded
//! random moments, reruns until it exits 0, then checks that nothing was lost or asked twice
//! beyond what the kills explain. Run it with `scripts/soak.sh` (a short version is a test).
//!
//! usage: soak [ROWS] [KILLS] [SEED]   (binary from $CHECKUSER_BIN or target/release/checkuser)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use checkuser::sandbox::{truth, Faults, Identity, Sandbox};
use rand::{Rng, SeedableRng};

const CONCURRENCY: usize = 8;
const RATE: f64 = 400.0;

fn main() -> Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let rows = *args.first().unwrap_or(&3000) as usize;
    let kills = *args.get(1).unwrap_or(&15) as usize;
    let seed = *args.get(2).unwrap_or(&7);
    let bin = std::env::var("CHECKUSER_BIN").unwrap_or_else(|_| "target/release/checkuser".into());
    let rt = tokio::runtime::Runtime::new()?;
    let faults = Faults {
        transient: 0.02,
        jitter: Duration::from_millis(4),
        seed: Some(seed),
        ..Faults::default()
    };
    let sim = rt.block_on(Sandbox::start(Identity::builtin(), faults, 0))?;
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("leads.csv");
    let output = dir.path().join("leads.checked.csv");
    let keys: Vec<String> = (0..rows)
        .map(|i| format!("soak{i:06}@example{}.com", i % 50))
        .collect();
    let mut text = String::from("searchType,searchKey\n");
    keys.iter()
        .for_each(|k| text.push_str(&format!("email,{k}\n")));
    std::fs::write(&input, text)?;
    let cmd = || {
        let mut c = Command::new(&bin);
        c.env("HUAWEICLOUD_SDK_AK", &sim.identity.ak)
            .env("HUAWEICLOUD_SDK_SK", &sim.identity.sk)
            .arg("run")
            .arg(&input)
            .args([
                "--endpoint",
                &sim.endpoint(),
                "--partner-id",
                &sim.identity.partner_id,
            ])
            .arg("--state")
            .arg(dir.path().join("state.sqlite"))
            .args([
                "--rate",
                &RATE.to_string(),
                "--concurrency",
                &CONCURRENCY.to_string(),
                "-q",
            ])
            .arg("--summary-json")
            .arg(dir.path().join("summary.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut done_early = false;
    for k in 0..kills {
        let mut child = cmd().spawn().context("cannot start checkuser")?;
        std::thread::sleep(Duration::from_millis(rng.random_range(30..600)));
        if child.try_wait()?.is_some() {
            done_early = true;
            println!("run {k} finished before its kill");
            break;
        }
        child.kill()?;
        child.wait()?;
        if output.exists() {
            let n = csv::Reader::from_path(&output)?.records().count();
            ensure!(
                n == rows,
                "after kill {k}: the output exists with {n} of {rows} rows"
            );
        }
    }
    let mut final_runs = 0;
    loop {
        final_runs += 1;
        let status = cmd().status()?;
        if status.code() == Some(0) {
            break;
        }
        ensure!(
            final_runs < 5,
            "no clean run after {final_runs} attempts: {status}"
        );
    }
    let mut rdr = csv::Reader::from_path(&output)?;
    let header = rdr.headers()?.clone();
    let key_col = header
        .iter()
        .position(|h| h == "searchKey")
        .context("searchKey")?;
    let res_col = header
        .iter()
        .position(|h| h == "result")
        .context("result")?;
    let mut n = 0;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec?;
        ensure!(
            rec.get(key_col) == Some(keys[i].as_str()),
            "row {i} out of order"
        );
        let want = truth("email", &keys[i]).result();
        ensure!(
            rec.get(res_col) == Some(want.as_str()),
            "row {i}: {:?} but the truth is {want}",
            rec.get(res_col)
        );
        n += 1;
    }
    ensure!(n == rows, "{n} rows in the output, {rows} in the input");
    let entries = sim.stats.entries();
    let mut per_key = std::collections::HashMap::<&str, usize>::new();
    for e in &entries {
        if e.code != "CBC.0999" {
            *per_key.entry(e.key.as_str()).or_default() += 1;
        }
    }
    let repeated: usize = per_key.values().map(|v| v.saturating_sub(1)).sum();
    // Per kill: the requests in flight, plus the answers of one commit window (50 ms).
    let per_kill = CONCURRENCY + (RATE * 0.05).ceil() as usize + 1;
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json"))?)?;
    ensure!(
        summary["checks"].as_u64() == Some(rows as u64),
        "summary checks"
    );
    ensure!(
        summary["free"].as_u64().unwrap_or(0) + summary["taken"].as_u64().unwrap_or(0)
            == rows as u64,
        "summary results"
    );
    println!(
        "rows {rows}, kills {kills}{}, final runs {final_runs}, wall {:.1}s",
        if done_early { " (finished early)" } else { "" },
        started.elapsed().as_secs_f64()
    );
    println!("requests {} (answers {}), repeated answered keys {repeated} (bound {} = {kills} kills x {per_kill})", entries.len(), per_key.values().sum::<usize>(), kills * per_kill);
    println!(
        "last run: {} checks from the store, {} requests",
        summary["cache_hits"], summary["api_requests"]
    );
    if repeated > kills * per_kill {
        bail!("{repeated} keys were answered more than once: more than the kills explain");
    }
    println!("ok: every row present, in order, with the simulator's answer");
    Ok(())
}
