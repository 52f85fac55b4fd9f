//! Ctrl-C (SIGINT) and SIGTERM (cron, systemd): the first asks the run to stop and finish its
//! output; a second one exits at once (the output already written stays valid).

/// Resolves at the first SIGINT or SIGTERM; arranges for the second to exit with 130.
pub async fn first_interrupt() {
    wait_one().await;
    tracing::warn!("interrupted: finishing the requests in flight and writing the output (press Ctrl-C again to quit at once)");
    tokio::spawn(async {
        wait_one().await;
        eprintln!("checkuser: interrupted twice: exiting now");
        std::process::exit(130);
    });
}

async fn wait_one() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
