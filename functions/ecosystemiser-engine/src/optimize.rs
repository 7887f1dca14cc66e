//! One optimisation run: pick the solver, run it, report.

use std::time::Instant;

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};

use crate::dispatch::{Dispatch, Flows};
use crate::economics;
use crate::lp;
use crate::presolve::Reduced;
use crate::model::*;
use crate::parse::{Invalid, ValidationError};
use crate::results::*;
use crate::rule_based;

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub solver: SolverKind,
    /// Overrides the file's objective.
    pub objective: Option<Objective>,
    /// Seconds; `None` for no limit.
    pub time_limit_s: Option<f64>,
    /// Whether to put every variable's series in the results.
    pub with_series: bool,
}

impl Options {
    pub fn lp() -> Options {
        Options { solver: SolverKind::Lp, objective: None, time_limit_s: None, with_series: true }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SolverKind {
    Lp,
    RuleBased,
    /// Optimises `window` steps at a time and keeps the first
    /// `window - overlap`; storage state carries into the next window.
    Rolling { window: usize, overlap: usize },
}

impl SolverKind {
    pub fn name(&self) -> &'static str {
        match self {
            SolverKind::Lp => "lp",
            SolverKind::RuleBased => "rule-based",
            SolverKind::Rolling { .. } => "rolling",
        }
    }
}

/// Runs one optimisation. Infeasible, unbounded and the like are outcomes in
/// the results; the error is for options that do not fit the system. A
/// system with an `economics` section also has its baseline solved, after an
/// optimal run, and the results carry `economics`.
pub fn optimize(system: &System, options: &Options) -> Result<Results, Invalid> {
    let mut results = optimize_alone(system, options)?;
    if system.economics.is_some() && results.status.is_optimal() {
        let baseline = economics::solve_baseline(system, options);
        economics::attach(&mut results, system, baseline.as_ref());
    }
    Ok(results)
}

/// [`optimize`] without the baseline.
fn optimize_alone(system: &System, options: &Options) -> Result<Results, Invalid> {
    let started = Instant::now();
    let mut system = system.clone();
    if let Some(objective) = options.objective {
        system.objective = objective;
    }
    let run = match options.solver {
        SolverKind::Lp => solve_lp(&system, None, options.time_limit_s),
        SolverKind::RuleBased => rule_based::dispatch(&system),
        SolverKind::Rolling { window, overlap } => rolling(&system, window, overlap, options.time_limit_s)?,
    };
    Ok(run.into_results(&system, options, started))
}

/// What a solver produced, before accounting.
pub(crate) struct Run {
    pub status: Status,
    pub dispatch: Option<Dispatch>,
    pub diagnosis: Option<Diagnosis>,
    pub timings: Timings,
}

impl Run {
    pub(crate) fn into_results(self, system: &System, options: &Options, started: Instant) -> Results {
        let mut timings = self.timings;
        let (mut cost, mut co2, mut kpis, mut sizes, mut series, mut objective) =
            (None, None, None, Default::default(), Default::default(), None);
        if let (Some(dispatch), true) = (&self.dispatch, self.status.is_optimal()) {
            let (split, total_co2) = dispatch.accounts(system);
            let (w_cost, w_co2) = system.objective.weights();
            objective = Some(w_cost * split.total + w_co2 * total_co2);
            kpis = Some(dispatch.kpis(system, split.clone(), total_co2));
            sizes = dispatch.sizes(system);
            if options.with_series {
                series = dispatch.series(system);
            }
            cost = Some(split);
            co2 = Some(total_co2);
        }
        timings.total_s = started.elapsed().as_secs_f64();
        Results {
            status: self.status,
            objective,
            system: system.name.clone(),
            solver: options.solver.name().to_string(),
            objective_kind: system.objective.name().to_string(),
            timesteps: system.timesteps,
            timestep_hours: system.dt,
            diagnosis: self.diagnosis,
            cost,
            co2_kg: co2,
            sizes,
            kpis,
            economics: None,
            series,
            timings,
        }
    }
}

/// Builds and solves the LP; `co2_cap` adds the ε-constraint.
pub(crate) fn solve_lp(system: &System, co2_cap: Option<f64>, time_limit_s: Option<f64>) -> Run {
    let shortfalls = precheck(system);
    if !shortfalls.is_empty() {
        return Run { status: Status::Infeasible, dispatch: None, diagnosis: Some(shortfall_diagnosis(shortfalls)), timings: Timings::default() };
    }
    let built = Instant::now();
    let lp = lp::build(system, co2_cap);
    let q = lp.objective(system.objective.weights());
    let problem = &lp.problem;
    let mut timings = Timings {
        build_s: built.elapsed().as_secs_f64(),
        variables: Some(problem.n),
        constraints: Some(problem.n_eq + problem.n_ineq),
        ..Timings::default()
    };
    let solved = Instant::now();
    let deadline = time_limit_s.map(|s| solved + std::time::Duration::from_secs_f64(s));
    // Iterative refinement costs about 40 % of the solve on these LPs and
    // changes nothing when the fast path ends cleanly; it is kept as the
    // fallback for any other ending.
    let mut outcome = clarabel_solve(problem, &q, false, deadline);
    if let Ok((status, _, _)) = &outcome
        && !matches!(status, SolverStatus::Solved | SolverStatus::PrimalInfeasible | SolverStatus::DualInfeasible | SolverStatus::MaxTime) {
            let first = outcome.as_ref().map(|o| o.2).unwrap_or(0);
            outcome = clarabel_solve(problem, &q, true, deadline).map(|(s, x, i)| (s, x, i + first));
        }
    timings.solve_s = solved.elapsed().as_secs_f64();
    let (status, x, iterations) = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            let diagnosis = Diagnosis { message: format!("the solver rejected the problem: {e}"), shortfalls: Vec::new() };
            return Run { status: Status::Unreliable, dispatch: None, diagnosis: Some(diagnosis), timings };
        }
    };
    timings.iterations = Some(iterations);
    let (ours, message) = match status {
        SolverStatus::Solved => (Status::Optimal, None),
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => (
            Status::Infeasible,
            Some("infeasible, yet no bus and step lacks supply capacity: storage energy limits, a cyclic end state or a converter chain make the demand unservable"),
        ),
        SolverStatus::DualInfeasible | SolverStatus::AlmostDualInfeasible => {
            (Status::Unbounded, Some("unbounded: a negative price, penalty or capacity cost can be exploited without limit"))
        }
        SolverStatus::MaxTime => (Status::TimeLimit, Some("the time limit was reached before an optimal solution")),
        SolverStatus::AlmostSolved => (Status::Unreliable, Some("solved to reduced accuracy only")),
        _ => (Status::Unreliable, Some("the solver stopped without a reliable solution")),
    };
    let mut diagnosis = message.map(|m| Diagnosis {
        message: format!("{m} (clarabel: {status:?} after {iterations} iterations)"),
        shortfalls: Vec::new(),
    });
    if ours == Status::Infeasible {
        diagnosis = elastic_diagnosis(system, co2_cap, deadline).or(diagnosis);
    }
    let dispatch = ours.is_optimal().then(|| Dispatch::from_lp(&lp, &problem.recover(&x)));
    Run { status: ours, dispatch, diagnosis, timings }
}

/// Penalty per kWh on demand that the elastic re-solve lets go unmet: far
/// above any price, so energy goes unmet only where it cannot be supplied.
const ELASTIC_PENALTY: f64 = 1e4;

/// Finds where an infeasible system runs short that the pre-check could not
/// see (storage running empty, a cyclic end state, a converter chain): every
/// hard demand may go unmet at a prohibitive penalty, and the steps where it
/// does are the diagnosis.
fn elastic_diagnosis(system: &System, co2_cap: Option<f64>, deadline: Option<Instant>) -> Option<Diagnosis> {
    let mut elastic = system.clone();
    elastic.objective = Objective::Cost;
    for component in &mut elastic.components {
        if let Kind::Demand(d) = &mut component.kind {
            d.unmet_penalty_per_kwh.get_or_insert(ELASTIC_PENALTY);
        }
    }
    let lp = lp::build(&elastic, co2_cap);
    let q = lp.objective(elastic.objective.weights());
    let (status, x, _) = clarabel_solve(&lp.problem, &q, false, deadline).ok()?;
    if status != SolverStatus::Solved {
        return None;
    }
    let dispatch = Dispatch::from_lp(&lp, &lp.problem.recover(&x));
    let mut shortfalls = Vec::new();
    for ((component, flows), original) in elastic.components.iter().zip(&dispatch.flows).zip(&system.components) {
        let (Kind::Demand(d), Flows::Demand { unmet }, Kind::Demand(hard)) = (&component.kind, flows, &original.kind) else { continue };
        if hard.unmet_penalty_per_kwh.is_some() {
            continue;
        }
        for (t, u) in unmet.iter().enumerate().filter(|(_, u)| **u > 1e-6) {
            shortfalls.push(Shortfall { bus: d.bus.clone(), step: t, demand_kw: d.at(t), max_supply_kw: d.at(t) - u });
        }
    }
    if shortfalls.is_empty() {
        return None;
    }
    shortfalls.sort_by_key(|s| s.step);
    let short_kwh: f64 = shortfalls.iter().map(|s| (s.demand_kw - s.max_supply_kw) * system.dt).sum();
    let first = &shortfalls[0];
    let message = format!(
        "infeasible: on bus `{}` from step {} demand cannot be met over time ({:.4} kWh short in {} steps): storage energy, a cyclic end state or a converter's input runs out, although no single step lacks supply capacity",
        first.bus,
        first.step,
        short_kwh,
        shortfalls.len()
    );
    shortfalls.truncate(SHORTFALLS_LISTED);
    Some(Diagnosis { message, shortfalls })
}

/// One clarabel run: its status, solution and iteration count.
fn clarabel_solve(
    problem: &Reduced,
    q: &[f64],
    refine: bool,
    deadline: Option<Instant>,
) -> Result<(SolverStatus, Vec<f64>, u32), clarabel::solver::SolverError> {
    let time_limit = deadline.map_or(f64::INFINITY, |d| d.saturating_duration_since(Instant::now()).as_secs_f64());
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .time_limit(time_limit)
        .iterative_refinement_enable(refine)
        .build()
        .expect("valid clarabel settings");
    let p = CscMatrix::zeros((problem.n, problem.n));
    let cones = [SupportedConeT::ZeroConeT(problem.n_eq), SupportedConeT::NonnegativeConeT(problem.n_ineq)];
    let mut solver = DefaultSolver::new(&p, q, &problem.a, &problem.b, &cones, settings)?;
    solver.solve();
    let solution = &mut solver.solution;
    Ok((solution.status, std::mem::take(&mut solution.x), solution.iterations))
}

/// Steps where a bus's fixed demand exceeds every possible supply into it,
/// found without a solver. Finding one proves the system infeasible.
pub fn precheck(system: &System) -> Vec<Shortfall> {
    let buses = system.buses();
    let mut shortfalls = Vec::new();
    for bus in &buses {
        for t in 0..system.timesteps {
            let mut demand = 0.0;
            let mut supply = 0.0;
            for component in &system.components {
                match &component.kind {
                    Kind::Demand(d) if d.bus == *bus => {
                        demand += d.at(t);
                        if d.unmet_penalty_per_kwh.is_some() {
                            supply += d.at(t);
                        }
                    }
                    Kind::Grid(g) if g.bus == *bus => supply += g.import_max_kw.unwrap_or(f64::INFINITY),
                    Kind::Source(s) if s.bus == *bus => {
                        supply += s.capacity.upper().unwrap_or(f64::INFINITY) * s.profile.at(t);
                    }
                    Kind::Storage(s) if s.bus == *bus && !s.energy.is_fixed_zero() => {
                        supply += s.power.discharge().upper().unwrap_or(f64::INFINITY);
                    }
                    Kind::Converter(c) if c.bus_out == *bus => supply += c.capacity.upper().unwrap_or(f64::INFINITY),
                    _ => {}
                }
            }
            if demand > supply * (1.0 + 1e-9) + 1e-9 {
                shortfalls.push(Shortfall { bus: bus.clone(), step: t, demand_kw: demand, max_supply_kw: supply });
            }
        }
    }
    shortfalls
}

/// At most this many shortfalls are listed; the message counts them all.
const SHORTFALLS_LISTED: usize = 20;

pub(crate) fn shortfall_diagnosis(mut shortfalls: Vec<Shortfall>) -> Diagnosis {
    let first = &shortfalls[0];
    let message = format!(
        "infeasible: on bus `{}` at step {} demand is {:.4} kW but every possible supply adds up to {:.4} kW ({} such steps in all)",
        first.bus,
        first.step,
        first.demand_kw,
        first.max_supply_kw,
        shortfalls.len()
    );
    shortfalls.truncate(SHORTFALLS_LISTED);
    Diagnosis { message, shortfalls }
}

fn invalid(path: &str, message: String) -> Invalid {
    Invalid { errors: vec![ValidationError { path: path.to_string(), line: None, message }] }
}

/// A rolling horizon: windows of `window` steps, each keeping its first
/// `window - overlap` steps, storage levels carried across.
///
/// Billing periods restart with each window, so demand charges are an
/// approximation inside windows; the reported cost is recomputed over the
/// whole horizon. With `window >= timesteps` this is exactly the LP.
fn rolling(system: &System, window: usize, overlap: usize, time_limit_s: Option<f64>) -> Result<Run, Invalid> {
    if window == 0 {
        return Err(invalid("options.window", "must be at least 1".into()));
    }
    if overlap >= window {
        return Err(invalid("options.overlap", format!("must be below the window ({window}), got {overlap}")));
    }
    if let Some(c) = system.components.iter().find(|c| c.capacities().iter().any(|(_, cap)| cap.sizing().is_some())) {
        return Err(invalid("options.solver", format!("rolling horizon needs fixed capacities, but `{}` is sized; use the lp solver to size", c.name)));
    }
    let deadline = time_limit_s.map(|s| Instant::now() + std::time::Duration::from_secs_f64(s));
    let mut flows: Option<Vec<Flows>> = None;
    let mut levels: Vec<Option<f64>> = vec![None; system.components.len()];
    let mut timings = Timings::default();
    let mut start = 0;
    while start < system.timesteps {
        let len = window.min(system.timesteps - start);
        let last = start + len == system.timesteps;
        let keep = if last { len } else { window - overlap };
        let mut part = system.window(start, len);
        for (component, level) in part.components.iter_mut().zip(&levels) {
            if let Kind::Storage(s) = &mut component.kind {
                s.soc_start_kwh = *level;
                s.cyclic &= last;
            }
        }
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64());
        let run = solve_lp(&part, None, remaining);
        timings.build_s += run.timings.build_s;
        timings.solve_s += run.timings.solve_s;
        *timings.iterations.get_or_insert(0) += run.timings.iterations.unwrap_or(0);
        let Some(dispatch) = run.dispatch.filter(|_| run.status.is_optimal()) else {
            let mut diagnosis = run.diagnosis.unwrap_or(Diagnosis { message: String::new(), shortfalls: Vec::new() });
            diagnosis.message = format!("window starting at step {start}: {}", diagnosis.message);
            for s in &mut diagnosis.shortfalls {
                s.step += start;
            }
            return Ok(Run { status: run.status, dispatch: None, diagnosis: Some(diagnosis), timings });
        };
        for (level, f) in levels.iter_mut().zip(&dispatch.flows) {
            if let Flows::Storage { soc, .. } = f {
                *level = Some(soc[keep - 1]);
            }
        }
        append(&mut flows, dispatch.flows, keep);
        start += keep;
    }
    let dispatch = Dispatch { flows: flows.expect("at least one window") };
    Ok(Run { status: Status::Optimal, dispatch: Some(dispatch), diagnosis: None, timings })
}

/// Appends the first `keep` steps of a window's flows.
fn append(all: &mut Option<Vec<Flows>>, window: Vec<Flows>, keep: usize) {
    let head = |v: &Vec<f64>| v[..keep].to_vec();
    let window: Vec<Flows> = window
        .into_iter()
        .map(|f| match f {
            Flows::Grid { import, export } => Flows::Grid { import: head(&import), export: head(&export) },
            Flows::Source { capacity, generation } => Flows::Source { capacity, generation: head(&generation) },
            Flows::Storage { energy, charge_kw, discharge_kw, charge, discharge, soc } => Flows::Storage {
                energy,
                charge_kw,
                discharge_kw,
                charge: head(&charge),
                discharge: head(&discharge),
                soc: head(&soc),
            },
            Flows::Converter { capacity, input } => Flows::Converter { capacity, input: head(&input) },
            Flows::Demand { unmet } => Flows::Demand { unmet: head(&unmet) },
        })
        .collect();
    let Some(all) = all else {
        *all = Some(window);
        return;
    };
    for (a, w) in all.iter_mut().zip(window) {
        match (a, w) {
            (Flows::Grid { import, export }, Flows::Grid { import: i, export: e }) => {
                import.extend(i);
                export.extend(e);
            }
            (Flows::Source { generation, .. }, Flows::Source { generation: g, .. }) => generation.extend(g),
            (Flows::Storage { charge, discharge, soc, .. }, Flows::Storage { charge: c, discharge: d, soc: s, .. }) => {
                charge.extend(c);
                discharge.extend(d);
                soc.extend(s);
            }
            (Flows::Converter { input, .. }, Flows::Converter { input: i, .. }) => input.extend(i),
            (Flows::Demand { unmet }, Flows::Demand { unmet: u }) => unmet.extend(u),
            _ => unreachable!("windows of one system have the same components"),
        }
    }
}
