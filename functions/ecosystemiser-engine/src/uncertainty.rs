//! Uncertainty studies: sample chosen parameters, solve each sample, and
//! summarise the spread of outcomes.
//!
//! A parameter is a *multiplier* on a value of the system: `grid.import_price`
//! scales the whole price series, `house.scale` a demand's scale,
//! `pv.capacity.cost` a sizing block's annualised cost, `hp.cop` a converter's
//! efficiency series. Every sample is an independent job: the design is a pure
//! function of the spec (seed included), so sample `i` can be solved anywhere.

use serde::{Deserialize, Serialize};

use crate::model::*;
use crate::optimize::{optimize, Options};
use crate::parallel;
use crate::parse::{Invalid, ValidationError};
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
    /// Against this sample's own baseline, for a system with an `economics`
    /// section: its NPV and savings per year (absent where the baseline has
    /// no optimum), and the paybacks where they exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npv: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savings_per_year: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simple_payback_years: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discounted_payback_years: Option<u32>,
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
    /// With an `economics` section: NPV and savings per year over the
    /// optimal samples whose baseline is optimal. Higher is better here, so
    /// their VaR and CVaR look at the low tail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npv: Option<Stats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savings_per_year: Option<Stats>,
    /// The share of those samples with NPV > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_npv_positive: Option<f64>,
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
    /// Value at risk at 95 %: the 95th percentile where higher is worse
    /// (cost), the 5th where higher is better (NPV, savings).
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
        let (target, dist) = text.split_once('=').ok_or_else(|| format!("`{text}`: expected TARGET=DISTRIBUTION(ARGS)"))?;
        let (kind, args) = dist
            .trim()
            .strip_suffix(')')
            .and_then(|d| d.split_once('('))
            .ok_or_else(|| format!("`{dist}`: expected NAME(ARGS), e.g. uniform(0.8,1.2)"))?;
        let args: Vec<f64> = args
            .split(',')
            .map(|a| a.trim().parse::<f64>().map_err(|_| format!("`{a}` in `{dist}` is not a number")))
            .collect::<Result<_, _>>()?;
        let distribution = match (kind.trim(), args.as_slice()) {
            ("uniform", [low, high]) => Distribution::Uniform { low: *low, high: *high },
            ("normal", [mean, std]) => Distribution::Normal { mean: *mean, std: *std },
            ("triangular", [low, mode, high]) => Distribution::Triangular { low: *low, mode: *mode, high: *high },
            (name, args) => {
                return Err(format!(
                    "`{name}` with {} arguments: use uniform(low,high), normal(mean,std) or triangular(low,mode,high)",
                    args.len()
                ));
            }
        };
        let parameter = UncertainParameter { target: target.trim().to_string(), distribution };
        parameter.distribution.check().map_err(|m| format!("`{text}`: {m}"))?;
        Ok(parameter)
    }
}

impl Distribution {
    fn check(&self) -> Result<(), String> {
        let finite = |vs: &[f64]| vs.iter().all(|v| v.is_finite());
        match *self {
            Distribution::Uniform { low, high } if finite(&[low, high]) && low < high => Ok(()),
            Distribution::Normal { mean, std } if finite(&[mean, std]) && std > 0.0 => Ok(()),
            Distribution::Triangular { low, mode, high } if finite(&[low, mode, high]) && low <= mode && mode <= high && low < high => Ok(()),
            Distribution::Uniform { .. } => Err("uniform needs low < high".into()),
            Distribution::Normal { .. } => Err("normal needs std > 0".into()),
            Distribution::Triangular { .. } => Err("triangular needs low <= mode <= high and low < high".into()),
        }
    }

    /// The value at cumulative probability `u` in (0, 1).
    pub fn quantile(&self, u: f64) -> f64 {
        match *self {
            Distribution::Uniform { low, high } => low + (high - low) * u,
            Distribution::Normal { mean, std } => mean + std * standard_normal_quantile(u),
            Distribution::Triangular { low, mode, high } => {
                let split = (mode - low) / (high - low);
                if u < split {
                    low + (u * (high - low) * (mode - low)).sqrt()
                } else {
                    high - ((1.0 - u) * (high - low) * (high - mode)).sqrt()
                }
            }
        }
    }
}

/// Acklam's rational approximation with one Halley step: about 1e-15 relative.
fn standard_normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383_577_518_672_69e2, -3.066479806614716e+01, 2.506628277459239e+00];
    const B: [f64; 5] = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
    const C: [f64; 6] = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
    const D: [f64; 4] = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
    let low = 0.02425;
    let x = if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let e = 0.5 * erfc(-x / std::f64::consts::SQRT_2) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Complementary error function (Numerical Recipes' erfcc, 1.2e-7), enough
/// for the one refinement step above.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * (-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// SplitMix64: small, fast, and the same numbers on every platform and
/// version, which a reproducible study needs more than statistical polish.
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in the open interval (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

impl UncertaintySpec {
    /// The multipliers of every sample: `samples` rows of one value per parameter.
    pub fn design(&self) -> Vec<Vec<f64>> {
        let n = self.samples;
        let dims = self.parameters.len();
        let units: Vec<Vec<f64>> = match self.sampling {
            Sampling::LatinHypercube => {
                let mut rng = SplitMix(self.seed);
                let mut columns = Vec::with_capacity(dims);
                for _ in 0..dims {
                    // One draw in each of n equal strata, strata shuffled.
                    let mut strata: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        strata.swap(i, rng.below(i + 1));
                    }
                    columns.push(strata.into_iter().map(|s| (s as f64 + rng.unit()) / n as f64).collect::<Vec<f64>>());
                }
                (0..n).map(|i| columns.iter().map(|c| c[i]).collect()).collect()
            }
            Sampling::Sobol => {
                let seed = (self.seed ^ (self.seed >> 32)) as u32;
                (0..n)
                    .map(|i| {
                        (0..dims)
                            .map(|d| {
                                let u = sobol_burley::sample(i as u32, d as u32, seed) as f64;
                                // Keep away from 0 and 1, where normal quantiles are infinite.
                                u.clamp(0.5 / n as f64, 1.0 - 0.5 / n as f64)
                            })
                            .collect()
                    })
                    .collect()
            }
        };
        units
            .into_iter()
            .map(|row: Vec<f64>| row.iter().zip(&self.parameters).map(|(u, p)| p.distribution.quantile(*u)).collect())
            .collect()
    }

    /// Checks the spec against the system before any job runs.
    pub fn check(&self, system: &System) -> Result<(), Invalid> {
        let mut errors = Vec::new();
        let mut error = |path: String, message: String| errors.push(ValidationError { path, line: None, message });
        if self.samples == 0 {
            error("samples".into(), "must be at least 1".into());
        }
        if self.sampling == Sampling::Sobol && self.parameters.len() > sobol_burley::NUM_DIMENSIONS as usize {
            error("parameters".into(), format!("Sobol sampling supports at most {} parameters", sobol_burley::NUM_DIMENSIONS));
        }
        if self.parameters.is_empty() {
            error("parameters".into(), "name at least one uncertain parameter".into());
        }
        for (i, p) in self.parameters.iter().enumerate() {
            if let Err(m) = p.distribution.check() {
                error(format!("parameters[{i}].distribution"), m);
            }
            if let Err(m) = apply(&mut system.clone(), &p.target, 1.0) {
                error(format!("parameters[{i}].target"), m);
            }
            if self.parameters[..i].iter().any(|q| q.target == p.target) {
                error(format!("parameters[{i}].target"), format!("`{}` is named twice", p.target));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(Invalid { errors }) }
    }

    /// The system with sample `values` applied.
    pub fn apply(&self, system: &System, values: &[f64]) -> System {
        let mut system = system.clone();
        for (p, v) in self.parameters.iter().zip(values) {
            apply(&mut system, &p.target, *v).expect("targets are checked before sampling");
        }
        system
    }
}

/// Multiplies the value named by `target` by `factor`. Values that must stay
/// non-negative (capacities, profiles, scales) are clamped at 0, and
/// efficiencies at a small positive number, since a tail draw of a normal
/// distribution can cross zero.
fn apply(system: &mut System, target: &str, factor: f64) -> Result<(), String> {
    let (name, parameter) = target.split_once('.').ok_or_else(|| format!("`{target}`: expected component.parameter"))?;
    let component = system
        .components
        .iter_mut()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("`{target}`: no component named `{name}`"))?;
    let non_negative = factor.max(0.0);
    let positive = factor.max(1e-6);
    let capacity = |cap: &mut Capacity, cost: bool| match (cap, cost) {
        (Capacity::Sized(s), true) => s.scale_cost(factor),
        (Capacity::Fixed(v), false) => *v *= non_negative,
        (Capacity::Sized(s), false) => {
            s.min *= non_negative;
            s.max = s.max.map(|m| m * non_negative);
        }
        (Capacity::Fixed(_), true) => unreachable!("checked below"),
    };
    let (key, cost) = match parameter.strip_suffix(".cost") {
        Some(key) => (key, true),
        None => (parameter, false),
    };
    if cost {
        let found = component.capacities().into_iter().any(|(k, c)| k == key && c.sizing().is_some());
        if !found {
            return Err(format!("`{target}`: `{key}` of `{name}` is not a sizing block with a cost"));
        }
    }
    let unknown = || Err(format!("`{target}`: `{parameter}` cannot be varied on a {}", component.type_name));
    match (&mut component.kind, key) {
        (Kind::Grid(g), "import_price") => g.import_price = g.import_price.scaled(factor),
        (Kind::Grid(g), "export_price") => g.export_price = g.export_price.scaled(factor),
        (Kind::Grid(g), "import_co2_kg_per_kwh") => g.import_co2 = g.import_co2.scaled(factor),
        (Kind::Grid(g), "demand_charge_per_kw") => g.demand_charge_per_kw *= factor,
        (Kind::Source(s), "profile") => s.profile = s.profile.scaled(non_negative),
        (Kind::Source(s), "variable_cost_per_kwh") => s.variable_cost = s.variable_cost.scaled(factor),
        (Kind::Source(s), "capacity") => capacity(&mut s.capacity, cost),
        (Kind::Storage(s), "energy_kwh") => capacity(&mut s.energy, cost),
        (Kind::Storage(s), "power_kw" | "charge_kw" | "discharge_kw") => match (&mut s.power, key) {
            (StoragePower::Shared(p), "power_kw") => capacity(p, cost),
            (StoragePower::Separate { charge, .. }, "charge_kw") => capacity(charge, cost),
            (StoragePower::Separate { discharge, .. }, "discharge_kw") => capacity(discharge, cost),
            _ => return unknown(),
        },
        (Kind::Converter(c), "cop" | "efficiency") => c.efficiency = c.efficiency.scaled(positive),
        (Kind::Converter(c), "fuel_price_per_kwh") => c.fuel_price = c.fuel_price.scaled(factor),
        (Kind::Converter(c), "fuel_co2_kg_per_kwh") => c.fuel_co2 = c.fuel_co2.scaled(factor),
        (Kind::Converter(c), "capacity") => capacity(&mut c.capacity, cost),
        (Kind::Demand(d), "scale") => d.scale *= non_negative,
        (Kind::Demand(d), "profile") => d.profile = d.profile.scaled(non_negative),
        (Kind::Demand(d), "unmet_penalty_per_kwh") => d.unmet_penalty_per_kwh = d.unmet_penalty_per_kwh.map(|p| p * factor),
        _ => return unknown(),
    }
    Ok(())
}

/// Solves sample `index` of the design: a job that needs nothing but the spec.
pub fn solve_sample(system: &System, spec: &UncertaintySpec, index: usize, options: &Options) -> SampleResult {
    solve_values(system, spec, index, spec.design().swap_remove(index), options)
}

/// Solves one sample whose multipliers are already drawn.
pub fn solve_values(system: &System, spec: &UncertaintySpec, index: usize, values: Vec<f64>, options: &Options) -> SampleResult {
    let sampled = spec.apply(system, &values);
    let options = Options { with_series: false, ..options.clone() };
    let mut sample = SampleResult {
        index,
        values,
        status: Status::Unreliable,
        objective: None,
        cost: None,
        co2_kg: None,
        npv: None,
        savings_per_year: None,
        simple_payback_years: None,
        discounted_payback_years: None,
    };
    // Options were valid for the unsampled system; sampling only scales
    // values, so an error cannot happen. It is reported, not panicked on.
    if let Ok(r) = optimize(&sampled, &options) {
        sample.status = r.status;
        sample.objective = r.objective;
        sample.cost = r.cost.map(|c| c.total);
        sample.co2_kg = r.co2_kg;
        if let Some(e) = r.economics {
            sample.npv = e.npv;
            sample.savings_per_year = e.savings_per_year;
            sample.simple_payback_years = e.simple_payback_years;
            sample.discounted_payback_years = e.discounted_payback_years;
        }
    }
    sample
}

pub fn summarise(system: &System, spec: &UncertaintySpec, mut results: Vec<SampleResult>) -> UncertaintySummary {
    results.sort_by_key(|r| r.index);
    let ok: Vec<&SampleResult> = results.iter().filter(|r| r.status.is_optimal()).collect();
    let objective: Vec<f64> = ok.iter().filter_map(|r| r.objective).collect();
    let cost: Vec<f64> = ok.iter().filter_map(|r| r.cost).collect();
    let co2: Vec<f64> = ok.iter().filter_map(|r| r.co2_kg).collect();
    let npv: Vec<f64> = ok.iter().filter_map(|r| r.npv).collect();
    let savings: Vec<f64> = ok.iter().filter_map(|r| r.savings_per_year).collect();
    let with_economics = system.economics.is_some() && !npv.is_empty();
    let sensitivity = spec
        .parameters
        .iter()
        .enumerate()
        .map(|(j, p)| {
            let xs: Vec<f64> = ok.iter().map(|r| r.values[j]).collect();
            Sensitivity { target: p.target.clone(), spearman: spearman(&xs, &objective) }
        })
        .collect();
    UncertaintySummary {
        system: system.name.clone(),
        samples: results.len(),
        optimal: ok.len(),
        objective: Stats::of(&objective),
        cost: Stats::of(&cost),
        co2_kg: Stats::of(&co2),
        npv: with_economics.then(|| Stats::of_gains(&npv)),
        savings_per_year: with_economics.then(|| Stats::of_gains(&savings)),
        p_npv_positive: with_economics.then(|| npv.iter().filter(|v| **v > 0.0).count() as f64 / npv.len() as f64),
        sensitivity,
        results,
    }
}

impl Stats {
    /// For a figure where higher is better (NPV, savings): VaR at 95 % is
    /// the 5th percentile and CVaR the mean of the values at or below it.
    pub fn of_gains(values: &[f64]) -> Stats {
        let mut stats = Stats::of(values);
        if !values.is_empty() {
            let mut sorted = values.to_vec();
            sorted.sort_by(f64::total_cmp);
            stats.var95 = percentile(&sorted, 0.05);
            let tail: Vec<f64> = sorted.iter().copied().filter(|v| *v <= stats.var95).collect();
            stats.cvar95 = tail.iter().sum::<f64>() / tail.len() as f64;
        }
        stats
    }

    /// Percentiles interpolate linearly between order statistics.
    pub fn of(values: &[f64]) -> Stats {
        if values.is_empty() {
            return Stats::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let variance = if sorted.len() > 1 { sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
        let var95 = percentile(&sorted, 0.95);
        let tail: Vec<f64> = sorted.iter().copied().filter(|v| *v >= var95).collect();
        Stats {
            mean,
            std: variance.sqrt(),
            min: sorted[0],
            p10: percentile(&sorted, 0.10),
            p50: percentile(&sorted, 0.50),
            p90: percentile(&sorted, 0.90),
            max: sorted[sorted.len() - 1],
            var95,
            cvar95: tail.iter().sum::<f64>() / tail.len() as f64,
        }
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Ranks from 1, ties sharing their average rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation: Pearson's on the ranks. 0 when undefined.
pub fn spearman(xs: &[f64], ys: &[f64]) -> f64 {
    if xs.len() < 2 || xs.len() != ys.len() {
        return 0.0;
    }
    let (rx, ry) = (ranks(xs), ranks(ys));
    let mean = (rx.len() as f64 + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in rx.iter().zip(&ry) {
        sxy += (x - mean) * (y - mean);
        sxx += (x - mean).powi(2);
        syy += (y - mean).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 { 0.0 } else { sxy / (sxx * syy).sqrt() }
}

/// The whole study in one process, its samples on up to `threads` threads;
/// `progress(done, total)` after each sample, on the calling thread.
pub fn uncertainty(
    system: &System,
    spec: &UncertaintySpec,
    options: &Options,
    threads: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> UncertaintySummary {
    let jobs: Vec<(usize, Vec<f64>)> = spec.design().into_iter().enumerate().collect();
    let mut done = 0;
    let results = parallel::map(jobs, threads, &|(i, values)| solve_values(system, spec, i, values, options), &mut || {
        done += 1;
        progress(done, spec.samples);
    });
    summarise(system, spec, results)
}
