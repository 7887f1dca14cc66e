//! EcoSystemiser's engine: the energy model of `energy-model v1.1`, its LP,
//! the solvers (LP with clarabel, rule-based, rolling horizon), economics
//! against a baseline, Pareto fronts, uncertainty studies, KPIs and reports.
//!
//! Architecture invariant: this crate does no I/O. Files reach it through
//! [`FileSource`]; results leave it as values and strings.

pub mod dispatch;
pub mod economics;
pub mod lp;
pub mod model;
pub mod node;
pub mod optimize;
pub mod parallel;
pub mod pareto;
pub mod presolve;
pub mod parse;
pub mod report;
pub mod results;
pub mod rule_based;
pub mod uncertainty;

pub use economics::Economics;
pub use model::{Objective, System};
pub use optimize::{optimize, Options, SolverKind};
pub use pareto::{ParetoFront, ParetoPoint};
pub use parse::{parse_system, FileSource, Invalid, NoFiles, ValidationError};
pub use results::{Results, Status};
pub use uncertainty::{Distribution, Sampling, UncertainParameter, UncertaintySpec, UncertaintySummary};
