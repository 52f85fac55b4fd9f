//! Raw flags become a validated configuration here, in one place; nothing below this module
//! sees `cli` types (tests/layers.rs checks it). Errors name the flag and say what would be
//! accepted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cli::{FaultArgs, InputArgs, ListArgs, LogArgs, RunArgs, SendArgs};
use crate::input::reader::DEFAULT_RECORD_CAP;
use crate::input::sniff::encoding_from_label;
use crate::input::{CheckSpec, InputOptions};
use crate::normalize::{DefaultCountry, Rules};
use crate::output::Display;
use crate::output::Format;
use crate::sandbox::Faults;

pub mod deadline;
pub mod serve;
pub mod target;
pub mod tools;

pub use deadline::parse_deadline;
pub use target::Target;

/// Everything the reading and writing half of a job needs (shared by `run` and `validate`).
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub input: InputOptions,
    pub specs: Vec<CheckSpec>,
    pub rules: Rules,
    /// `None` writes to standard output.
    pub output: Option<PathBuf>,
    pub format: Format,
    /// `--bom` (`Some(true)`) or `--no-bom` (`Some(false)`); `None` decides by where a CSV goes
    /// ([`crate::output::csv::wants_bom`]).
    pub bom: Option<bool>,
    pub escape_formulas: bool,
    pub summary_json: Option<PathBuf>,
    pub display: Display,
    /// `--header-row`: the 1-based row holding the column names; `None` is row 1, and an
    /// error then names a later row that holds the columns asked for.
    pub header_row: Option<u64>,
    /// `--columns`: the result columns of a CSV output.
    pub columns: crate::output::Columns,
    /// The same output written a second time, in the other format (CSV or workbook), here:
    /// `serve` keeps both, for downloads in either (`?format=`). Its changes get a twin too.
    pub twin: Option<PathBuf>,
}

/// What a command's default output is called: `<stem>.checked.csv` for a run,
/// `<stem>.validated.csv` for `validate`, so that validating a list never replaces a run's
/// answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Checked,
    Validated,
}

impl Naming {
    /// The naming of a command's outputs (`validate`, else a run's).
    pub fn of(command: &str) -> Naming {
        match command {
            "validate" => Naming::Validated,
            _ => Naming::Checked,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Naming::Checked => "checked",
            Naming::Validated => "validated",
        }
    }
}

impl From<&LogArgs> for Display {
    fn from(a: &LogArgs) -> Display {
        Display {
            quiet: a.quiet,
            verbose: a.verbose,
            progress: a.progress,
            log_pii: a.log_pii,
        }
    }
}

impl JobConfig {
    /// `writes_output` is false for `plan`, which reads the input and writes only its summary:
    /// where the output would go is then not its concern.
    pub fn from_args(a: &InputArgs, log: &LogArgs, writes_output: bool) -> Result<JobConfig> {
        JobConfig::named(a, log, writes_output, Naming::Checked)
    }

    /// For `validate`: its default output is `<stem>.validated.csv`.
    pub fn for_validate(a: &InputArgs, log: &LogArgs) -> Result<JobConfig> {
        JobConfig::named(a, log, true, Naming::Validated)
    }

    fn named(
        args: &InputArgs,
        log: &LogArgs,
        writes_output: bool,
        naming: Naming,
    ) -> Result<JobConfig> {
        let (a, path) = (&args.list, &args.input);
        let stdin = path.as_os_str() == "-";
        let encoding = match &a.encoding {
            Some(label) => Some(encoding_from_label(label).context("--encoding")?),
            None => None,
        };
        let default_country = match &a.default_country {
            Some(s) => Some(
                s.parse::<DefaultCountry>()
                    .map_err(anyhow::Error::msg)
                    .context("--default-country")?,
            ),
            None => None,
        };
        let named_xlsx = a
            .output
            .as_deref()
            .is_some_and(|p| Format::of_path(p) == Format::Xlsx);
        let workbook_in = !stdin && crate::input::workbook::is_workbook(path);
        let format = a
            .format
            .unwrap_or(if named_xlsx || (workbook_in && a.output.is_none()) {
                Format::Xlsx
            } else {
                Format::Csv
            });
        let output = match &a.output {
            Some(p) if p.as_os_str() == "-" => None,
            Some(p) => Some(p.clone()),
            None if stdin => None,
            None => Some(default_output(path, format, naming)),
        };
        if a.output.is_none() && !stdin && writes_output {
            shared_default_output(path, format, naming)?;
        }
        if output.is_none() && format == Format::Xlsx {
            bail!("a workbook cannot go to standard output: pass -o NAME.xlsx");
        }
        let input = [("the input file", path.as_path())];
        let outputs = [
            ("-o", output.as_deref().or(Some(Path::new("-")))),
            ("--summary-json", a.summary_json.as_deref()),
            ("--metrics-file", a.metrics_file.as_deref()),
        ];
        check_targets(if stdin { &[] } else { &input }, &outputs)?;
        // `plan` writes no output: where it would go is not its concern.
        let written: Vec<_> = outputs
            .into_iter()
            .filter(|(flag, _)| writes_output || *flag != "-o")
            .collect();
        check_writable(&written)?;
        Ok(JobConfig {
            input: InputOptions {
                path: (!stdin).then(|| path.clone()),
                delimiter: a.delimiter,
                encoding,
                record_cap: DEFAULT_RECORD_CAP,
                sheet: a.sheet.clone(),
                region: crate::input::sniff::locale_region(|k| std::env::var(k).ok()),
            },
            specs: a.checks.clone(),
            rules: Rules {
                default_country,
                mobile_types: a.mobile_types,
            },
            output,
            format,
            bom: bom_asked(a.bom, a.no_bom),
            escape_formulas: !a.no_escape_formulas,
            summary_json: a.summary_json.clone(),
            display: log.into(),
            header_row: a.header_row,
            columns: a.columns,
            twin: None,
        })
    }

    /// True if the input is a regular file, the only kind that can be read more than once
    /// (standard input, a pipe or a FIFO cannot).
    pub fn input_is_regular_file(&self) -> bool {
        self.input
            .path
            .as_ref()
            .is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
    }

    /// How the input is named in messages and the summary.
    pub fn input_label(&self) -> String {
        self.input
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into())
    }

    /// How the output is named in messages and the summary.
    pub fn output_label(&self) -> String {
        self.output
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into())
    }
}

/// `<input stem>.checked.csv` (or `.xlsx`; `.validated.` for `validate`) beside the input.
pub fn default_output(input: &Path, format: Format, naming: Naming) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    input.with_file_name(format!("{stem}.{}.{}", naming.word(), format.extension()))
}

/// Extensions of the lead lists a folder may hold side by side.
const LIST_EXTENSIONS: [&str; 7] = ["csv", "tsv", "txt", "xlsx", "xlsm", "xls", "ods"];

/// Refuses a default output that another lead list beside the input would also get: `a.xlsx`
/// and `a.ods` both make `a.checked.xlsx` (as `a.csv` and `a.tsv` make `a.checked.csv`), and
/// the second run would silently replace the first one's results. Checked before anything is
/// read or sent; `-o` names the output and ends the ambiguity.
fn shared_default_output(input: &Path, format: Format, naming: Naming) -> Result<()> {
    let (Some(name), Some(stem)) = (input.file_name(), input.file_stem()) else {
        return Ok(());
    };
    let dir = match input.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let is_list = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| LIST_EXTENSIONS.iter().any(|l| l.eq_ignore_ascii_case(e)))
    };
    let mine = default_output(input, format, naming);
    for other in entries.flatten().map(|e| e.path()) {
        if other.file_name() == Some(name)
            || other.file_stem() != Some(stem)
            || !is_list(&other)
            || !other.is_file()
        {
            continue;
        }
        let theirs = match crate::input::workbook::is_workbook(&other) {
            true => Format::Xlsx,
            false => Format::Csv,
        };
        if default_output(&other, theirs, naming).file_name() == mine.file_name() {
            let ext = input
                .extension()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default();
            let instead = input.with_file_name(format!(
                "{}-{ext}.{}.{}",
                stem.to_string_lossy(),
                naming.word(),
                format.extension()
            ));
            bail!(
                "{} and {} in the same folder would both be written to {}, one replacing the \
                 other's results: name this one's output with -o (e.g. -o {})",
                input.display(),
                input
                    .with_file_name(other.file_name().unwrap_or_default())
                    .display(),
                mine.display(),
                instead.display()
            );
        }
    }
    Ok(())
}

/// What a path leads to: the file itself (device and inode) when it exists, so that symlinks,
/// hard links and `/dev/stdout` are seen through; else its folder's real path joined with its
/// name. `-` is what standard output is.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    Node {
        dev: u64,
        ino: u64,
        char_device: bool,
    },
    Path(PathBuf),
}

fn identity(p: &Path) -> Identity {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    if let Ok(m) = crate::output::atomic::node(p) {
        return Identity::Node {
            dev: m.dev(),
            ino: m.ino(),
            char_device: m.file_type().is_char_device(),
        };
    }
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Identity::Path(match (dir.canonicalize(), p.file_name()) {
        (Ok(d), Some(name)) => d.join(name),
        _ => p.to_path_buf(),
    })
}

/// No output may be a file being read (the input; for `state export`, the store) or another
/// output (a character device such as `/dev/null` or a terminal may take several, but `-` only
/// one). Checked before anything is read or sent.
pub fn check_targets(inputs: &[(&str, &Path)], outputs: &[(&str, Option<&Path>)]) -> Result<()> {
    let inputs: Vec<(&str, Identity)> = inputs.iter().map(|(n, p)| (*n, identity(p))).collect();
    let shown = |p: &Path| match p.as_os_str() == "-" {
        true => "standard output".to_string(),
        false => p.display().to_string(),
    };
    let mut taken: Vec<(&str, &Path, Identity)> = Vec::new();
    for (flag, path) in outputs {
        let Some(path) = path else { continue };
        let id = identity(path);
        let device = matches!(
            id,
            Identity::Node {
                char_device: true,
                ..
            }
        );
        if let Some((name, _)) = inputs.iter().find(|(_, i)| *i == id && !device) {
            bail!(
                "{flag} {} is {name} itself: choose another path (it would be overwritten)",
                shown(path)
            );
        }
        let shared = |(_, other, t): &&(&str, &Path, Identity)| {
            let both_dash = other.as_os_str() == "-" && path.as_os_str() == "-";
            *t == id && (both_dash || !device)
        };
        if let Some((other, _, _)) = taken.iter().find(shared) {
            bail!(
                "{flag} and {other} both write to {}: give each its own path",
                shown(path)
            );
        }
        taken.push((flag, path, id));
    }
    Ok(())
}

/// Each output can be written where it is named: not a folder, and (unless it is a FIFO or a
/// device, written in place) in a folder that exists and takes new files, since the output is
/// written beside its target and renamed over it. Checked before anything is read or sent, so
/// that no request is spent on results that could not be kept.
pub fn check_writable(outputs: &[(&str, Option<&Path>)]) -> Result<()> {
    for (flag, path) in outputs {
        let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
            continue;
        };
        if path.is_dir() {
            bail!("{flag} {} is a folder: name a file", path.display());
        }
        if crate::output::atomic::is_special(path) {
            continue;
        }
        let real = crate::output::atomic::landing(path);
        let dir = match real.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            bail!(
                "{flag} {}: the folder {} does not exist",
                path.display(),
                dir.display()
            );
        }
        if !crate::output::atomic::folder_takes_files(&dir) {
            bail!(
                "{flag} {}: the folder {} is not writable (the output is written beside its \
                 target, then renamed)",
                path.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Everything `run` needs, validated. Its target always has credentials (a run without them
/// is refused here, before anything starts).
pub struct RunConfig {
    pub job: JobConfig,
    pub target: Target,
    pub api: crate::api::ApiVersion,
    /// How answers are keyed in the store (and the run lock named).
    pub scope: crate::store::Scope,
    pub budget: Budget,
    pub concurrency: usize,
    pub timeout: std::time::Duration,
    pub max_attempts: u32,
    pub backoff_base: std::time::Duration,
    pub max_throttle_wait: std::time::Duration,
    /// `--changes`: where the changed rows go.
    pub changes: Option<PathBuf>,
    /// `--state`: an SQLite file, or a PostgreSQL database (team mode).
    pub state: crate::store::Location,
    pub reuse: crate::store::Reuse,
    pub wait_lock: bool,
    /// `--notify-url`: who is told when the run ends.
    pub notify: Option<crate::api::notify::Notify>,
}

/// Everything `plan` needs: what a run would read, the store and how it keys answers, and the
/// pace and budget to size the job. No credentials: nothing is sent.
pub struct PlanConfig {
    pub job: JobConfig,
    pub scope: crate::store::Scope,
    /// `--sandbox`: the simulator's store and scope.
    pub simulated: bool,
    pub state: crate::store::Location,
    pub reuse: crate::store::Reuse,
    pub budget: Budget,
}

/// The pace and the limits a run sends under (`plan` sizes the job with them).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// `--rate`: requests per second.
    pub rate: f64,
    /// `--max-requests`: HTTP requests this run may send at most.
    pub max_requests: Option<u64>,
    /// `--deadline`: when sending stops.
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
}

impl Budget {
    /// `--rate`, `--max-requests` and `--deadline`, checked.
    pub fn from_args(a: &SendArgs) -> Result<Budget> {
        let (min_rate, max_rate) = (crate::engine::pace::MIN_RATE, crate::engine::pace::MAX_RATE);
        in_range("--rate", a.rate, min_rate, max_rate)?;
        if a.max_requests == Some(0) {
            bail!("--max-requests must be at least 1 (use checkuser plan to send nothing)");
        }
        let deadline = match &a.deadline {
            Some(d) => Some(parse_deadline(d, chrono::Local::now()).context("--deadline")?),
            None => None,
        };
        Ok(Budget {
            rate: a.rate,
            max_requests: a.max_requests,
            deadline,
        })
    }
}

/// `--concurrency`, `--max-attempts`, `--timeout` and `--backoff-base`, checked.
pub fn check_sending(a: &SendArgs) -> Result<()> {
    in_range("--concurrency", a.concurrency as f64, 1.0, 1000.0)?;
    in_range("--max-attempts", f64::from(a.max_attempts), 1.0, 100.0)?;
    if a.timeout < Duration::from_millis(1) || a.timeout > Duration::from_secs(3600) {
        bail!("--timeout must be between 1ms and 1h (it bounds one request)");
    }
    if a.backoff_base > Duration::from_secs(60) {
        bail!("--backoff-base must be at most 60s");
    }
    Ok(())
}

/// What `run` and `plan` check alike: the outputs are not the input, the store or each other.
fn check_run_targets(
    job: &JobConfig,
    list: &ListArgs,
    a: &SendArgs,
    state: &crate::store::Location,
) -> Result<()> {
    let state_file = state.file();
    let [wal, shm] = match state_file {
        Some(s) => crate::store::location::companions(s).map(Some),
        None => [None, None],
    };
    let input: Vec<(&str, &Path)> = job
        .input
        .path
        .iter()
        .map(|p| ("the input file", p.as_path()))
        .collect();
    check_targets(
        &input,
        &[
            ("-o", job.output.as_deref().or(Some(Path::new("-")))),
            ("--summary-json", job.summary_json.as_deref()),
            ("--metrics-file", list.metrics_file.as_deref()),
            ("--changes", a.changes.as_deref()),
            ("--state", state_file),
            ("--state (its journal)", wal.as_deref()),
            ("--state (its shared memory)", shm.as_deref()),
        ],
    )
}

/// The environment and the home folder, as the resolution reads them.
fn resolve_here(a: &SendArgs) -> Result<target::Resolution> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    target::resolve(a, &|k| std::env::var(k).ok(), home.as_deref())
}

/// What `run` and `plan` settle alike from run's flags: the job, the budget and the target's
/// resolution, its state store found and the outputs checked against the input, the store and
/// each other. `writes_output` is false for `plan`.
fn settle(
    a: &RunArgs,
    log: &LogArgs,
    writes_output: bool,
) -> Result<(JobConfig, Budget, target::Resolution)> {
    let job = JobConfig::from_args(&a.input, log, writes_output)?;
    let budget = Budget::from_args(&a.send)?;
    check_sending(&a.send)?;
    let resolution = resolve_here(&a.send)?;
    let state = resolution
        .state
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    check_run_targets(&job, &a.input.list, &a.send, state)?;
    Ok((job, budget, resolution))
}

impl RunConfig {
    /// For `run`.
    pub fn from_args(a: &RunArgs, log: &LogArgs) -> Result<RunConfig> {
        let send = &a.send;
        let (job, budget, resolution) = settle(a, log, true)?;
        let state = resolution.state?;
        check_writable(&[("--changes", send.changes.as_deref())])?;
        let target = Target::for_run(resolution.target, resolution.ca_certs)?;
        let scope = target.scope(resolution.api)?;
        let notify = match &send.notify_url {
            Some(url) => Some(crate::api::notify::Notify::new(
                url,
                send.notify_unsigned,
                send.target.insecure_http,
            )?),
            None => None,
        };
        Ok(RunConfig {
            job,
            target,
            api: resolution.api,
            scope,
            budget,
            concurrency: send.concurrency,
            timeout: send.timeout,
            max_attempts: send.max_attempts,
            backoff_base: send.backoff_base,
            max_throttle_wait: send.max_throttle_wait,
            changes: send.changes.clone(),
            state,
            reuse: reuse(send),
            wait_lock: send.wait_lock,
            notify,
        })
    }
}

impl PlanConfig {
    /// For `plan`: run's flags, but nothing is sent (no credentials are needed, no certificate
    /// read) and nothing is written but the summary.
    pub fn from_args(a: &RunArgs, log: &LogArgs) -> Result<PlanConfig> {
        let (job, budget, resolution) = settle(a, log, false)?;
        Ok(PlanConfig {
            job,
            scope: resolution.scope()?,
            simulated: resolution.simulated(),
            state: resolution.state?,
            reuse: reuse(&a.send),
            budget,
        })
    }
}

fn reuse(a: &SendArgs) -> crate::store::Reuse {
    crate::store::Reuse {
        max_age: a.max_age,
        taken_max_age: a.taken_max_age,
        refresh: a.refresh,
    }
}

/// The state store of `run`, `plan`, `state` and `doctor`: `--state` (or `CHECKUSER_STATE`),
/// else the default store, or with `--sandbox` the simulator's own beside it, so that
/// simulated answers never mix with real ones. `None` when there is no home to put it in.
pub fn state_path(given: Option<&Path>, sandbox: bool) -> Option<PathBuf> {
    match given {
        Some(p) => Some(p.to_path_buf()),
        None if sandbox => crate::store::sandbox_path(),
        None => crate::store::default_path(),
    }
}

/// `--endpoint`, refused when it is not http(s) or when it is plain http to another machine
/// without `--insecure-http`.
fn remote_endpoint(t: &crate::cli::TargetArgs) -> Result<reqwest::Url> {
    let endpoint = reqwest::Url::parse(&t.endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| anyhow::anyhow!("--endpoint {} is not an http(s) URL", t.endpoint))?;
    if endpoint.scheme() == "http" && !crate::api::proxy::is_loopback(&endpoint) && !t.insecure_http
    {
        bail!(
            "--endpoint {} is plain http on another machine: the credentials and the leads \
             would travel unencrypted. Use https, or pass --insecure-http if you really mean it",
            t.endpoint
        );
    }
    Ok(endpoint)
}

/// The most of a `--ca-cert` file read: a whole public CA bundle is under 300 KiB.
const MAX_CA_FILE: u64 = 4 << 20;

/// `--ca-cert`: the PEM certificates to trust as well, read with a cap (`/dev/zero` or any
/// endless file is refused, not read until memory runs out).
fn ca_certs(path: Option<&Path>) -> Result<Vec<reqwest::Certificate>> {
    use std::io::Read;
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let mut pem = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CA_FILE + 1).read_to_end(&mut pem))
        .with_context(|| format!("--ca-cert {}", path.display()))?;
    if pem.len() as u64 > MAX_CA_FILE {
        bail!(
            "--ca-cert {} is larger than {} MiB: not a PEM certificate file",
            path.display(),
            MAX_CA_FILE >> 20
        );
    }
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("--ca-cert {}: not a PEM certificate", path.display()))?;
    if certs.is_empty() {
        bail!("--ca-cert {}: no certificate in it", path.display());
    }
    Ok(certs)
}

/// A number flag within its range (NaN and infinities never are).
fn in_range(flag: &str, v: f64, min: f64, max: f64) -> Result<()> {
    if !(v.is_finite() && v >= min && v <= max) {
        // 1e-300 as such, not as 300 zeros.
        let shown = match v.abs() {
            a if a == 0.0 || (1e-4..1e15).contains(&a) || !a.is_finite() => v.to_string(),
            _ => format!("{v:e}"),
        };
        bail!("{flag} {shown} is out of range: it must be between {min} and {max}");
    }
    Ok(())
}

/// The simulator's faults, range-checked.
pub fn faults(a: &FaultArgs) -> Result<Faults> {
    // 0 turns throttling off; otherwise the same range as --rate (1e-20/s would be a wait
    // longer than any clock can hold).
    if a.throttle != 0.0 {
        let (min, max) = (crate::engine::pace::MIN_RATE, crate::engine::pace::MAX_RATE);
        in_range("--throttle", a.throttle, min, max)
            .map_err(|e| anyhow::anyhow!("{e} (or 0 for no throttling)"))?;
    }
    for (flag, v) in [
        ("--fault-transient", a.fault_transient),
        ("--fault-5xx", a.fault_5xx),
        ("--fault-reset", a.fault_reset),
        ("--fault-bad-answer", a.fault_bad_answer),
    ] {
        in_range(flag, v, 0.0, 1.0)?;
    }
    for (flag, d) in [
        ("--latency", a.latency),
        ("--latency-jitter", a.latency_jitter),
    ] {
        if d.is_some_and(|d| d > Duration::from_secs(600)) {
            bail!("{flag} must be at most 10m");
        }
    }
    if a.clock_offset.unsigned_abs() > 10 * 366 * 86_400 {
        bail!("--clock-offset must be within ten years");
    }
    Ok(Faults {
        throttle: a.throttle,
        transient: a.fault_transient,
        http5xx: a.fault_5xx,
        reset: a.fault_reset,
        bad_answer: a.fault_bad_answer,
        fail_first: a.fail_first,
        latency: a.latency.unwrap_or_default(),
        jitter: a.latency_jitter.unwrap_or_default(),
        seed: a.seed,
        clock_offset_secs: a.clock_offset,
        retry_after: a.retry_after,
        redirect_to: a.redirect_to.clone(),
        huge_body: a.huge_body,
        registered: a.registered.clone(),
    })
}

/// `--bom` (`Some(true)`), `--no-bom` (`Some(false)`), or neither (`None`: decided by where the
/// CSV goes, [`crate::output::csv::wants_bom`]).
pub fn bom_asked(bom: bool, no_bom: bool) -> Option<bool> {
    match (bom, no_bom) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_may_not_be_the_input_or_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("leads.csv");
        std::fs::write(&input, "a\n").unwrap();
        let out = dir.path().join("out.csv");
        let sneaky = dir.path().join("sub/../leads.csv");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let check =
            |outs: &[(&str, Option<&Path>)]| check_targets(&[("the input file", &input)], outs);
        assert!(
            check(&[("-o", Some(&out)), ("--summary-json", Some(&sneaky))])
                .unwrap_err()
                .to_string()
                .contains("the input file itself")
        );
        assert!(check(&[("-o", Some(&out)), ("--summary-json", Some(&out))])
            .unwrap_err()
            .to_string()
            .contains("both write to"));
        assert!(check(&[
            ("-o", Some(Path::new("-"))),
            ("--summary-json", Some(Path::new("-")))
        ])
        .unwrap_err()
        .to_string()
        .contains("standard output"));
        let null = Path::new("/dev/null");
        assert!(check(&[("-o", Some(null)), ("--summary-json", Some(null))]).is_ok());
        assert!(check(&[("-o", Some(&out)), ("--summary-json", None)]).is_ok());
    }

    #[test]
    fn default_output_sits_beside_the_input() {
        let out = |p: &str, f| default_output(Path::new(p), f, Naming::Checked);
        assert_eq!(
            out("/d/leads.csv", Format::Csv),
            Path::new("/d/leads.checked.csv")
        );
        assert_eq!(out("leads", Format::Csv), Path::new("leads.checked.csv"));
        assert_eq!(
            out("/d/l.csv", Format::Xlsx),
            Path::new("/d/l.checked.xlsx")
        );
        let validated = |p: &str, f| default_output(Path::new(p), f, Naming::Validated);
        assert_eq!(
            validated("/d/leads.csv", Format::Csv),
            Path::new("/d/leads.validated.csv")
        );
        assert_eq!(
            validated("/d/l.ods", Format::Xlsx),
            Path::new("/d/l.validated.xlsx")
        );
    }
}
