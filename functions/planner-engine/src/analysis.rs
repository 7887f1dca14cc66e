//! The whole analysis of a valid plan: CPM, PERT and Monte Carlo odds, and
//! the resource-constrained schedule.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rcpsp::{self, Problem, Search};
use crate::validate::ValidPlan;
use crate::{cpm, pert};

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
    let durations = plan.durations();
    let times = cpm::times(plan, &durations);
    let path = cpm::critical_path(plan, &times);
    let ids = |i: usize| plan.plan().tasks[i].id.clone();

    let variance: f64 = path.iter().map(|&i| plan.plan().tasks[i].estimate.variance()).sum();
    let mean: f64 = path.iter().map(|&i| durations[i]).sum();
    let deadline = plan.plan().deadline;
    let monte_carlo =
        pert::monte_carlo(plan, options.monte_carlo_samples, options.seed, options.distribution, deadline, &|f| {
            progress(0.5 * f)
        });
    let pert = Pert {
        mean,
        std_dev: variance.sqrt(),
        probability_by_deadline: deadline.map(|d| pert::probability_by(mean, variance, d)),
        monte_carlo_probability: monte_carlo.and_then(|m| m.probability_by_deadline),
        monte_carlo_p50: monte_carlo.map(|m| m.p50),
        monte_carlo_p90: monte_carlo.map(|m| m.p90),
    };

    let (problem, scale) = problem(plan);
    let search = Search { max_schedules: options.rcpsp_schedules, budget: options.rcpsp_budget, seed: options.seed };
    let found = rcpsp::solve(&problem, &search, &|f| progress(0.5 + 0.5 * f))
        // A ValidPlan is acyclic and fits its capacities: what solve refuses.
        // guardian: ignore[rust-unwrap]
        .expect("validation guarantees an acyclic plan whose demands fit the capacities");
    let schedule: Vec<Slot> = (0..plan.len())
        .map(|i| {
            let start = found.starts[i] as f64 / scale;
            Slot { id: ids(i), start, finish: start + durations[i] }
        })
        .collect();
    let makespan = schedule.iter().map(|s| s.finish).fold(0.0, f64::max);

    let cpm = (0..plan.len())
        .map(|i| {
            let row = Cpm {
                es: times.es[i],
                ef: times.ef[i],
                ls: times.ls[i],
                lf: times.lf[i],
                total_float: times.total_float(i),
                free_float: times.free_float(plan, i),
            };
            (ids(i), row)
        })
        .collect();
    progress(1.0);
    Analysis {
        makespan,
        critical_path: path.into_iter().map(ids).collect(),
        schedule,
        cpm,
        cpm_makespan: times.makespan,
        pert,
    }
}

/// The plan as an RCPSP instance in integer ticks, and the ticks per minute.
///
/// A scale of 1, 6 or 60 ticks a minute makes every duration whole when it
/// can (PERT means of whole-minute estimates are sixths). Otherwise, or when
/// the per-tick resource profile (ticks × resources) would get too big,
/// durations are rounded up to ticks, at least one: each task then holds its
/// resources a little longer than it runs, so the schedule stays feasible.
/// Resources no task needs are left out.
pub fn problem(plan: &ValidPlan) -> (Problem, f64) {
    const MAX_CELLS: f64 = 1_000_000.0;
    let (names, demands) = plan.demands();
    let used: Vec<usize> = (0..names.len()).filter(|&r| demands.iter().any(|row| row[r] > 0)).collect();
    let durations = plan.durations();
    let total: f64 = durations.iter().sum();
    let whole = |scale: f64| durations.iter().all(|d| ((d * scale) - (d * scale).round()).abs() < 1e-6);
    let mut scale = [1.0, 6.0, 60.0].into_iter().find(|&s| whole(s)).unwrap_or(60.0);
    let columns = used.len().max(1) as f64;
    if total * scale * columns > MAX_CELLS {
        scale = MAX_CELLS / (total.max(1.0) * columns);
    }
    let ticks = durations.iter().map(|d| (d * scale - 1e-6).ceil().max(1.0) as u32).collect();
    let problem = Problem {
        durations: ticks,
        preds: (0..plan.len()).map(|i| plan.preds(i).to_vec()).collect(),
        demands: demands.iter().map(|row| used.iter().map(|&r| row[r]).collect()).collect(),
        capacities: used.iter().map(|&r| names[r].1).collect(),
    };
    (problem, scale)
}
