//! `checkuser sandbox`: the simulator served by hand on 127.0.0.1, with its identity printed.

use crate::model::ExitCode;
use anyhow::Result;

use crate::cli;

/// `checkuser sandbox`: serve the simulator until Ctrl-C, after saying how to use it.
pub async fn run(a: &cli::SandboxArgs) -> Result<ExitCode> {
    let sb = crate::sandbox::Sandbox::start(
        crate::sandbox::Identity::builtin(),
        crate::config::faults(&a.faults)?,
        a.port,
    )
    .await?;
    let id = &sb.identity;
    println!("checkuser sandbox: a simulator of the partner API (answers are not real)");
    println!("  endpoint:   {}", sb.endpoint());
    println!("  partner id: {}", id.partner_id);
    println!("  AK / SK:    {} / {}", id.ak, id.sk);
    println!("  IAM token:  {}", id.token);
    println!("Try it from another terminal:");
    println!(
        "  HUAWEICLOUD_SDK_AK={} HUAWEICLOUD_SDK_SK={} checkuser run samples/leads.csv --endpoint {} --partner-id {} --state /tmp/checkuser-sandbox.sqlite",
        id.ak, id.sk, sb.endpoint(), id.partner_id
    );
    println!("Press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    let n = sb.stats.entries().len();
    println!(
        "sandbox: served {}",
        crate::output::summary::count(n as u64, "request")
    );
    Ok(ExitCode::Ok)
}
