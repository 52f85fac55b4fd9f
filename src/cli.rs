//! The command line, as clap derive structs. Their doc comments are the `--help` text; nothing
//! here is used below `config`, which turns these into a validated configuration.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::api::ApiVersion;
use crate::input::CheckSpec;
use crate::normalize::MobileTypes;
use crate::output::progress::ProgressMode;

const EXAMPLES: &str = "\
Examples:
  Try it now, against the built-in simulator (no account needed):
    checkuser run samples/leads.csv --sandbox

  A list in the API's own shape (columns searchType,searchKey):
    checkuser run leads.csv

  A CRM export: say which column holds what (repeat --check):
    checkuser run crm.csv --check email=E-Mail --check mobile=Phone --default-country 86

  Only validate and normalize, no network, no credentials:
    checkuser validate crm.csv --check mobile=Phone -o checked.csv

Credentials come from the environment (HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK), from
~/.huaweicloud/credentials, or from an IAM token; never from the command line.
Exit codes: 0 all checks answered, 1 some ended error/pending, 2 usage or fatal error,
130 interrupted.";

/// Bulk-check emails, mobile numbers and account names against Huawei Cloud's partner API
/// "verifying customer registration information", and write the list back with the answers.
#[derive(Debug, Parser)]
#[command(
    name = "checkuser",
    version = concat!(env!("CARGO_PKG_VERSION"), ", ", crate::phone_metadata!()),
    after_long_help = EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every row against the API and write the results (the whole job).
    Run(Box<RunArgs>),
    /// Size the job without sending anything: how many checks the state store answers, how
    /// many need a request (new or stale), how long they take at --rate, and what --deadline or
    /// --max-requests would leave pending. Takes the same flags as run.
    Plan(Box<RunArgs>),
    /// Read, map, normalize and write, with no network and no credentials:
    /// each check's result is valid, invalid or skipped.
    Validate(ValidateArgs),
    /// Run the built-in simulator of the API on 127.0.0.1, for trying things by hand.
    Sandbox(SandboxArgs),
    /// Look after the state store of past answers: stats, prune, export, and copy to another
    /// store.
    State(StateArgs),
    /// Check the set-up without spending a check request and without changing anything:
    /// credentials, partner id, endpoint, proxy, clock, state store. Takes every flag run takes
    /// but INPUT, so that a run command line becomes a doctor one by changing the word.
    Doctor(Box<DoctorArgs>),
    /// A web page and a JSON API over the same engine, store and quota, for people who never
    /// open a terminal: upload a list, see the plan, start, watch, download. On 127.0.0.1 it
    /// prints a URL with a fresh token; anywhere else it needs --users. Takes every flag run
    /// takes but INPUT and the outputs (each job's files live under the state folder).
    #[command(after_long_help = SERVE_EXAMPLES)]
    Serve(Box<ServeArgs>),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff): checkuser's, or a command's with every option, e.g.
    /// checkuser man run > /usr/local/share/man/man1/checkuser-run.1
    Man {
        /// The command whose page to print, nested ones named in full (run, state, state copy,
        /// ...) [default: checkuser's own page, which lists the commands].
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
}

/// `doctor` takes every flag `run` takes but INPUT, so that a `run` command line becomes a
/// `doctor` one by changing the word.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub list: ListArgs,

    #[command(flatten)]
    pub send: SendArgs,
}

const SERVE_EXAMPLES: &str = "\
Examples:
  Try the page on this machine, against the built-in simulator (open the URL it prints):
    checkuser serve --sandbox
  For a team, behind a TLS reverse proxy: named users first, then the server:
    checkuser serve --add-user alice --users /etc/checkuser/users
    checkuser serve --listen 127.0.0.1:8080 --users /etc/checkuser/users
  An integration, with the printed token:
    curl -H \"Authorization: Bearer $TOKEN\" -F file=@leads.csv -F start=true http://127.0.0.1:8080/api/jobs";

/// `serve`: where to listen, who may use it, the limits of its jobs, and every flag `run`
/// takes but INPUT (the defaults of every job).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where to listen, ADDR:PORT (port 0 picks a free one). Any address but a loopback one
    /// needs --users.
    #[arg(
        long,
        default_value = "127.0.0.1:8080",
        value_name = "ADDR:PORT",
        help_heading = "Server"
    )]
    pub listen: String,

    /// The users who may log in: lines NAME:HASH (argon2id), made with --add-user. Required
    /// off loopback; without it a loopback server has one local user and a printed token.
    #[arg(long, value_name = "FILE", help_heading = "Server")]
    pub users: Option<PathBuf>,

    /// Add (or change the password of) user NAME in --users FILE and exit; the password is
    /// asked twice on the terminal (read as two lines when standard input is not one).
    #[arg(long, value_name = "NAME", requires = "users", help_heading = "Server")]
    pub add_user: Option<String>,

    /// The largest upload, e.g. 50MB, 200KB, 1GB.
    #[arg(
        long,
        default_value = "50MB",
        value_name = "SIZE",
        help_heading = "Server"
    )]
    pub max_upload: String,

    /// Jobs a user may have waiting or running at once.
    #[arg(long, default_value_t = 20, value_name = "N", help_heading = "Server")]
    pub max_jobs: usize,

    /// How long a job's files are kept, e.g. 30d, 12h.
    #[arg(long, default_value = "30d", value_name = "DURATION", value_parser = humantime::parse_duration, help_heading = "Server")]
    pub keep_jobs: std::time::Duration,

    #[command(flatten)]
    pub list: ListArgs,

    #[command(flatten)]
    pub send: SendArgs,
}

#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The state store: a file, or postgres://USER@HOST[:PORT]/DB for a team's database
    /// [default: $XDG_STATE_HOME/checkuser/state.sqlite; with --sandbox, sandbox.sqlite beside
    /// it].
    #[arg(long, env = "CHECKUSER_STATE", value_name = "PATH|URL", global = true)]
    pub state: Option<PathBuf>,

    /// Look at the store of the simulated answers that run --sandbox keeps.
    #[arg(long, global = true)]
    pub sandbox: bool,

    #[command(subcommand)]
    pub action: StateAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum StateAction {
    /// Answers per type and result, the oldest and newest answer, the file size.
    Stats,
    /// Delete answers older than a duration (e.g. 90d); they will be asked again when needed.
    ///
    /// A run in progress on the store (same file, whatever its name) keeps the answers of its
    /// endpoint and partner: prune deletes the others, says which it left and why (naming the
    /// run's pid), and exits 0; prune again when the run has finished, or pass --wait-lock.
    Prune {
        /// Delete the answers given longer ago than this (e.g. 90d, 12h).
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        older_than: Duration,
        /// Wait for runs in progress on the store to finish, then prune their answers too
        /// (runs sharing a PostgreSQL store take no lock).
        #[arg(long)]
        wait_lock: bool,
    },
    /// Write every stored answer as CSV.
    Export {
        /// Output file; - for standard output.
        #[arg(short, long, value_name = "PATH", default_value = "-")]
        output: PathBuf,

        /// Start the CSV with a UTF-8 byte-order mark, so that Excel and LibreOffice open its
        /// Chinese names right on a double-click [default: yes for a file, no for standard
        /// output or a pipe].
        #[arg(long, overrides_with = "no_bom")]
        bom: bool,

        /// Leave the byte-order mark out of a CSV written to a file.
        #[arg(long, overrides_with = "bom")]
        no_bom: bool,
    },
    /// Copy every answer from one store to another, SQLite file or PostgreSQL database, either
    /// way (e.g. when a team moves to a shared database). Nothing is asked again; an answer the
    /// target already holds is kept if it is newer.
    Copy {
        /// The store to read: a file path or postgres://USER@HOST[:PORT]/DB.
        #[arg(long, value_name = "PATH|URL")]
        from: PathBuf,
        /// The store to write (created and set up if needed).
        #[arg(long, value_name = "PATH|URL")]
        to: PathBuf,
    },
}

/// Logging and progress; usable before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Only print errors (no progress, no summary lines).
    #[arg(short, long, global = true, help_heading = "Logging")]
    pub quiet: bool,

    /// More detail in the logs (-vv for per-request detail).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Logging")]
    pub verbose: u8,

    /// Progress bar on a terminal (auto), always, or never. Off a terminal a one-line
    /// progress log is written every 60 seconds instead.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto, global = true, help_heading = "Logging")]
    pub progress: ProgressMode,

    /// Show emails and mobile numbers in full in logs (they are masked by default).
    #[arg(long, global = true, help_heading = "Logging")]
    pub log_pii: bool,
}

/// The lead list and how it is read and written back (shared by `run` and `validate`).
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// The lead list: CSV with a header row, or a workbook (.xlsx, .xlsm, .xls, .ods); the
    /// header is the first row, or --header-row; - for standard input.
    pub input: PathBuf,

    #[command(flatten)]
    pub list: ListArgs,
}

/// How rows are read and mapped, and where results go: every flag of `validate` but INPUT.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Check the column COLUMN as TYPE (email, mobile or name); repeat for several checks per
    /// row. COLUMN is a header name (case-insensitive) or #N for the N-th column. Without it
    /// the input must have searchType and searchKey columns.
    #[arg(long = "check", value_name = "TYPE=COLUMN")]
    pub checks: Vec<CheckSpec>,

    /// For a workbook input (.xlsx, .xlsm, .xls, .ods): the sheet to read, by name or as #N
    /// [default: the first].
    #[arg(long, value_name = "NAME|#N")]
    pub sheet: Option<String>,

    /// The row that holds the column names (1-based, as a spreadsheet numbers its rows; a CSV's
    /// `sep=` line is not counted): the rows above it, such as a title or an export date, are
    /// not read and not written to the output [default: 1; when another of the first 20 rows
    /// holds the columns asked for, the error names it].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub header_row: Option<u64>,

    /// Input delimiter: , ; | or tab [default: named by an Excel `sep=` first line, else
    /// detected from the header line].
    #[arg(long, value_parser = crate::input::sniff::delimiter_from_arg)]
    pub delimiter: Option<u8>,

    /// Input encoding, e.g. utf-8, gbk, big5, shift_jis, windows-1252 [default: detected: UTF-8
    /// (or UTF-16 with a byte-order mark), else the legacy encoding the bytes read as, such as
    /// GBK, Big5, Shift_JIS, EUC-KR or Windows-1252; the one used is logged and in the summary].
    #[arg(long)]
    pub encoding: Option<String>,

    /// Country for mobile numbers written without one: a calling code (86) or a region (CN).
    /// Without it such numbers are invalid.
    #[arg(long, env = "CHECKUSER_DEFAULT_COUNTRY", value_name = "CC")]
    pub default_country: Option<String>,

    /// Which valid numbers count as mobiles: mobile (MOBILE and FIXED_LINE_OR_MOBILE, the
    /// numbers that can receive an SMS) or any (every valid number, for when libphonenumber's
    /// metadata lags behind a new range).
    #[arg(long, value_enum, default_value_t = MobileTypes::Mobile, value_name = "TYPES")]
    pub mobile_types: MobileTypes,

    /// Output file; - for standard output; a name ending in .xlsx writes a workbook [default:
    /// INPUT's name with .checked.csv, or .checked.xlsx for a workbook input, beside it
    /// (validate: .validated.csv or .validated.xlsx, so that it never replaces a run's); refused
    /// when another list beside it would get the same name, as a.xlsx and a.ods would: then
    /// name it with -o].
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Result columns per check: full (all 13) or brief (checked_key, result, error_msg: the
    /// ones a person reads). A workbook always holds all 13, its Results sheet showing the key,
    /// result, reason and previous result, with the other columns grouped one click away.
    #[arg(long, value_enum, default_value_t = crate::output::Columns::Full, value_name = "SET")]
    pub columns: crate::output::Columns,

    /// Output format [default: xlsx if the output name ends in .xlsx, else csv].
    #[arg(long, value_enum)]
    pub format: Option<crate::output::Format>,

    /// Start a CSV output with a UTF-8 byte-order mark, so that Excel and LibreOffice open its
    /// accents and Chinese names right on a double-click [default: yes for a file, no for
    /// standard output or a pipe].
    #[arg(long, overrides_with = "no_bom")]
    pub bom: bool,

    /// Leave the byte-order mark out of a CSV written to a file.
    #[arg(long, overrides_with = "bom")]
    pub no_bom: bool,

    /// Do not prefix cells starting with = + - @ TAB or CR with ' (formula escaping is on by
    /// default so that spreadsheets show them as text).
    #[arg(long)]
    pub no_escape_formulas: bool,

    /// Also write the summary as JSON to PATH (- for standard output); written on failures too.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,

    /// Write the run's figures in the Prometheus text format to PATH (for node_exporter's
    /// textfile collector), atomically; written on failures too.
    #[arg(long, env = "CHECKUSER_METRICS_FILE", value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

/// Where requests go and who sends them (shared by `run` and `doctor`).
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Run against the built-in simulator instead of Huawei Cloud (no credentials needed;
    /// results are marked as simulated).
    #[arg(long, help_heading = "API")]
    pub sandbox: bool,

    /// Which API to call.
    #[arg(long, value_enum, env = "CHECKUSER_API", default_value_t = ApiVersion::V1, help_heading = "API")]
    pub api: ApiVersion,

    /// API endpoint: https://bss-intl.myhuaweicloud.com (international), https://bss.myhuaweicloud.com
    /// (China), https://bss.myhuaweicloud.eu (Europe).
    #[arg(
        long,
        env = "CHECKUSER_ENDPOINT",
        default_value = "https://bss-intl.myhuaweicloud.com",
        help_heading = "API"
    )]
    pub endpoint: String,

    /// Partner id for --api v1 [default: the credentials' domain id].
    #[arg(
        long,
        env = "HUAWEICLOUD_PARTNER_ID",
        value_name = "ID",
        help_heading = "API"
    )]
    pub partner_id: Option<String>,

    /// Also trust the CA certificate(s) in this PEM file (a corporate TLS-inspecting proxy's
    /// CA, say). The platform's certificate store is trusted as well. Proxies come from
    /// HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY, as curl reads them; an endpoint on
    /// this machine (localhost, 127.0.0.0/8, ::1) never goes through one.
    #[arg(long, value_name = "PATH", help_heading = "API")]
    pub ca_cert: Option<PathBuf>,

    /// Allow a plain http:// endpoint that is not on this machine, and a proxy for it:
    /// credentials and lead data would cross the network unencrypted, readable by the proxy.
    #[arg(long, help_heading = "API")]
    pub insecure_http: bool,

    /// Read an IAM token from this file (sent as X-Auth-Token) instead of signing with AK/SK.
    #[arg(long, value_name = "PATH", help_heading = "API")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub send: SendArgs,
}

/// How a run sends and keeps its answers: the target, the pace, the state store, the budget,
/// the callback and the simulator's faults (shared by `run`, `plan` and `doctor`).
#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// Requests per second across the whole run, retries included (fractions allowed).
    #[arg(
        long,
        env = "CHECKUSER_RATE",
        default_value_t = 5.0,
        value_name = "PER_SECOND",
        help_heading = "Pace"
    )]
    pub rate: f64,

    /// Requests in flight at most.
    #[arg(
        long,
        env = "CHECKUSER_CONCURRENCY",
        default_value_t = 4,
        value_name = "N",
        help_heading = "Pace"
    )]
    pub concurrency: usize,

    /// Time limit of one request (e.g. 30s, 1m).
    #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DURATION", help_heading = "Pace")]
    pub timeout: Duration,

    /// HTTP requests per check for transient failures (throttling is not counted).
    #[arg(long, default_value_t = 6, value_name = "N", help_heading = "Pace")]
    pub max_attempts: u32,

    /// Stop the run (like the circuit breaker) after being throttled this long with no answer
    /// in between: the gateway's quota is then exhausted (e.g. 10m, 1h).
    #[arg(long, value_parser = parse_duration, default_value = "10m", value_name = "DURATION", help_heading = "Pace")]
    pub max_throttle_wait: Duration,

    /// Base of the exponential retry backoff (tests shorten it).
    #[arg(long, value_parser = parse_duration, default_value = "500ms", hide = true)]
    pub backoff_base: Duration,

    /// The state store that remembers every answer: a file, or postgres://USER@HOST[:PORT]/DB
    /// (team mode: every machine of a partner shares answers, one quota and in-flight keys;
    /// the password comes from PGPASSWORD or ~/.pgpass, TLS per ?sslmode=) [default:
    /// $XDG_STATE_HOME/checkuser/state.sqlite; with --sandbox, sandbox.sqlite beside it].
    #[arg(
        long,
        env = "CHECKUSER_STATE",
        value_name = "PATH|URL",
        help_heading = "State"
    )]
    pub state: Option<PathBuf>,

    /// Reuse stored answers younger than this (e.g. 20h, 3d).
    #[arg(long, env = "CHECKUSER_MAX_AGE", value_parser = parse_duration, default_value = "20h", value_name = "DURATION", help_heading = "State")]
    pub max_age: Duration,

    /// Reuse stored taken and uplimit answers younger than this.
    #[arg(long, env = "CHECKUSER_TAKEN_MAX_AGE", value_parser = parse_duration, default_value = "30d", value_name = "DURATION", help_heading = "State")]
    pub taken_max_age: Duration,

    /// Ask the API again for everything (answers are still recorded).
    #[arg(long, help_heading = "State")]
    pub refresh: bool,

    /// If another run holds the lock for this endpoint and partner, wait for it instead of
    /// exiting with code 2.
    #[arg(long, help_heading = "State")]
    pub wait_lock: bool,

    /// Stop sending after this many HTTP requests (retries count too); the rest is pending.
    /// New values are asked first, then the stalest answers, so the budget goes where it
    /// matters.
    #[arg(
        long,
        env = "CHECKUSER_MAX_REQUESTS",
        value_name = "N",
        help_heading = "Budget"
    )]
    pub max_requests: Option<u64>,

    /// Stop sending at this time: 06:30 (the next time the local clock reads it; in a night
    /// the clock jumps past it, at the jump), an RFC 3339 time, or a duration from now such as
    /// 8h. Requests in flight finish; the rest is pending.
    #[arg(
        long,
        env = "CHECKUSER_DEADLINE",
        value_name = "TIME",
        help_heading = "Budget"
    )]
    pub deadline: Option<String>,

    /// Also write just the rows with an answer that changed since its previous answer (same
    /// columns as the output; free->taken means someone just registered).
    #[arg(long, value_name = "PATH", help_heading = "Budget")]
    pub changes: Option<PathBuf>,

    /// When the run ends, POST its summary JSON to this URL (a CRM learns that a list is done
    /// without polling), signed with HMAC-SHA256 of the body keyed by CHECKUSER_NOTIFY_SECRET
    /// (header X-Checkuser-Signature: sha256=HEX, and X-Checkuser-Timestamp). https only
    /// unless on this machine or --insecure-http; no redirects; retried with backoff for 10
    /// minutes on 5xx or no answer; never changes the run's exit code or outputs.
    #[arg(
        long,
        env = "CHECKUSER_NOTIFY_URL",
        value_name = "URL",
        help_heading = "Reporting"
    )]
    pub notify_url: Option<String>,

    /// Send the --notify-url callback without a signature (no CHECKUSER_NOTIFY_SECRET).
    #[arg(long, help_heading = "Reporting")]
    pub notify_unsigned: bool,

    #[command(flatten)]
    pub faults: FaultArgs,
}

/// Faults and limits of the built-in simulator (`sandbox`, or `run --sandbox`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Simulator")]
pub struct FaultArgs {
    /// Gateway rate limit in requests per second (429 APIG.0308 above it); 0 for none.
    #[arg(long, default_value_t = 5.0, value_name = "RPS")]
    pub throttle: f64,

    /// Fraction of requests answered 500 CBC.0999 (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub fault_transient: f64,

    /// Fraction of requests answered 502/503/504 with an HTML page.
    #[arg(long = "fault-5xx", default_value_t = 0.0, value_name = "FRACTION")]
    pub fault_5xx: f64,

    /// Fraction of requests whose connection is cut before the answer.
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub fault_reset: f64,

    /// Answer the first N requests for each value with CBC.0999.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub fail_first: u32,

    /// Delay every answer by this much (e.g. 200ms).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub latency: Option<Duration>,

    /// Add a random extra delay of up to this much.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub latency_jitter: Option<Duration>,

    /// Seed for the random faults, to replay a run.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Seconds the simulator's clock runs ahead of this machine's (negative: behind).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SECONDS",
        allow_hyphen_values = true,
        hide = true
    )]
    pub clock_offset: i64,

    /// Send `Retry-After: SECONDS` with every 429.
    #[arg(long, value_name = "SECONDS")]
    pub retry_after: Option<u64>,

    /// Fraction of answers that are CBC.0000 with an undocumented status (2, "exists", null,
    /// missing, or with HTTP 500): a lying gateway.
    #[arg(long, default_value_t = 0.0, value_name = "FRACTION")]
    pub fault_bad_answer: f64,

    /// Answer every request with 302 to this URL (a hijacked endpoint).
    #[arg(long, value_name = "URL", hide = true)]
    pub redirect_to: Option<String>,

    /// Follow every answer with this many bytes of spaces (a server that never stops).
    #[arg(long, value_name = "BYTES", hide = true)]
    pub huge_body: Option<u64>,

    /// Answer this value taken whatever its usual answer (a lead who just registered).
    #[arg(long, value_name = "KEY", hide = true)]
    pub registered: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    #[command(flatten)]
    pub faults: FaultArgs,
}

/// Parses the command line as [`Cli::parse`] does, but a lead list given where a command is
/// expected (`checkuser leads.csv`) gets, below clap's own error, a tip naming the command
/// line that checks it (`checkuser run leads.csv`). Exits as clap does on an error (2).
pub fn parse() -> Cli {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    use clap::CommandFactory;
    Cli::try_parse_from(&args)
        .map_err(|e| with_run_hint(e.format(&mut Cli::command()), &args))
        .unwrap_or_else(|e| e.exit())
}

/// Adds the `run` tip to an "unrecognized subcommand" error whose word looks like a file: it
/// exists, or it has a folder or an extension in its name, or it is `-` (standard input).
pub fn with_run_hint(mut e: clap::Error, args: &[std::ffi::OsString]) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::InvalidSubcommand {
        return e;
    }
    let Some(ContextValue::String(word)) = e.get(ContextKind::InvalidSubcommand) else {
        return e;
    };
    let looks_like_a_file =
        word == "-" || word.contains(['.', '/']) || std::path::Path::new(word).exists();
    let Some(at) = args.iter().skip(1).position(|a| a == word.as_str()) else {
        return e;
    };
    if !looks_like_a_file {
        return e;
    }
    let mut line = vec!["checkuser".to_string()];
    for (i, a) in args.iter().skip(1).enumerate() {
        if i == at {
            line.push("run".into());
        }
        line.push(shell_word(&a.to_string_lossy()));
    }
    let tip = format!(
        "to check the list {word}, name the command first: {}",
        line.join(" ")
    );
    e.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![tip.into()]),
    );
    e
}

/// A word as a shell reads it back: quoted when it holds anything but plain characters.
fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_alphanumeric() || "-_./=:@,+%#".contains(c));
    match plain {
        true => w.to_string(),
        false => format!("'{}'", w.replace('\'', "'\\''")),
    }
}

/// The longest duration any flag takes: past it, time arithmetic could overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 86_400);

/// Parses `30s`, `500ms`, `20h`, `30d` (humantime syntax), at most ten years.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration like 30s, 20h or 30d: {e}"))?;
    if d > MAX_DURATION {
        return Err(format!(
            "'{s}' is longer than the 10 years any duration may be"
        ));
    }
    Ok(d)
}

/// Before parsing: a `CHECKUSER_*` variable set to nothing (`CHECKUSER_STATE=` in a crontab)
/// counts as not set, instead of an empty value for its flag; one that is not UTF-8 is an
/// error that names the variable (clap would only say "an argument"). Call it first in
/// `main`, while the process has one thread.
pub fn tidy_environment() -> Result<(), String> {
    for (key, value) in std::env::vars_os() {
        let Some(name) = key.to_str().filter(|k| k.starts_with("CHECKUSER_")) else {
            continue;
        };
        match value.to_str() {
            Some(v) if v.trim().is_empty() => std::env::remove_var(&key),
            Some(_) => {}
            None => {
                return Err(format!(
                    "{name} is not valid UTF-8: set it again, or unset it"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_flags_parse_with_their_defaults() {
        let cli =
            Cli::try_parse_from(["checkuser", "run", "x.csv", "--check", "email=Mail", "-vv"])
                .unwrap();
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        let s = &r.send;
        assert_eq!(s.rate, 5.0);
        assert_eq!(s.concurrency, 4);
        assert_eq!(s.timeout, Duration::from_secs(30));
        assert_eq!(s.max_attempts, 6);
        assert_eq!(s.max_age, Duration::from_secs(20 * 3600));
        assert_eq!(s.taken_max_age, Duration::from_secs(30 * 86400));
        assert_eq!(s.target.api, ApiVersion::V1);
        assert_eq!(r.input.list.checks.len(), 1);
        assert_eq!(cli.log.verbose, 2);
    }

    /// Every `run` command line becomes a `doctor` one by changing the word and dropping INPUT.
    #[test]
    fn doctor_takes_every_flag_run_takes_but_input() {
        let run = Cli::command();
        let run = run.find_subcommand("run").unwrap();
        let doctor = Cli::command();
        let doctor = doctor.find_subcommand("doctor").unwrap();
        let names = |c: &clap::Command| -> Vec<String> {
            let mut v: Vec<String> = c
                .get_arguments()
                .filter(|a| !a.is_positional())
                .map(|a| a.get_id().to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(run), names(doctor));
        assert!(doctor.get_arguments().all(|a| !a.is_positional()));
        let line = [
            "checkuser",
            "doctor",
            "--rate",
            "2.5",
            "--timeout",
            "5s",
            "--concurrency",
            "2",
            "--check",
            "email=Mail",
            "-o",
            "out.xlsx",
            "--max-requests",
            "10",
            "--wait-lock",
            "--deadline",
            "8h",
            "--summary-json",
            "s.json",
            "--changes",
            "c.csv",
        ];
        let Command::Doctor(d) = Cli::try_parse_from(line).unwrap().command else {
            panic!("not doctor")
        };
        assert_eq!(d.send.rate, 2.5);
        assert_eq!(d.send.timeout, Duration::from_secs(5));
        assert!(Cli::try_parse_from(["checkuser", "doctor", "leads.csv"]).is_err());
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for args in [
            vec!["checkuser", "run", "x.csv", "--check", "fax=Fax"],
            vec!["checkuser", "run", "x.csv", "--timeout", "soon"],
            vec!["checkuser", "validate", "x.csv", "--delimiter", "ab"],
            vec!["checkuser", "run"],
            vec!["checkuser", "run", "x.csv", "--timeout", "584000000000y"],
            vec!["checkuser", "state", "prune", "--older-than", "200000000y"],
        ] {
            assert!(Cli::try_parse_from(&args).is_err(), "{args:?}");
        }
    }
}
