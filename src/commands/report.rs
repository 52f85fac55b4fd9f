//! The end of every job command, success or failure: the human summary on stderr, the JSON
//! summary and the metrics file when asked (written on failures too, so that a cron job that
//! failed early still leaves a trace), and the exit code. A closed standard output (`| head`)
//! ends quietly.

use std::path::PathBuf;

use crate::cli::InputArgs;
use crate::model::ExitCode;
use crate::output::Summary;

/// Where the figures go, known from the flags alone (before any configuration is checked).
#[derive(Clone)]
pub struct Reports {
    pub command: &'static str,
    pub input: String,
    pub summary_json: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    pub quiet: bool,
    /// False when a report path names the input or another output: then nothing is written,
    /// even on failure (the refusal itself is the error reported).
    safe: bool,
    /// When the command started, for a summary written without the job's own.
    started: (String, std::time::Instant),
}

impl Reports {
    /// `changes` is `run`'s `--changes`, if any.
    pub fn new(
        command: &'static str,
        args: &InputArgs,
        changes: Option<&std::path::Path>,
        quiet: bool,
    ) -> Reports {
        let a = &args.list;
        let input = (args.input.as_os_str() != "-").then_some(args.input.as_path());
        // The output as the flags name it, or both names the default could take.
        let outputs: Vec<PathBuf> = match (&a.output, input) {
            (Some(o), _) => vec![o.clone()],
            (None, Some(i)) => [crate::output::Format::Csv, crate::output::Format::Xlsx]
                .into_iter()
                .map(|f| crate::config::default_output(i, f, crate::config::Naming::of(command)))
                .collect(),
            (None, None) => vec![PathBuf::from("-")],
        };
        let read: Vec<(&str, &std::path::Path)> =
            input.map(|i| ("the input file", i)).into_iter().collect();
        let reports = [
            ("--summary-json", a.summary_json.as_deref()),
            ("--metrics-file", a.metrics_file.as_deref()),
        ];
        let safe = crate::config::check_writable(&reports).is_ok()
            && outputs.iter().all(|o| {
                let mut all = vec![("-o", Some(o.as_path())), ("--changes", changes)];
                all.extend(reports);
                crate::config::check_targets(&read, &all).is_ok()
            });
        Reports {
            safe,
            command,
            input: args.input.display().to_string(),
            summary_json: a.summary_json.clone(),
            metrics_file: a.metrics_file.clone(),
            quiet,
            started: (
                crate::model::rfc3339(chrono::Utc::now()),
                std::time::Instant::now(),
            ),
        }
    }

    /// A summary of this command without its figures (it failed, or was cut short).
    fn without_figures(&self, exit_code: i32, message: String) -> Summary {
        let mut s = Summary {
            command: self.command,
            input: self.input.clone(),
            stop_message: Some(message),
            exit_code,
            started_at: self.started.0.clone(),
            elapsed_seconds: self.started.1.elapsed().as_secs_f64(),
            figures_unknown: true,
            ..Summary::started()
        };
        s.finished();
        s
    }

    /// Reports the outcome and returns the exit code.
    pub fn finish(&self, result: anyhow::Result<Summary>) -> ExitCode {
        self.finish_then(result, |_| {})
    }

    /// Reports the outcome, hands the summary as written to `then` (a failure's too), and
    /// returns the exit code.
    pub fn finish_then(
        &self,
        result: anyhow::Result<Summary>,
        then: impl FnOnce(&Summary),
    ) -> ExitCode {
        let mut summary = match result {
            Ok(s) => s,
            Err(e) if is_broken_pipe(&e) => return ExitCode::BrokenPipe,
            Err(e) => {
                eprint_quietly(&format!("checkuser: error: {e:#}\n"));
                let failed = self.without_figures(ExitCode::Failed.code(), format!("{e:#}"));
                self.write_files(&failed, true);
                then(&failed);
                return ExitCode::Failed;
            }
        };
        summary.finished();
        if !self.quiet {
            eprint_quietly(&summary.human());
        }
        if self.write_files(&summary, true) {
            then(&summary);
            return exit_code_of(&summary);
        }
        // One of the two could not be written: the other must not say all went well.
        summary.exit_code = ExitCode::Failed.code();
        summary.stop_message = Some("the summary or the metrics could not be written".into());
        self.write_files(&summary, false);
        then(&summary);
        ExitCode::Failed
    }

    /// After a second interrupt, on the way out: the summary and metrics say the run was
    /// interrupted and unfinished, so that monitoring does not keep the previous night's
    /// figures. This run's own figures are not known here.
    pub fn abandoned(&self) {
        let message = "interrupted twice: exited at once, the output unfinished; this run's \
                       figures are unknown";
        let mut s = self.without_figures(ExitCode::Interrupted.code(), message.into());
        s.stopped_reason = Some(crate::output::summary::StopReason::Interrupted);
        self.write_files(&s, true);
    }

    /// Writes the JSON summary and the metrics; false (after saying why, if `say`) if one
    /// failed.
    fn write_files(&self, s: &Summary, say: bool) -> bool {
        if !self.safe {
            return false;
        }
        let mut ok = true;
        if let Some(p) = &self.summary_json {
            if let Err(e) = s.write_json(p) {
                ok &= is_broken_pipe(&e);
                if say {
                    eprint_quietly(&format!("checkuser: error: {e:#}\n"));
                }
            }
        }
        if let Some(p) = &self.metrics_file {
            if let Err(e) = crate::output::metrics::write(p, s) {
                ok = false;
                if say {
                    eprint_quietly(&format!("checkuser: error: {e:#}\n"));
                }
            }
        }
        ok
    }
}

/// The summary's exit code as the one type.
fn exit_code_of(s: &Summary) -> ExitCode {
    match s.exit_code {
        0 => ExitCode::Ok,
        1 => ExitCode::Unfinished,
        130 => ExitCode::Interrupted,
        _ => ExitCode::Failed,
    }
}

/// A command with no summary: its exit code, or 2 after printing the error.
pub fn plain(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::BrokenPipe,
        Err(e) => {
            eprint_quietly(&format!("checkuser: error: {e:#}\n"));
            ExitCode::Failed
        }
    }
}

/// True if the error comes from writing to a pipe whose reader has gone (`| head -1`).
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<csv::Error>().is_some_and(|ce| {
                matches!(ce.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
            })
    })
}

/// stderr may be gone too (a closed terminal): never panic over a message.
pub fn eprint_quietly(s: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(s.as_bytes());
}
