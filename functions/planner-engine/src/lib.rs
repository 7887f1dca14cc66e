//! The Planner's domain: the plan model ([`model`]), reading plans from YAML,
//! JSON and PSPLIB `.sm` files ([`parse`], [`psplib`]), validation that
//! reports every problem at once ([`validate`]), the deterministic goal
//! heuristic ([`heuristic`]), the critical path method ([`cpm`]), PERT and
//! Monte Carlo odds ([`pert`]), the resource-constrained schedule
//! ([`rcpsp`]), the whole analysis ([`analysis`]) and the Gantt chart
//! ([`gantt`]). No I/O: the app (`functions/planner`) and `hive plan` read
//! files and call the LLM; this crate only checks and computes.

pub mod analysis;
pub mod cpm;
pub mod gantt;
pub mod heuristic;
pub mod model;
pub mod parse;
pub mod pert;
pub mod psplib;
pub mod rcpsp;
pub mod validate;

pub use analysis::{Analysis, AnalysisOptions, Cpm, Distribution, Pert, Slot, analyse, analyse_with_progress};
pub use gantt::gantt_svg;
pub use heuristic::heuristic;
pub use model::{Complexity, Estimate, Limits, Plan, PlanError, PlanErrorKind, PlanTask, ThreePoint};
pub use parse::{Format, SourceMap, parse_plan, parse_plan_located};
pub use psplib::parse_psplib;
pub use validate::{ValidPlan, validate};
