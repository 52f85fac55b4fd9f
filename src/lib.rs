//! checkuser: bulk-checks candidate customer emails, mobile numbers and account names against
//! Huawei Cloud's partner API "verifying customer registration information".
//!
//! # Layers
//!
//! Imports run one way (a test, `tests/layers.rs`, fails when a lower module imports `cli` or
//! `config`):
//!
//! ```text
//! main ─► commands: run, plan_cmd, validate, sandbox_cmd, state_cmd, doctor, docs, report
//!            │         (they take config types only; job holds what run/plan/validate share)
//!            ├─► config ─► cli          cli only parses; config turns flags into domain types
//!            └─► input, normalize, store, api, output, sandbox ─► check (shared vocabulary)
//! ```
//!
//! # Data flow of a run
//!
//! ```text
//! input (sniff, reader, workbook, mapping) ─► normalize ─► run::plan (what to ask, in which order)
//!   ─► run::dispatcher (rate, concurrency, retries, stop rules) ─► api (sign, send, classify)
//!   ─► store (every answer, at once) ─► run::planned settle / run::writer ─► output (csv, xlsx,
//!      summary, metrics, progress)
//! ```
//!
//! - [`cli`] flag definitions (their doc comments are `--help`); [`config`] turns them into
//!   validated settings: `ApiVersion` belongs to [`api`], `Faults` to [`sandbox`],
//!   `Display`/`ProgressMode`/`SinkOptions` to [`output`], `Rules` to [`normalize`];
//!   `config::tools` does the same for `doctor` and `state`.
//! - [`input`] reads untrusted CSV and workbooks and maps rows to checks; [`normalize`] holds
//!   the local rules (libphonenumber, UTS-46).
//! - [`validate`] is the offline job; [`run`] the online one; [`plan_cmd`] the planning pass alone.
//! - [`output`] writes results atomically, escapes formulas, keeps the summary and metrics.
//! - [`store`] is the SQLite state (users say "the state store", `--state`, `checkuser
//!   state`; in code the module is `store` and `state_cmd` is the command).
//! - [`sandbox`] is the built-in simulator of the API; [`signals`] and [`report`] are how a
//!   command ends; [`logging`] sets up stderr logs with PII masking.

pub mod api;
pub mod check;
pub mod cli;
pub mod config;
pub mod docs;
pub mod doctor;
pub mod input;
pub mod job;
pub mod logging;
pub mod normalize;
pub mod output;
pub mod plan_cmd;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod sandbox_cmd;
pub mod signals;
pub mod state_cmd;
pub mod store;
pub mod validate;
