//! Guardian's domain: golden-rule review of Python and Rust code. Pure: it
//! takes file contents and configuration text and returns findings,
//! metrics and reports; reading files, git and the network are the
//! callers' business.
//!
//! - [`syntax`]: each language parsed once and lowered into facts (the only
//!   module that knows the parsers).
//! - [`rules`]: the registry, one small module per rule.
//! - [`suppress`], [`config`], [`glob`]: in-source suppressions and
//!   guardian.toml.
//! - [`analysis`]: one file through all of it; [`review`] many files on
//!   every core, with the summary, the baseline and changed lines.
//! - [`contracts`]: architecture contracts on the Python import graph and
//!   the Cargo dependency graph.
//! - [`report`]: text, JSON, SARIF 2.1.0 and GitHub annotations.

pub mod analysis;
pub mod config;
pub mod contracts;
pub mod finding;
pub mod glob;
pub mod rules;
pub mod suppress;
pub mod syntax;

pub use analysis::{FileReport, FunctionMetrics, analyse};
pub use config::{Config, ConfigError};
pub use finding::{Finding, Severity, Suppressed};
pub mod report;
pub mod review;

pub use review::{ChangedLines, Review, Summary};
