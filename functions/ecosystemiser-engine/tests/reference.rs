//! The full-year reference case against independently computed optima.

mod common;

use common::*;
use ecosystemiser_engine::{optimize, Options, Status};

fn check_objective(file: &str) -> ecosystemiser_engine::Results {
    let system = load_example(file);
    let results = optimize(&system, &Options::lp()).expect("options fit");
    assert_eq!(results.status, Status::Optimal, "{file}: {:?}", results.diagnosis);
    let reference = expected();
    let objective = reference["cases"][file]["objective"].as_f64().expect("objective");
    let tolerance = reference["tolerance_relative"].as_f64().expect("tolerance");
    assert_rel(results.objective.expect("objective"), objective, tolerance, file);
    results
}

#[test]
fn no_battery_matches_the_closed_form() {
    check_objective("no_battery.yaml");
}

#[test]
fn dispatch_matches_the_reference_objective() {
    let results = check_objective("dispatch.yaml");
    let demand = expected()["kpis_dispatch_reference"]["demand_kwh"].as_f64().expect("demand");
    let served = results.kpis.expect("kpis").buses["electricity"].demand_served_kwh;
    assert_rel(served, demand, 1e-6, "demand served");
}

#[test]
fn sizing_matches_the_reference_objective_and_sizes() {
    let results = check_objective("sizing.yaml");
    let case = &expected()["cases"]["sizing.yaml"];
    let tolerance = case["sizes_tolerance_absolute"].as_f64().expect("tolerance");
    for (key, value) in case["sizes"].as_object().expect("sizes") {
        let actual = results.sizes[key];
        let expected = value.as_f64().expect("size");
        assert!((actual - expected).abs() <= tolerance, "{key}: {actual} vs {expected}");
    }
}
