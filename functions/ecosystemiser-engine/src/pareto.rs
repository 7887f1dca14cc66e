//! The cost–CO2 Pareto front by the exact ε-constraint method.
//!
//! Two anchor solves (min cost, min CO2) bound the front; every other point
//! minimises cost subject to CO2 ≤ ε. Each point is an independent job, so the
//! serverless version can fan them out: [`anchors`], then [`epsilons`], then
//! [`solve_point`] per ε, then [`assemble`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Objective, System};
use crate::optimize::{solve_lp, Options};
use crate::results::{Kpis, Results, Status};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoFront {
    pub system: String,
    /// Ordered from the cheapest (most CO2) to the cleanest (most cost).
    pub points: Vec<ParetoPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint {
    /// The CO2 cap this point was solved under; `None` for the min-cost anchor.
    pub epsilon_co2_kg: Option<f64>,
    pub status: Status,
    pub cost: Option<f64>,
    pub co2_kg: Option<f64>,
    pub sizes: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kpis: Option<Kpis>,
}

impl ParetoPoint {
    pub fn from_results(epsilon_co2_kg: Option<f64>, results: &Results) -> ParetoPoint {
        ParetoPoint {
            epsilon_co2_kg,
            status: results.status,
            cost: results.cost.as_ref().map(|c| c.total),
            co2_kg: results.co2_kg,
            sizes: results.sizes.clone(),
            kpis: results.kpis.clone(),
        }
    }
}

/// The two single-objective optima that bound the front. The clean end is
/// lexicographic: the cheapest dispatch among those with minimum CO2, since
/// minimising CO2 alone leaves cost arbitrary.
pub fn anchors(system: &System, options: &Options) -> (Results, Results) {
    let cheapest = run(system, Objective::Cost, None, options);
    let cleanest = run(system, Objective::Co2, None, options);
    let cleanest = match cleanest.co2_kg {
        Some(co2) if cleanest.status.is_optimal() => run(system, Objective::Cost, Some(co2 + co2_slack(co2)), options),
        _ => cleanest,
    };
    (cheapest, cleanest)
}

/// Room given to a CO2 cap so that the solver's tolerance does not make a
/// just-attainable cap infeasible.
fn co2_slack(co2: f64) -> f64 {
    1e-7 * co2.abs().max(1.0)
}

/// `points` CO2 caps from the min-cost anchor's CO2 down to the min-CO2
/// anchor's, both ends included.
pub fn epsilons(co2_at_min_cost: f64, co2_min: f64, points: usize) -> Vec<f64> {
    match points {
        0 => Vec::new(),
        1 => vec![co2_at_min_cost],
        _ => (0..points)
            .map(|i| co2_at_min_cost - (co2_at_min_cost - co2_min) * i as f64 / (points - 1) as f64)
            .collect(),
    }
}

/// Minimises cost subject to CO2 ≤ `epsilon`.
pub fn solve_point(system: &System, epsilon: f64, options: &Options) -> Results {
    run(system, Objective::Cost, Some(epsilon + co2_slack(epsilon)), options)
}

fn run(system: &System, objective: Objective, co2_cap: Option<f64>, options: &Options) -> Results {
    let started = std::time::Instant::now();
    let mut system = system.clone();
    system.objective = objective;
    let options = Options { objective: None, ..options.clone() };
    solve_lp(&system, co2_cap, options.time_limit_s).into_results(&system, &options, started)
}

/// Orders the solved points from cheapest to cleanest, dropping repeats.
pub fn assemble(system: &System, mut points: Vec<ParetoPoint>) -> ParetoFront {
    points.sort_by(|a, b| {
        let key = |p: &ParetoPoint| (p.co2_kg.unwrap_or(f64::INFINITY), p.epsilon_co2_kg.unwrap_or(f64::INFINITY));
        key(b).0.total_cmp(&key(a).0).then(key(b).1.total_cmp(&key(a).1))
    });
    let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-7 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    };
    points.dedup_by(|b, a| same(a.cost, b.cost) && same(a.co2_kg, b.co2_kg));
    ParetoFront { system: system.name.clone(), points }
}

/// The whole front in one process; `progress(done, total)` after each job.
pub fn pareto(system: &System, points: usize, options: &Options, progress: &mut dyn FnMut(usize, usize)) -> ParetoFront {
    let total = points.max(2);
    let (cheapest, cleanest) = anchors(system, options);
    progress(2, total);
    let mut solved = vec![ParetoPoint::from_results(None, &cheapest)];
    if let (Some(hi), Some(lo)) = (cheapest.co2_kg, cleanest.co2_kg) {
        solved.push(ParetoPoint::from_results(Some(lo), &cleanest));
        let caps = epsilons(hi, lo, points);
        let interior = caps.len().saturating_sub(2);
        for (done, eps) in caps.into_iter().skip(1).take(interior).enumerate() {
            solved.push(ParetoPoint::from_results(Some(eps), &solve_point(system, eps, options)));
            progress(done + 3, total);
        }
    }
    assemble(system, solved)
}
