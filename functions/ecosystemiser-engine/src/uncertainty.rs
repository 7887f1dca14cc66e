//! Uncertainty studies: sample chosen parameters, solve each sample, and
//! summarise the spread of outcomes.
//!
//! A parameter is a *multiplier* on a value of the system: `grid.import_price`
//! scales the whole price series, `house.scale` a demand's scale,
//! `pv.capacity.cost` a sizing block's annualised cost, `hp.cop` a converter's
//! efficiency series. Every sample is an independent job: the design is a pure
//! function of the spec (seed included), so sample `i` can be solved anywhere.

use serde::{Deserialize, Serialize};

use crate::model::System;
use crate::optimize::Options;
use crate::parse::Invalid;
use crate::results::Status;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UncertaintySpec {
    pub parameters: Vec<UncertainParameter>,
    pub samples: usize,
    pub seed: u64,
    #[serde(default)]
    pub sampling: Sampling,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UncertainParameter {
    /// `component.parameter`, or `component.capacity_key.cost` for a sizing cost.
    pub target: String,
    pub distribution: Distribution,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Distribution {
    Uniform { low: f64, high: f64 },
    Normal { mean: f64, std: f64 },
    Triangular { low: f64, mode: f64, high: f64 },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    #[default]
    LatinHypercube,
    Sobol,
}

/// One solved sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleResult {
    pub index: usize,
    /// The multiplier drawn for each parameter, in spec order.
    pub values: Vec<f64>,
    pub status: Status,
    pub objective: Option<f64>,
    pub cost: Option<f64>,
    pub co2_kg: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UncertaintySummary {
    pub system: String,
    pub samples: usize,
    pub optimal: usize,
    /// Statistics of the objective over the optimal samples.
    pub objective: Stats,
    pub cost: Stats,
    pub co2_kg: Stats,
    /// Spearman rank correlation of each parameter with the objective.
    pub sensitivity: Vec<Sensitivity>,
    pub results: Vec<SampleResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
    /// Value at risk at 95 %: the 95th percentile (higher is worse).
    pub var95: f64,
    /// Conditional value at risk at 95 %: the mean of the worst 5 %.
    pub cvar95: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sensitivity {
    pub target: String,
    pub spearman: f64,
}

impl UncertainParameter {
    /// Parses `TARGET=uniform(0.8,1.2)`, `normal(1,0.1)`, `triangular(0.8,1,1.3)`.
    pub fn parse(text: &str) -> Result<UncertainParameter, String> {
        todo!("{text}")
    }
}

impl UncertaintySpec {
    /// The multipliers of every sample: `samples` rows of one value per parameter.
    pub fn design(&self) -> Vec<Vec<f64>> {
        todo!()
    }

    /// Checks targets against the system before any job runs.
    pub fn check(&self, system: &System) -> Result<(), Invalid> {
        todo!("{system:?}")
    }
}

/// Solves sample `index` of the design.
pub fn solve_sample(system: &System, spec: &UncertaintySpec, index: usize, options: &Options) -> SampleResult {
    todo!("{system:?} {spec:?} {index} {options:?}")
}

pub fn summarise(system: &System, spec: &UncertaintySpec, results: Vec<SampleResult>) -> UncertaintySummary {
    todo!("{system:?} {spec:?} {results:?}")
}

/// The whole study in one process; `progress(done, total)` after each sample.
pub fn uncertainty(system: &System, spec: &UncertaintySpec, options: &Options, progress: &mut dyn FnMut(usize, usize)) -> UncertaintySummary {
    todo!("{system:?} {spec:?} {options:?} {:?}", progress(0, 0))
}
