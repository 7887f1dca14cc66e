//! The results document: what a run reports, serialisable as JSON.
//!
//! `status` and `objective` sit at the top level so that a consumer can read
//! the outcome without knowing the rest of the schema.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::economics::Economics;

/// How an optimisation ended. Every variant is an answer, not a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Optimal,
    Infeasible,
    Unbounded,
    /// The solver stopped without a trustworthy answer (numerical trouble,
    /// iteration limit).
    Unreliable,
    TimeLimit,
}

impl Status {
    pub fn is_optimal(self) -> bool {
        self == Status::Optimal
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub status: Status,
    /// The optimised objective; `None` unless a solution exists.
    pub objective: Option<f64>,
    pub system: String,
    pub solver: String,
    pub objective_kind: String,
    pub timesteps: usize,
    pub timestep_hours: f64,
    /// Why the run is not optimal, in words (infeasibility diagnosis, solver
    /// status). `None` when optimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSplit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub co2_kg: Option<f64>,
    /// Chosen capacities, keyed `component.parameter` (e.g. `pv.capacity`).
    pub sizes: BTreeMap<String, f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kpis: Option<Kpis>,
    /// Against the baseline (v1.1), for a system with an `economics`
    /// section and an optimal run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub economics: Option<Economics>,
    /// Every variable's series, by component then variable.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub series: BTreeMap<String, BTreeMap<String, Vec<f64>>>,
    pub timings: Timings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub message: String,
    /// Bus-and-step findings: where demand exceeds every possible supply.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub shortfalls: Vec<Shortfall>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shortfall {
    pub bus: String,
    pub step: usize,
    pub demand_kw: f64,
    pub max_supply_kw: f64,
}

/// Cost by kind; `total` is their sum (the `cost` objective's value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostSplit {
    /// Grid import bought less export sold.
    pub energy: f64,
    pub demand_charges: f64,
    pub fuel: f64,
    /// Sources' variable costs.
    pub variable: f64,
    pub unmet_penalty: f64,
    /// Annualised capacity costs over the horizon's share of a year.
    pub capacity: f64,
    pub total: f64,
}

impl CostSplit {
    /// Each part with a label for people, the total last.
    pub fn parts(&self) -> [(&'static str, f64); 7] {
        [
            ("energy", self.energy),
            ("demand charges", self.demand_charges),
            ("fuel", self.fuel),
            ("variable", self.variable),
            ("unmet penalty", self.unmet_penalty),
            ("capacity", self.capacity),
            ("total", self.total),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    pub buses: BTreeMap<String, BusKpis>,
    /// On the electricity bus; omitted when its denominator is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_consumption: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_sufficiency: Option<f64>,
    /// Storage equivalent full cycles, by storage; omitted where E = 0.
    pub storage_cycles: BTreeMap<String, f64>,
    pub cost: CostSplit,
    pub co2_kg: f64,
}

/// Energy on one bus over the horizon (kWh) and peaks (kW).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BusKpis {
    pub demand_served_kwh: f64,
    pub unmet_kwh: f64,
    pub generation_kwh: f64,
    pub curtailed_kwh: f64,
    pub grid_import_kwh: f64,
    pub grid_export_kwh: f64,
    pub peak_demand_kw: f64,
    pub peak_generation_kw: f64,
    pub peak_import_kw: f64,
    pub peak_export_kw: f64,
}

/// Wall-clock seconds per phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub build_s: f64,
    pub solve_s: f64,
    pub total_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<usize>,
}
