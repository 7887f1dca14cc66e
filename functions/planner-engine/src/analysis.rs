//! The whole analysis of a valid plan: CPM, PERT and Monte Carlo odds, and
//! the resource-constrained schedule.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::ValidPlan;

/// How much work the analysis may do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisOptions {
    /// Monte Carlo draws of the whole project; 0 skips Monte Carlo.
    pub monte_carlo_samples: usize,
    pub seed: u64,
    /// Wall-clock budget of the RCPSP search (a cap: the search also stops
    /// after `rcpsp_schedules`, which keeps it deterministic).
    pub rcpsp_budget: Duration,
    /// Schedules the RCPSP search may generate.
    pub rcpsp_schedules: usize,
    pub distribution: Distribution,
}

/// How Monte Carlo draws a task's duration from its three-point estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Distribution {
    Triangular,
    PertBeta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Analysis {
    /// Finish of the resource-constrained schedule, minutes.
    pub makespan: f64,
    /// Critical path ids in order (zero total float, the longest path).
    pub critical_path: Vec<String>,
    /// The resource-constrained schedule, in plan order.
    pub schedule: Vec<Slot>,
    pub cpm: BTreeMap<String, Cpm>,
    /// The unconstrained (precedence-only) makespan: a lower bound.
    pub cpm_makespan: f64,
    pub pert: Pert,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Slot {
    pub id: String,
    pub start: f64,
    pub finish: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Cpm {
    pub es: f64,
    pub ef: f64,
    pub ls: f64,
    pub lf: f64,
    pub total_float: f64,
    pub free_float: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pert {
    /// Sum of the PERT means along the critical path.
    pub mean: f64,
    /// Square root of the sum of the variances along the critical path.
    pub std_dev: f64,
    /// P(finish ≤ deadline), normal approximation; `None` without a deadline.
    pub probability_by_deadline: Option<f64>,
    /// The same probability estimated by Monte Carlo over the whole network.
    pub monte_carlo_probability: Option<f64>,
    pub monte_carlo_p50: Option<f64>,
    pub monte_carlo_p90: Option<f64>,
}

pub fn analyse(plan: &ValidPlan, options: &AnalysisOptions) -> Analysis {
    analyse_with_progress(plan, options, &|_| {})
}

/// [`analyse`], calling `progress` with the fraction done (0.0 to 1.0).
pub fn analyse_with_progress(plan: &ValidPlan, options: &AnalysisOptions, progress: &dyn Fn(f64)) -> Analysis {
    let _ = (plan, options, progress);
    unimplemented!("skeleton")
}
