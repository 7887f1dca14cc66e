//! The cost–CO2 Pareto front by the exact ε-constraint method.
//!
//! Two anchor solves (min cost, min CO2) bound the front; every other point
//! minimises cost subject to CO2 ≤ ε. Each point is an independent job, so the
//! serverless version can fan them out: [`anchors`], then [`epsilons`], then
//! [`solve_point`] per ε, then [`assemble`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Objective, System};
use crate::optimize::Options;
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

/// The two single-objective optima that bound the front.
pub fn anchors(system: &System, options: &Options) -> (Results, Results) {
    todo!("{system:?} {options:?} {:?}", Objective::Cost)
}

/// `points` CO2 caps from the min-cost anchor's CO2 down to the min-CO2
/// anchor's, both ends included.
pub fn epsilons(co2_at_min_cost: f64, co2_min: f64, points: usize) -> Vec<f64> {
    todo!("{co2_at_min_cost} {co2_min} {points}")
}

/// Minimises cost subject to CO2 ≤ `epsilon`.
pub fn solve_point(system: &System, epsilon: f64, options: &Options) -> Results {
    todo!("{system:?} {epsilon} {options:?}")
}

/// Orders the solved points into a front, dropping dominated duplicates.
pub fn assemble(system: &System, points: Vec<ParetoPoint>) -> ParetoFront {
    todo!("{system:?} {points:?}")
}

/// The whole front in one process; `progress(done, total)` after each job.
pub fn pareto(system: &System, points: usize, options: &Options, progress: &mut dyn FnMut(usize, usize)) -> ParetoFront {
    todo!("{system:?} {points} {options:?} {:?}", progress(0, 0))
}
