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

/// Installs the handlers now (call it inside the runtime, before any work starts) and returns
/// a token cancelled at the first SIGINT, SIGTERM or SIGHUP. A second Ctrl-C (SIGINT) removes
/// temporary files, calls `last_words` (which leaves a trace for monitoring) and exits with 130
/// at once. A repeated SIGTERM or SIGHUP is the same request again, not a person in a hurry:
/// `timeout` signals its child and a wrapper script forwards the signal too, and a night's
/// output must not be lost to that.
pub fn interrupts(
    last_words: impl FnOnce() + Send + 'static,
) -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let first = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let streams = [
            SignalKind::interrupt(),
            SignalKind::terminate(),
            SignalKind::hangup(),
        ]
        .map(signal);
        if let [Ok(mut int), Ok(mut term), Ok(mut hup)] = streams {
            tokio::spawn(async move {
                loop {
                    let ctrl_c = tokio::select! {
                        _ = int.recv() => true,
                        _ = term.recv() => false,
                        _ = hup.recv() => false,
                    };
                    if !first.is_cancelled() {
                        tracing::warn!("interrupted: finishing the requests in flight and writing the output (press Ctrl-C again to quit at once)");
                        first.cancel();
                    } else if ctrl_c {
                        break;
                    } else {
                        tracing::warn!(
                            "stopping already: finishing the output (Ctrl-C quits at once)"
                        );
                    }
                }
                crate::output::atomic::remove_temporary_files();
                crate::commands::report::eprint_quietly(
                    "checkuser: interrupted twice: exiting now\n",
                );
                last_words();
                std::process::exit(crate::model::ExitCode::Interrupted.code());
            });
        }
    }
    token
}
