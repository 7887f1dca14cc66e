//! Economics against a baseline (energy-model v1.1): what the investment
//! saves compared with the system without it, and when it pays back.
//!
//! The baseline is the same system with the new investments deleted and
//! objective cost. It is solved like any system; if it has no optimum, that
//! is reported as `baseline_status` and the figures that need it are left
//! out, while the optimisation itself stands. Everything else here is
//! arithmetic on a solved run's cost split and sizes, so a study can solve
//! the baseline once and evaluate every point against it.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::optimize::{Options, optimize};
use crate::results::{CostSplit, Diagnosis, Results, Status};

/// The `economics` object of a results document. Figures that need the
/// baseline are `None` when it has no optimum; paybacks and IRR are `None`
/// where the spec says they are absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Economics {
    pub project_years: u32,
    /// `y * cost`: every cost term, annualised capacity terms included.
    pub cost_per_year: f64,
    /// Every cost term but capacity terms, plus each sized capacity's opex
    /// (capex form) or whole annual cost (annual form), per year.
    pub operating_cost_per_year: f64,
    /// `capex_per_unit * C` over sized capacities in the capex form.
    pub capex: f64,
    /// Per source with a sized capacity whose producible energy is not 0.
    pub lcoe_per_kwh: BTreeMap<String, f64>,
    pub baseline_status: Status,
    /// Why the baseline has no optimum; `None` when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_diagnosis: Option<Diagnosis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_cost_per_year: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savings_per_year: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npv: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simple_payback_years: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discounted_payback_years: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irr: Option<f64>,
    /// The optimised system's cost by part, per year (`y` times the split).
    pub cost_by_part_per_year: CostSplit,
    /// The baseline's, for the side-by-side comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_cost_by_part_per_year: Option<CostSplit>,
    /// Wall-clock seconds of the baseline's solve alone.
    pub baseline_solve_s: f64,
}

/// A solved baseline: all that evaluating a run against it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// The baseline's cost over the horizon, by part; `None` unless optimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostSplit>,
    pub solve_s: f64,
}

/// The baseline system: the removed components deleted, objective cost, and
/// no economics of its own.
pub fn baseline_system(system: &System, spec: &EconomicsSpec) -> System {
    let removed = |component: &Component| match &spec.remove {
        Some(names) => names.contains(&component.name),
        None => component.capacities().iter().any(|(_, c)| c.sizing().is_some()),
    };
    let mut baseline = system.clone();
    baseline.components.retain(|c| !removed(c));
    baseline.objective = Objective::Cost;
    baseline.economics = None;
    baseline
}

/// Solves the baseline of a system with an `economics` section, with the
/// run's solver and time limit; `None` for a system without one.
pub fn solve_baseline(system: &System, options: &Options) -> Option<Baseline> {
    let spec = system.economics.as_ref()?;
    let started = Instant::now();
    let baseline = baseline_system(system, spec);
    let options = Options { objective: Some(Objective::Cost), with_series: false, ..options.clone() };
    let outcome = if baseline.components.is_empty() {
        // Nothing is left to buy or run, so nothing costs anything.
        Ok(None)
    } else {
        optimize(&baseline, &options).map(Some)
    };
    let solve_s = started.elapsed().as_secs_f64();
    Some(match outcome {
        Ok(None) => Baseline { status: Status::Optimal, diagnosis: None, cost: Some(CostSplit::default()), solve_s },
        Ok(Some(results)) => Baseline {
            status: results.status,
            diagnosis: results.diagnosis.map(|d| Diagnosis { message: format!("baseline: {}", d.message), ..d }),
            cost: results.cost.filter(|_| results.status.is_optimal()),
            solve_s,
        },
        Err(invalid) => Baseline {
            status: Status::Unreliable,
            diagnosis: Some(Diagnosis {
                message: format!("the baseline could not be solved with these options: {invalid}"),
                shortfalls: Vec::new(),
            }),
            cost: None,
            solve_s,
        },
    })
}

/// Puts `economics` into an optimal run of a system with an `economics`
/// section; leaves any other run as it is.
pub fn attach(results: &mut Results, system: &System, baseline: Option<&Baseline>) {
    let (Some(spec), Some(baseline), Some(cost)) = (&system.economics, baseline, &results.cost) else { return };
    if results.status.is_optimal() {
        results.economics = Some(evaluate(system, spec, cost, &results.sizes, baseline));
    }
}

/// A sized capacity this close to 0 (kW or kWh) was not built. An interior
/// point solver ends a hair above its bounds, and a capex of 1e-9 would
/// otherwise make a payback of 1e-12 years and an IRR in the millions.
pub const NOT_BUILT: f64 = 1e-6;

/// Every figure of the spec for a run with this cost split and these sizes.
pub fn evaluate(system: &System, spec: &EconomicsSpec, cost: &CostSplit, sizes: &BTreeMap<String, f64>, baseline: &Baseline) -> Economics {
    let y = 1.0 / system.year_share();
    let r = system.discount_rate;
    let n = spec.project_years;
    let mut capex = 0.0;
    let mut sized_operating = 0.0;
    let mut lcoe_per_kwh = BTreeMap::new();
    for component in &system.components {
        for (key, capacity) in component.capacities() {
            let Some(sizing) = capacity.sizing() else { continue };
            let Some(&size) = sizes.get(&format!("{}.{key}", component.name)) else { continue };
            let size = if size.abs() <= NOT_BUILT { 0.0 } else { size };
            capex += sizing.capex_per_unit() * size;
            sized_operating += sizing.operating_per_unit_year() * size;
            if let Kind::Source(source) = &component.kind {
                let producible = y * system.dt * (0..system.timesteps).map(|t| size * source.profile.at(t)).sum::<f64>();
                if producible != 0.0 {
                    lcoe_per_kwh.insert(component.name.clone(), sizing.cost_per_unit_year * size / producible);
                }
            }
        }
    }
    let annual = |split: &CostSplit| scaled(split, y);
    let cost_per_year = y * cost.total;
    let operating_cost_per_year =
        y * (cost.energy + cost.demand_charges + cost.fuel + cost.variable + cost.unmet_penalty) + sized_operating;
    let baseline_cost_per_year = baseline.cost.as_ref().map(|c| y * c.total);
    let savings = baseline_cost_per_year.map(|b| b - operating_cost_per_year);
    Economics {
        project_years: n,
        cost_per_year,
        operating_cost_per_year,
        capex,
        lcoe_per_kwh,
        baseline_status: baseline.status,
        baseline_diagnosis: baseline.diagnosis.clone(),
        baseline_cost_per_year,
        savings_per_year: savings,
        npv: baseline_cost_per_year.map(|b| annuity_factor(r, n) * (b - cost_per_year)),
        simple_payback_years: savings.and_then(|s| simple_payback(s, capex)),
        discounted_payback_years: savings.and_then(|s| discounted_payback(s, capex, r, n)),
        irr: savings.and_then(|s| irr(s, capex, n)),
        cost_by_part_per_year: annual(cost),
        baseline_cost_by_part_per_year: baseline.cost.as_ref().map(annual),
        baseline_solve_s: baseline.solve_s,
    }
}

fn scaled(split: &CostSplit, y: f64) -> CostSplit {
    CostSplit {
        energy: y * split.energy,
        demand_charges: y * split.demand_charges,
        fuel: y * split.fuel,
        variable: y * split.variable,
        unmet_penalty: y * split.unmet_penalty,
        capacity: y * split.capacity,
        total: y * split.total,
    }
}

/// `AF = (1 - (1+r)^-N) / r`, the present value of 1 a year for `N` years;
/// `N` when r = 0.
pub fn annuity_factor(r: f64, n: u32) -> f64 {
    if r == 0.0 { f64::from(n) } else { (1.0 - (1.0 + r).powi(-(n as i32))) / r }
}

/// `capex / savings`, 0 without capex; `None` unless savings are positive.
/// A negative capex (a grant above the price) counts as none.
pub fn simple_payback(savings: f64, capex: f64) -> Option<f64> {
    if savings <= 0.0 {
        None
    } else if capex <= 0.0 {
        Some(0.0)
    } else {
        Some(capex / savings)
    }
}

/// The first whole year `n` in 1..=N by which the discounted savings cover
/// the capex; 0 without capex; `None` unless savings are positive or when
/// the project is too short.
pub fn discounted_payback(savings: f64, capex: f64, r: f64, project_years: u32) -> Option<u32> {
    if savings <= 0.0 {
        return None;
    }
    if capex <= 0.0 {
        return Some(0);
    }
    let mut covered = 0.0;
    for n in 1..=project_years {
        covered += savings / (1.0 + r).powi(n as i32);
        if covered >= capex {
            return Some(n);
        }
    }
    None
}

/// The rate `i > -1` at which `sum(k=1..N) savings/(1+i)^k = capex`;
/// `None` without capex or unless savings are positive.
///
/// With `x = 1/(1+i)` the sum is `savings * (x + x² + … + x^N)`, which rises
/// strictly from 0 as `x` grows from 0, so exactly one root exists and
/// bisection on `x` finds it to the last bit, even for a negative IRR.
pub fn irr(savings: f64, capex: f64, project_years: u32) -> Option<f64> {
    if savings <= 0.0 || capex <= 0.0 || !capex.is_finite() {
        return None;
    }
    let present = |x: f64| {
        let (mut sum, mut power) = (0.0, 1.0);
        for _ in 0..project_years {
            power *= x;
            sum += power;
        }
        savings * sum
    };
    let (mut lo, mut hi) = (0.0, 1.0);
    while present(hi) < capex {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if present(mid) < capex {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(1.0 / (0.5 * (lo + hi)) - 1.0)
}

/// The cumulative discounted cash flow at the end of each year 0..=N:
/// `-capex` at year 0, then the savings of each year discounted at `r`.
/// The curve crosses zero at the discounted payback.
pub fn cumulative_discounted_cash_flow(savings: f64, capex: f64, r: f64, project_years: u32) -> Vec<f64> {
    let mut flows = Vec::with_capacity(project_years as usize + 1);
    let mut cumulative = -capex;
    flows.push(cumulative);
    for k in 1..=project_years {
        cumulative += savings / (1.0 + r).powi(k as i32);
        flows.push(cumulative);
    }
    flows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annuity_factor_by_hand() {
        // r = 0: N payments of 1 are worth N.
        assert_eq!(annuity_factor(0.0, 20), 20.0);
        // r = 0.1, N = 2: 1/1.1 + 1/1.21 = 0.909091 + 0.826446 = 1.735537.
        assert!((annuity_factor(0.1, 2) - 1.735_537_190_082_644_6).abs() < 1e-12);
    }

    #[test]
    fn paybacks_by_hand() {
        // Savings 100 a year against capex 250 at r = 0: 2.5 years simple;
        // cumulative 100, 200, 300, so year 3 discounted (undiscounted here).
        assert_eq!(simple_payback(100.0, 250.0), Some(2.5));
        assert_eq!(discounted_payback(100.0, 250.0, 0.0, 10), Some(3));
        // At r = 0.1: 90.91, 173.55, 248.69 (< 250), 317.01, so year 4.
        assert_eq!(discounted_payback(100.0, 250.0, 0.1, 10), Some(4));
        // A 3-year project at r = 0.1 never gets there.
        assert_eq!(discounted_payback(100.0, 250.0, 0.1, 3), None);
        // A grant above the price is paid back before it starts.
        assert_eq!(
            (simple_payback(100.0, -50.0), discounted_payback(100.0, -50.0, 0.1, 3), irr(100.0, -50.0, 3)),
            (Some(0.0), Some(0), None)
        );
    }

    #[test]
    fn irr_by_hand() {
        // One year: 110 back for 100 out is 10 %.
        assert!((irr(110.0, 100.0, 1).unwrap() - 0.1).abs() < 1e-12);
        // Two years of 60 for 100: 60x + 60x² = 100 with x = 1/(1+i):
        // x = (-60 + sqrt(3600 + 24000)) / 120 = 0.884 437, i = 0.130 662.
        let x = (-60.0 + (3600.0f64 + 24000.0).sqrt()) / 120.0;
        assert!((irr(60.0, 100.0, 2).unwrap() - (1.0 / x - 1.0)).abs() < 1e-12);
        // Back less than paid out: a negative rate, 50 for 100 over 1 year is -50 %.
        assert!((irr(50.0, 100.0, 1).unwrap() + 0.5).abs() < 1e-12);
    }
}
