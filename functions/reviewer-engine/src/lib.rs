//! The Reviewer's domain: an explainable score and a decision for a piece
//! of submitted work. Pure: it takes the submission and Guardian's facts
//! about it and returns the review; reading events, files and the database
//! is the callers' business.
//!
//! - [`facts`]: the inputs: the [`Submission`], Guardian's [`CodeFacts`]
//!   (from its review document), and the light facts Guardian does not
//!   report (public types, test functions).
//! - [`coverage`]: lcov and Cobertura line coverage.
//! - [`config`]: weights and thresholds ([`ReviewConfig::standard`], a
//!   tenant's overrides).
//! - [`review`]: the five sub-scores with their evidence, the confidence,
//!   the decision table and the remarks.
//! - [`narrative`]: the optional language model's summary, checklist and
//!   remarks: its prompt, its strict schema, and how it applies (never to
//!   the score).
//! - [`markdown`]: the review as one pull-request comment.

pub mod config;
pub mod coverage;
pub mod facts;
pub mod markdown;
pub mod narrative;
pub mod review;

pub use config::{ConfigError, ReviewConfig};
pub use coverage::{Coverage, CoverageError};
pub use facts::{Analysis, CodeFacts, Severity, SourceFile, Submission};
pub use review::{Area, Decision, Evidence, Remark, Review, decide, review};
