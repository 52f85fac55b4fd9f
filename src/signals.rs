//! Ctrl-C (SIGINT), SIGTERM (cron, systemd) and SIGHUP (a closed terminal, a dropped SSH
//! session): the first asks the run to stop and finish its output; a second one exits at once
//! (the output already written stays valid, temporary files are removed). Also the process
//! settings that protect secrets and files: no core dumps, SIGXFSZ ignored.

/// Turns off core dumps (the SK is in memory) and makes an over-size write an error instead of
/// a signal that kills the process before it can clean up (`ulimit -f`).
pub fn harden_process() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) and signal(SIGXFSZ, SIG_IGN) change only this
    // process's settings and take no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    #[cfg(unix)]
    // SAFETY: as above.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Resolves at the first SIGINT, SIGTERM or SIGHUP; arranges for the second to exit with 130.
pub async fn first_interrupt() {
    wait_one().await;
    tracing::warn!("interrupted: finishing the requests in flight and writing the output (press Ctrl-C again to quit at once)");
    tokio::spawn(async {
        wait_one().await;
        crate::output::atomic::remove_temporary_files();
        eprintln!("checkuser: interrupted twice: exiting now");
        std::process::exit(130);
    });
}

async fn wait_one() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
