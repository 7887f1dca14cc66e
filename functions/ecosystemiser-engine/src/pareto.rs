//! The cost–CO2 Pareto front by the exact ε-constraint method.
//!
//! Two anchor solves (min cost, min CO2) bound the front; every other point
//! minimises cost subject to CO2 ≤ ε. Each point is an independent job, so the
//! serverless version can fan them out: [`anchors`], then [`epsilons`], then
//! [`solve_point`] per ε, then [`assemble`]. In one process, [`pareto`] runs
//! the same jobs on several threads.
//!
//! With an `economics` section every point carries its economics against
//! the one baseline (which no CO2 cap touches), so the front reads as cost,
//! CO2 and NPV.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::economics::{self, Baseline, Economics};
use crate::model::{Objective, System};
use crate::optimize::{solve_lp, Options};
use crate::parallel;
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
    /// NPV, paybacks and the rest against the baseline, for a system with
    /// an `economics` section and a solved point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub economics: Option<Economics>,
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
            economics: results.economics.clone(),
        }
    }
}

/// The two single-objective optima that bound the front. The clean end is
/// lexicographic: the cheapest dispatch among those with minimum CO2, since
/// minimising CO2 alone leaves cost arbitrary.
///
/// A system with an `economics` section also has its baseline solved, once
/// for both.
pub fn anchors(system: &System, options: &Options) -> (Results, Results) {
    let baseline = economics::solve_baseline(system, options);
    let mut cheapest = run(system, Objective::Cost, None, options);
    let mut cleanest = cleanest(system, options);
    for results in [&mut cheapest, &mut cleanest] {
        economics::attach(results, system, baseline.as_ref());
    }
    (cheapest, cleanest)
}

fn cleanest(system: &System, options: &Options) -> Results {
    let cleanest = run(system, Objective::Co2, None, options);
    match cleanest.co2_kg {
        Some(co2) if cleanest.status.is_optimal() => run(system, Objective::Cost, Some(co2 + co2_slack(co2)), options),
        _ => cleanest,
    }
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

/// Minimises cost subject to CO2 ≤ `epsilon`. An independent job: with an
/// `economics` section it solves the baseline too.
pub fn solve_point(system: &System, epsilon: f64, options: &Options) -> Results {
    let mut results = capped(system, epsilon, options);
    if results.status.is_optimal() {
        economics::attach(&mut results, system, economics::solve_baseline(system, options).as_ref());
    }
    results
}

fn capped(system: &System, epsilon: f64, options: &Options) -> Results {
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

/// One job of the front in one process.
enum Job {
    Baseline,
    Cheapest,
    Cleanest,
    Point(f64),
}

enum Solved {
    Baseline(Option<Baseline>),
    Run(Box<Results>),
}

/// The whole front in one process, its jobs on up to `threads` threads:
/// the anchors (and the baseline) first, then the ε points between them.
/// `progress(done, total)` after each job, on the calling thread.
pub fn pareto(system: &System, points: usize, options: &Options, threads: usize, progress: &mut dyn FnMut(usize, usize)) -> ParetoFront {
    let with_baseline = system.economics.is_some();
    let total = points.max(2) + usize::from(with_baseline);
    let mut done = 0;
    let mut tick = || {
        done += 1;
        progress(done, total);
    };
    let work = |job: Job| match job {
        Job::Baseline => Solved::Baseline(economics::solve_baseline(system, options)),
        Job::Cheapest => Solved::Run(Box::new(run(system, Objective::Cost, None, options))),
        Job::Cleanest => Solved::Run(Box::new(cleanest(system, options))),
        Job::Point(epsilon) => Solved::Run(Box::new(capped(system, epsilon, options))),
    };
    // The longest job first, so that the others fill the remaining threads.
    let mut first = vec![Job::Cleanest, Job::Cheapest];
    if with_baseline {
        first.push(Job::Baseline);
    }
    let mut baseline = None;
    let mut anchors = Vec::new();
    for solved in parallel::map(first, threads, &work, &mut tick) {
        match solved {
            Solved::Baseline(b) => baseline = b,
            Solved::Run(results) => anchors.push(*results),
        }
    }
    let (cleanest, cheapest) = (anchors.remove(0), anchors.remove(0));
    let mut solved = vec![(None, cheapest)];
    if let (Some(hi), Some(lo)) = (solved[0].1.co2_kg, cleanest.co2_kg) {
        solved.push((Some(lo), cleanest));
        let caps = epsilons(hi, lo, points);
        let interior: Vec<f64> = caps.iter().copied().skip(1).take(caps.len().saturating_sub(2)).collect();
        let jobs = interior.iter().map(|eps| Job::Point(*eps)).collect();
        for (eps, point) in interior.iter().zip(parallel::map(jobs, threads, &work, &mut tick)) {
            let Solved::Run(results) = point else { unreachable!("a point job solves a point") };
            solved.push((Some(*eps), *results));
        }
    }
    let points = solved
        .into_iter()
        .map(|(eps, mut results)| {
            economics::attach(&mut results, system, baseline.as_ref());
            ParetoPoint::from_results(eps, &results)
        })
        .collect();
    assemble(system, points)
}
