//! checkuser: bulk-checks candidate customer emails, mobile numbers and account names against
//! Huawei Cloud's partner API "verifying customer registration information".
//!
//! # Layout
//!
//! Data flows one way, and the modules follow it:
//!
//! ```text
//! input (sniff, reader, mapping) ─► normalize ─► store lookup ─► run (dispatcher) ─► api (sign, send, classify)
//!                                        every outcome ─► one writer: output (csv, summary, progress)
//! ```
//!
//! - [`cli`] flag definitions (their doc comments are `--help`); [`config`] turns them into
//!   validated settings.
//! - [`input`] reads untrusted CSV and maps rows to checks; [`normalize`] holds the local rules.
//! - [`validate`] is the offline job.
//! - [`output`] writes the annotated CSV atomically, escapes formulas, keeps the summary.
//! - [`run`] is the online job: [`run::dispatcher`] (the only concurrent code), [`run::writer`]
//!   (the only writer), [`api`] (signing, client, answer classes), [`store`] (SQLite state).
//! - [`sandbox`] is the built-in simulator of the API.
//! - [`check`] is the shared vocabulary; [`logging`] sets up stderr logs with PII masking.

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
