//! checkuser: bulk-checks candidate customer emails, mobile numbers and account names against
//! Huawei Cloud's partner API "verifying customer registration information".
//!
//! # Layers
//!
//! Imports run one way (`tests/layers.rs` fails the build when a lower folder imports a higher
//! one):
//!
//! ```text
//! main ─► commands ─► config ─► cli        cli only parses; config turns flags into domain types
//!            │
//!            └─► engine ─► api, store, input, normalize, output, sandbox ─► model
//! ```
//!
//! - [`commands`]: one module per command the user types (`run`, `plan`, `validate`, `doctor`,
//!   `state`, `sandbox`, `docs`, `serve`), the one [`model::ExitCode`], and how a command ends
//!   (`report`, `signals`).
//! - [`engine`]: plan, dispatch, pace, retry, settle; it takes an engine config, a source of
//!   rows and outputs, a store and a checker, and knows nothing of flags or the simulator.
//! - [`api`]: the [`api::Checker`] seam, one module per API version, signing, classification.
//! - [`store`]: the [`store::AnswerStore`] and [`store::Admin`] seams; SQLite, in-memory, the
//!   run lock and `--state` locations.
//! - [`input`] reads untrusted CSV and workbooks; [`normalize`] holds the local rules;
//!   [`output`] writes results atomically and keeps the summary, metrics and progress.
//! - [`sandbox`] is the built-in simulator of the API; [`logging`] sets up stderr logs with PII
//!   masking; [`model`] is the shared vocabulary.

pub mod api;
pub mod cli;
pub mod commands;
pub mod config;
pub mod engine;
pub mod input;
pub mod logging;
pub mod model;
pub mod normalize;
pub mod output;
pub mod sandbox;
pub mod store;
