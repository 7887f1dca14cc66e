//! The solvers against each other: rule-based never beats the LP, a rolling
//! horizon of one window is the LP, Pareto end points are the single-objective
//! optima, and uncertainty studies are reproducible.

mod common;

use common::*;
use ecosystemiser_engine::pareto::pareto;
use ecosystemiser_engine::uncertainty::{spearman, uncertainty, Stats};
use ecosystemiser_engine::{
    optimize, Distribution, Objective, Options, Sampling, SolverKind, Status, System, UncertainParameter,
    UncertaintySpec,
};

/// Runs a solver and checks its dispatch against every rule of the spec.
fn run(system: &System, solver: SolverKind) -> f64 {
    let results = optimize(system, &Options { solver, ..Options::lp() }).expect("options fit");
    assert_eq!(results.status, Status::Optimal, "{}: {:?}", solver.name(), results.diagnosis);
    let dispatch = ecosystemiser_engine::dispatch::Dispatch::from_series(system, &results).expect("series");
    let (amount, where_) = dispatch.worst_violation(system);
    assert!(amount <= 1e-6, "{} violates the model by {amount:e}: {where_}", solver.name());
    results.objective.expect("objective")
}

/// A week with storage, PV, a heat pump and a boiler, built from the reference profiles.
fn multi_energy_week() -> System {
    system(&format!(
        "
name: week
timesteps: 168
profiles:
  inline:
    sun: {sun:?}
    load: {load:?}
    price: {price:?}
components:
  - {{name: grid, type: grid, import_price: price, export_price: 0.05, import_max_kw: 20, import_co2_kg_per_kwh: 0.3}}
  - {{name: pv, type: solar_pv, capacity: 6, profile: sun}}
  - {{name: battery, type: battery, energy_kwh: 8, power_kw: 3, efficiency_roundtrip: 0.9, soc_min: 0.1}}
  - {{name: hp, type: heat_pump, cop: 3.2, capacity: 6}}
  - {{name: boiler, type: fuel_boiler, efficiency: 0.92, capacity: 10, fuel_price_per_kwh: 0.07, fuel_co2_kg_per_kwh: 0.2}}
  - {{name: tank, type: thermal_storage, energy_kwh: 12, power_kw: 6, loss_per_hour: 0.01}}
  - {{name: house, type: electric_demand, profile: load}}
  - {{name: heating, type: heat_demand, profile: load, scale: 2}}
",
        sun = profile("pv_cf", 168),
        load = profile("demand_kw", 168),
        price = profile("import_price", 168),
    ))
}

fn profile(column: &str, steps: usize) -> Vec<f64> {
    let text = std::fs::read_to_string(example_dir().join("profiles.csv")).expect("csv");
    let mut lines = text.lines();
    let index = lines.next().unwrap().split(',').position(|c| c == column).expect("column");
    // Start in January so the week needs heat.
    lines.take(steps).map(|l| l.split(',').nth(index).unwrap().parse().unwrap()).collect()
}

#[test]
fn rule_based_never_beats_the_lp() {
    let mut systems: Vec<(String, System)> =
        ["dispatch.yaml", "no_battery.yaml", "sizing.yaml"].iter().map(|f| (f.to_string(), load_example(f))).collect();
    systems.push(("week".into(), multi_energy_week()));
    for (name, system) in systems {
        let lp = run(&system, SolverKind::Lp);
        let rules = run(&system, SolverKind::RuleBased);
        assert!(rules >= lp - 1e-6 * lp.abs().max(1.0), "{name}: rule-based {rules} < lp {lp}");
    }
}

#[test]
fn rule_based_is_exact_without_storage() {
    // With no storage every hour is independent and greedy is optimal.
    let system = load_example("no_battery.yaml");
    assert_rel(run(&system, SolverKind::RuleBased), 431.617473, 1e-6, "rule-based no_battery");
}

#[test]
fn rolling_with_one_window_is_the_lp() {
    let system = load_example("dispatch.yaml");
    let lp = run(&system, SolverKind::Lp);
    let rolling = run(&system, SolverKind::Rolling { window: system.timesteps, overlap: 0 });
    assert_rel(rolling, lp, 1e-9, "rolling with window = T");
}

#[test]
fn rolling_with_short_windows_is_feasible_and_no_better_than_the_lp() {
    let system = multi_energy_week();
    let lp = run(&system, SolverKind::Lp);
    let rolling = run(&system, SolverKind::Rolling { window: 48, overlap: 24 });
    assert!(rolling >= lp - 1e-6 * lp.abs(), "rolling {rolling} < lp {lp}");
    assert!(rolling <= lp * 1.5, "rolling {rolling} is far from lp {lp}");
}

#[test]
fn rolling_rejects_bad_windows_and_sized_systems() {
    let week = multi_energy_week();
    let bad = Options { solver: SolverKind::Rolling { window: 10, overlap: 10 }, ..Options::lp() };
    assert_eq!(optimize(&week, &bad).unwrap_err().errors[0].path, "options.overlap");
    let sized = Options { solver: SolverKind::Rolling { window: 24, overlap: 0 }, ..Options::lp() };
    let invalid = optimize(&load_example("sizing.yaml"), &sized).unwrap_err();
    assert!(invalid.to_string().contains("fixed capacities"), "{invalid}");
}

#[test]
fn pareto_end_points_are_the_single_objective_optima() {
    let system = multi_energy_week();
    let front = pareto(&system, 5, &Options { with_series: false, ..Options::lp() }, 2, &mut |_, _| {});
    let min_cost = run(&system, SolverKind::Lp);
    let min_co2 = optimize(&system, &Options { objective: Some(Objective::Co2), ..Options::lp() }).unwrap().objective.unwrap();
    let (first, last) = (&front.points[0], front.points.last().unwrap());
    assert_rel(first.cost.unwrap(), min_cost, 1e-6, "cheap end");
    assert_rel(last.co2_kg.unwrap(), min_co2, 1e-6, "clean end");
    assert_eq!(front.points.len(), 5, "{front:?}");
    // Along the front cost rises as CO2 falls.
    for pair in front.points.windows(2) {
        assert!(pair[1].co2_kg.unwrap() < pair[0].co2_kg.unwrap() + 1e-6);
        assert!(pair[1].cost.unwrap() > pair[0].cost.unwrap() - 1e-6);
    }
}

fn spec(samples: usize, sampling: Sampling) -> UncertaintySpec {
    UncertaintySpec {
        parameters: vec![
            UncertainParameter::parse("house.scale=uniform(0.5,1.5)").unwrap(),
            UncertainParameter::parse("grid.import_price=normal(1,0.02)").unwrap(),
            UncertainParameter::parse("hp.cop=triangular(0.8,1,1.1)").unwrap(),
        ],
        samples,
        seed: 7,
        sampling,
    }
}

#[test]
fn latin_hypercube_puts_one_sample_in_each_stratum() {
    let spec = UncertaintySpec {
        parameters: vec![UncertainParameter { target: "x.y".into(), distribution: Distribution::Uniform { low: 0.0, high: 1.0 } }],
        ..spec(50, Sampling::LatinHypercube)
    };
    let mut strata: Vec<usize> = spec.design().iter().map(|row| (row[0] * 50.0) as usize).collect();
    strata.sort_unstable();
    assert_eq!(strata, (0..50).collect::<Vec<_>>());
    assert_eq!(spec.design(), spec.design(), "same seed, same design");
}

#[test]
fn sobol_designs_are_reproducible_and_in_range() {
    let design = spec(64, Sampling::Sobol).design();
    assert_eq!(design, spec(64, Sampling::Sobol).design());
    assert!(design.iter().all(|row| (0.5..=1.5).contains(&row[0]) && (0.8..=1.1).contains(&row[2])));
    let mean = design.iter().map(|r| r[0]).sum::<f64>() / 64.0;
    assert!((mean - 1.0).abs() < 0.01, "Sobol mean {mean}");
}

#[test]
fn statistics_match_hand_computed_values() {
    let values: Vec<f64> = (1..=20).map(f64::from).collect();
    let stats = Stats::of(&values);
    assert_rel(stats.mean, 10.5, 1e-12, "mean");
    assert_rel(stats.p10, 2.9, 1e-12, "p10");
    assert_rel(stats.p50, 10.5, 1e-12, "p50");
    assert_rel(stats.var95, 19.05, 1e-12, "VaR95");
    assert_rel(stats.cvar95, 20.0, 1e-12, "CVaR95");
    assert_rel(spearman(&[1.0, 2.0, 3.0], &[10.0, 40.0, 90.0]), 1.0, 1e-12, "monotone");
    assert_rel(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0, 1e-12, "reversed");
}

#[test]
fn an_uncertainty_study_ranks_the_demand_scale_first() {
    let system = multi_energy_week();
    let spec = spec(12, Sampling::LatinHypercube);
    spec.check(&system).expect("targets exist");
    let mut reported = Vec::new();
    let summary = uncertainty(&system, &spec, &Options::lp(), 2, &mut |done, total| reported.push((done, total)));
    assert_eq!(summary.optimal, 12);
    assert_eq!(reported, (1..=12).map(|done| (done, 12)).collect::<Vec<_>>(), "progress counts every sample once, in order");
    let scale = summary.sensitivity[0].spearman;
    assert!(scale > 0.9, "demand scale should dominate: {:?}", summary.sensitivity);
    assert!(summary.objective.p10 <= summary.objective.p50 && summary.objective.p50 <= summary.objective.p90);
}

#[test]
fn studies_on_several_threads_equal_studies_on_one() {
    let system = multi_energy_week();
    let options = Options { with_series: false, ..Options::lp() };
    let mut progress = Vec::new();
    let parallel = pareto(&system, 4, &options, 3, &mut |done, total| progress.push((done, total)));
    assert_eq!(parallel, pareto(&system, 4, &options, 1, &mut |_, _| {}), "the same front, in the same order");
    assert_eq!(progress, (1..=4).map(|done| (done, 4)).collect::<Vec<_>>(), "two anchors, then two points");
    let spec = spec(6, Sampling::Sobol);
    let one = uncertainty(&system, &spec, &options, 1, &mut |_, _| {});
    let two = uncertainty(&system, &spec, &options, 2, &mut |_, _| {});
    assert_eq!(one.results, two.results, "every sample the same, in index order");
    assert_eq!(one.objective, two.objective);
}

#[test]
fn bad_uncertain_parameters_are_rejected() {
    assert!(UncertainParameter::parse("grid.import_price=uniform(2,1)").is_err());
    assert!(UncertainParameter::parse("grid.import_price=gamma(1,2)").is_err());
    let bad = UncertaintySpec { parameters: vec![UncertainParameter::parse("nope.scale=normal(1,0.1)").unwrap()], ..spec(4, Sampling::Sobol) };
    let invalid = bad.check(&multi_energy_week()).unwrap_err();
    assert!(invalid.to_string().contains("no component named `nope`"), "{invalid}");
}
