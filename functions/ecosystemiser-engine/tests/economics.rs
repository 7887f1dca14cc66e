//! Economics against a baseline (energy-model v1.1): the public reference
//! case, small systems worked by hand, and properties that any correct
//! implementation has.

mod common;

use common::*;
use ecosystemiser_engine::economics::{Economics, annuity_factor, discounted_payback, irr, simple_payback};
use ecosystemiser_engine::{Options, Results, Status, optimize};

fn solve(yaml: &str) -> Results {
    let results = optimize(&system(yaml), &Options::lp()).expect("options fit");
    assert_eq!(results.status, Status::Optimal, "{:?}", results.diagnosis);
    results
}

fn economics(yaml: &str) -> Economics {
    solve(yaml).economics.expect("a system with an economics section gets economics")
}

fn close(actual: f64, expected: f64, what: &str) {
    assert_rel(actual, expected, 1e-6, what);
}

#[test]
fn the_public_reference_case_matches_to_1e_6() {
    let results = optimize(&load_example("economics.yaml"), &Options::lp()).expect("options fit");
    assert_eq!(results.status, Status::Optimal, "{:?}", results.diagnosis);
    let reference = expected();
    let case = &reference["economics_cases"]["economics.yaml"];
    let tolerance = reference["tolerance_relative"].as_f64().expect("tolerance");
    let figure = |key: &str| case["economics"][key].as_f64().unwrap_or_else(|| panic!("{key} in expected.json"));
    assert_rel(results.objective.expect("objective"), case["objective"].as_f64().expect("objective"), tolerance, "objective");
    let e = results.economics.expect("economics");
    assert_eq!(u64::from(e.project_years), case["economics"]["project_years"].as_u64().expect("years"));
    assert_eq!(serde_json::to_value(e.baseline_status).unwrap(), case["economics"]["baseline_status"]);
    // The figures are published to 6 decimals, so a small one (the IRR,
    // 0.108515) is only known to half a unit of the last: 4.6e-6 relative.
    let published = |actual: f64, expected: f64, key: &str| {
        let allowed = (tolerance * expected.abs()).max(0.5e-6) * (1.0 + 1e-9);
        assert!((actual - expected).abs() <= allowed, "{key}: {actual} vs published {expected}");
    };
    for (key, actual) in [
        ("cost_per_year", Some(e.cost_per_year)),
        ("operating_cost_per_year", Some(e.operating_cost_per_year)),
        ("capex", Some(e.capex)),
        ("baseline_cost_per_year", e.baseline_cost_per_year),
        ("savings_per_year", e.savings_per_year),
        ("npv", e.npv),
        ("simple_payback_years", e.simple_payback_years),
        ("irr", e.irr),
    ] {
        published(actual.unwrap_or_else(|| panic!("{key} is missing")), figure(key), key);
    }
    assert_eq!(e.discounted_payback_years.map(u64::from), case["economics"]["discounted_payback_years"].as_u64());
    let lcoe = case["economics"]["lcoe_per_kwh"].as_object().expect("lcoe");
    assert_eq!(e.lcoe_per_kwh.len(), lcoe.len(), "one LCOE per sized source");
    for (source, value) in lcoe {
        published(e.lcoe_per_kwh[source], value.as_f64().expect("lcoe"), &format!("lcoe {source}"));
    }
}

/// Four hours of a 1 kW house on a 0.3/kWh grid, with 2 kW of PV at half
/// output (1 kW, all of the demand) whose cost block is `{pv}`.
///
/// Shared working: the horizon is 4 h, so `y = 8760 / 4 = 2190`. The
/// baseline (no PV) imports 1 kW for 4 h at 0.3: 1.2 a horizon, so
/// `baseline_cost_per_year = 2190 * 1.2 = 2628`. With the PV nothing is
/// imported, so every cost is the PV's. PV can produce
/// `y * dt * sum(C * profile) = 2190 * 4 * 2 * 0.5 = 8760` kWh a year.
fn house(discount_rate: f64, project_years: u32, pv: &str, remove: &str) -> String {
    format!(
        "
name: house
timesteps: 4
discount_rate: {discount_rate}
economics: {{project_years: {project_years}{remove}}}
components:
  - {{name: grid, type: grid, import_price: 0.3}}
  - {{name: pv, type: solar_pv, profile: 0.5, capacity: {pv}}}
  - {{name: house, type: electric_demand, profile: 1}}
"
    )
}

#[test]
fn annuity_factor_with_r_0_is_the_project_length() {
    // r = 0, so CRF = 1/n: a = 1000/20 + 10 = 60 per kW, and 2 kW cost
    // 120 a year. Operating: opex only, 10 * 2 = 20. Capex 1000 * 2 = 2000.
    // AF = N = 10, so NPV = 10 * (2628 - 120) = 25080.
    // Savings 2628 - 20 = 2608: simple payback 2000 / 2608 = 0.766871;
    // undiscounted, year 1 already brings 2608 >= 2000.
    // LCOE: 120 / 8760 = 0.0136986 per kWh.
    let e = economics(&house(0.0, 10, "{min: 2, max: 2, capex_per_unit: 1000, lifetime_years: 20, opex_per_unit_year: 10}", ""));
    assert_eq!(annuity_factor(0.0, 10), 10.0);
    close(e.cost_per_year, 120.0, "cost per year");
    close(e.operating_cost_per_year, 20.0, "operating cost");
    close(e.capex, 2000.0, "capex");
    close(e.baseline_cost_per_year.unwrap(), 2628.0, "baseline");
    close(e.savings_per_year.unwrap(), 2608.0, "savings");
    close(e.npv.unwrap(), 25080.0, "npv");
    close(e.simple_payback_years.unwrap(), 2000.0 / 2608.0, "simple payback");
    assert_eq!(e.discounted_payback_years, Some(1));
    close(e.lcoe_per_kwh["pv"], 120.0 / 8760.0, "lcoe");
    // IRR over 10 years: sum(2608 x^k) = 2000 has x about 0.434 (i about 130 %).
    let i = e.irr.unwrap();
    let present: f64 = (1..=10).map(|k| 2608.0 / (1.0 + i).powi(k)).sum();
    close(present, 2000.0, "irr equation");
}

#[test]
fn capex_0_pays_back_at_once_and_has_no_irr() {
    // No capex, opex 4 per kW-year; the LP picks C = 2 (more would be
    // curtailed, less leaves imports at 0.3 * 4380 = 1314 a kW-year).
    // Cost and operating cost are both 4 * 2 = 8 a year; capex 0.
    // AF(5 %, 20) = (1 - 1.05^-20) / 0.05 = 12.462210, so
    // NPV = 12.462210 * (2628 - 8) = 32650.99. Savings 2620 > 0 with no
    // capex: both paybacks 0, and no IRR.
    let e = economics(&house(0.05, 20, "{min: 0, max: 5, capex_per_unit: 0, lifetime_years: 10, opex_per_unit_year: 4}", ""));
    close(e.cost_per_year, 8.0, "cost per year");
    close(e.operating_cost_per_year, 8.0, "operating cost");
    assert_eq!(e.capex, 0.0);
    close(annuity_factor(0.05, 20), 12.462_210_34, "AF");
    close(e.npv.unwrap(), 12.462_210_34 * 2620.0, "npv");
    close(e.savings_per_year.unwrap(), 2620.0, "savings");
    assert_eq!(e.simple_payback_years, Some(0.0));
    assert_eq!(e.discounted_payback_years, Some(0));
    assert_eq!(e.irr, None);
}

#[test]
fn without_savings_there_are_no_paybacks_and_no_irr() {
    // r = 0, lifetime 10: a = 100000/10 + 2000 = 12000 per kW, 24000 a
    // year for 2 kW. Operating: opex 2000 * 2 = 4000, more than the
    // baseline's 2628, so savings are 2628 - 4000 = -1372.
    // NPV = 5 * (2628 - 24000) = -106860.
    let e = economics(&house(0.0, 5, "{min: 2, max: 2, capex_per_unit: 100000, lifetime_years: 10, opex_per_unit_year: 2000}", ""));
    close(e.savings_per_year.unwrap(), -1372.0, "savings");
    close(e.npv.unwrap(), -106_860.0, "npv");
    close(e.capex, 200_000.0, "capex");
    assert_eq!(e.simple_payback_years, None);
    assert_eq!(e.discounted_payback_years, None);
    assert_eq!(e.irr, None);
    // Savings of exactly 0 are not positive either.
    assert_eq!(simple_payback(0.0, 100.0), None);
    assert_eq!(discounted_payback(0.0, 100.0, 0.05, 20), None);
    assert_eq!(irr(0.0, 100.0, 20), None);
}

#[test]
fn an_infeasible_baseline_is_reported_and_the_run_stands() {
    // Without the grid and the PV the house has no supply at all: the
    // baseline is infeasible at step 0 (demand 1 kW, supply 0).
    let results = solve(&house(0.05, 20, "{min: 2, max: 2, capex_per_unit: 1000, lifetime_years: 20}", ", baseline: {remove: [grid, pv]}"));
    let e = results.economics.clone().expect("economics");
    assert_eq!(e.baseline_status, Status::Infeasible);
    let diagnosis = e.baseline_diagnosis.as_ref().expect("a diagnosis");
    assert!(diagnosis.message.contains("baseline") && diagnosis.message.contains("step 0"), "{}", diagnosis.message);
    assert_eq!(diagnosis.shortfalls[0].bus, "electricity");
    for (figure, value) in [
        ("baseline cost", e.baseline_cost_per_year),
        ("savings", e.savings_per_year),
        ("npv", e.npv),
        ("simple payback", e.simple_payback_years),
        ("irr", e.irr),
    ] {
        assert_eq!(value, None, "{figure} needs the baseline");
    }
    assert_eq!(e.discounted_payback_years, None);
    // The run's own figures stand: capex 2000, cost 2 * 1000 * CRF(5 %, 20).
    close(e.capex, 2000.0, "capex");
    close(e.cost_per_year, 2.0 * 1000.0 * 0.05 * 1.05f64.powi(20) / (1.05f64.powi(20) - 1.0), "cost per year");
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["baseline_status"], "infeasible");
    assert!(json.get("npv").is_none(), "omitted, not null");
    // The studies worker stores results as JSON and reads them back.
    let stored = serde_json::to_string(&results).unwrap();
    assert_eq!(serde_json::from_str::<Results>(&stored).unwrap(), results, "economics survive the round trip");
}

#[test]
fn a_lease_only_system_counts_its_annual_cost_as_operating() {
    // The annual form is a lease: 60 per kW-year, 120 a year for 2 kW, all
    // of it operating cost, and no capex. Savings 2628 - 120 = 2508, and
    // NPV = AF(5 %, 20) * (2628 - 120) = 12.462210 * 2508 = 31255.22.
    // No capex: paybacks 0, no IRR. LCOE 120 / 8760.
    let e = economics(&house(0.05, 20, "{min: 2, max: 2, cost_per_unit_year: 60}", ""));
    close(e.cost_per_year, 120.0, "cost per year");
    close(e.operating_cost_per_year, 120.0, "operating cost");
    assert_eq!(e.capex, 0.0);
    close(e.savings_per_year.unwrap(), 2508.0, "savings");
    close(e.npv.unwrap(), 12.462_210_34 * 2508.0, "npv");
    assert_eq!(e.simple_payback_years, Some(0.0));
    assert_eq!(e.discounted_payback_years, Some(0));
    assert_eq!(e.irr, None);
    close(e.lcoe_per_kwh["pv"], 120.0 / 8760.0, "lcoe");
}

#[test]
fn lcoe_is_omitted_for_a_source_that_can_produce_nothing() {
    // The LP sizes this PV at 0 (it costs and it is not needed), so it can
    // produce 0 kWh and has no LCOE.
    let yaml = house(0.05, 20, "{min: 0, max: 5, cost_per_unit_year: 5000}", "");
    let e = economics(&yaml);
    assert!(e.lcoe_per_kwh.is_empty(), "{:?}", e.lcoe_per_kwh);
    // Investing nothing costs what the baseline costs: NPV 0, savings 0.
    assert!(e.npv.unwrap().abs() <= 1e-6 * 2628.0 * annuity_factor(0.05, 20), "npv {:?}", e.npv);
    assert!(e.savings_per_year.unwrap().abs() <= 1e-6 * 2628.0, "savings {:?}", e.savings_per_year);
    assert_eq!(e.capex, 0.0);
}

/// A small sized system with a battery, PV and a time-of-use price, so that
/// sizes come from the LP, not from the file.
fn sized(objective: &str, import_price: &str, remove: &str) -> String {
    format!(
        "
name: sized
timesteps: 8
objective: {objective}
economics: {{project_years: 15{remove}}}
profiles:
  inline:
    sun: [0, 0.2, 0.7, 1, 0.9, 0.4, 0.1, 0]
    price: [{import_price}]
    load: [1, 1.2, 0.8, 0.6, 0.9, 1.5, 2, 1.8]
components:
  - {{name: grid, type: grid, import_price: price, export_price: 0.05, import_co2_kg_per_kwh: 0.4}}
  - name: pv
    type: solar_pv
    profile: sun
    capacity: {{max: 10, capex_per_unit: 0.4, lifetime_years: 25, opex_per_unit_year: 0.01}}
  - name: battery
    type: battery
    energy_kwh: {{max: 20, capex_per_unit: 0.2, lifetime_years: 12}}
    power_kw: {{max: 10, cost_per_unit_year: 0.01}}
  - {{name: house, type: electric_demand, profile: load}}
"
    )
}

const PRICES: [&str; 3] =
    ["0.2, 0.2, 0.3, 0.3, 0.3, 0.4, 0.5, 0.5", "0.5, 0.1, 0.1, 0.2, 0.2, 0.6, 0.9, 0.7", "0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3"];

#[test]
fn npv_is_0_when_the_baseline_is_the_system_itself() {
    for price in PRICES {
        let e = economics(&sized("cost", price, ", baseline: {remove: []}"));
        let scale = annuity_factor(0.05, 15) * e.cost_per_year.abs().max(1.0);
        let npv = e.npv.expect("npv");
        assert!(npv.abs() <= 1e-6 * scale, "npv {npv} with the baseline the system itself (scale {scale})");
    }
}

#[test]
fn irr_makes_the_discounted_savings_equal_capex() {
    let mut checked = 0;
    for price in PRICES {
        let e = economics(&sized("cost", price, ""));
        let (Some(i), Some(savings)) = (e.irr, e.savings_per_year) else { continue };
        let present: f64 = (1..=e.project_years as i32).map(|k| savings / (1.0 + i).powi(k)).sum();
        close(present, e.capex, "discounted savings at the IRR");
        checked += 1;
    }
    assert!(checked > 0, "some case invests and saves");
    // And over a spread of savings, capex and lengths, with no solver.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut unit = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..500 {
        let (savings, capex, years) = (1.0 + 1000.0 * unit(), 1.0 + 20000.0 * unit(), 1 + (unit() * 100.0) as u32);
        let i = irr(savings, capex, years).expect("an IRR");
        assert!(i > -1.0);
        let present: f64 = (1..=years as i32).map(|k| savings / (1.0 + i).powi(k)).sum();
        assert_rel(present, capex, 1e-9, &format!("irr of {savings} a year for {years} years against {capex}"));
    }
}

#[test]
fn the_discounted_payback_is_never_earlier_than_the_simple_one() {
    for price in PRICES {
        let e = economics(&sized("cost", price, ""));
        if let (Some(simple), Some(discounted)) = (e.simple_payback_years, e.discounted_payback_years) {
            assert!(f64::from(discounted) >= simple, "{discounted} < {simple}");
        }
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut unit = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut both = 0;
    for _ in 0..2000 {
        let (savings, capex, r, years) = (1.0 + 1000.0 * unit(), 20000.0 * unit(), 0.15 * unit(), 1 + (unit() * 100.0) as u32);
        let simple = simple_payback(savings, capex).expect("savings are positive");
        if let Some(discounted) = discounted_payback(savings, capex, r, years) {
            assert!(f64::from(discounted) >= simple, "{savings}/{capex} at {r} over {years}: {discounted} < {simple}");
            both += 1;
        }
    }
    assert!(both > 100, "enough cases pay back within the project");
}

#[test]
fn economics_does_not_depend_on_the_objective_being_cost() {
    // With objective co2 the run is cleaner but dearer; economics still
    // reports its full v1 cost and the cost-optimal baseline.
    let cost = economics(&sized("cost", PRICES[0], ""));
    let co2 = economics(&sized("co2", PRICES[0], ""));
    close(co2.baseline_cost_per_year.unwrap(), cost.baseline_cost_per_year.unwrap(), "the same baseline");
    assert!(co2.npv.unwrap() <= cost.npv.unwrap() + 1e-6, "the cost optimum has the best NPV");
}

#[test]
fn a_file_without_economics_means_what_v1_meant() {
    let results = solve(&sized("cost", PRICES[0], "").replace("economics: {project_years: 15}\n", ""));
    assert!(results.economics.is_none());
    assert!(serde_json::to_value(&results).unwrap().get("economics").is_none());
}

#[test]
fn every_pareto_point_carries_its_npv_against_the_one_baseline() {
    use ecosystemiser_engine::pareto::pareto;
    let system = system(&sized("cost", PRICES[1], ""));
    let mut progress = Vec::new();
    let front = pareto(&system, 4, &Options { with_series: false, ..Options::lp() }, 2, &mut |done, total| progress.push((done, total)));
    assert_eq!(progress.last(), Some(&(5, 5)), "four points and the baseline: {progress:?}");
    let alone = optimize(&system, &Options::lp()).unwrap().economics.unwrap();
    let baseline = alone.baseline_cost_per_year.unwrap();
    let af = annuity_factor(0.05, 15);
    for point in front.points.iter().filter(|p| p.status.is_optimal()) {
        let e = point.economics.as_ref().expect("a solved point has economics");
        // The horizon is 8 h, so y = 1095; every point is judged against the
        // same cost-optimal baseline, which no CO2 cap touches.
        close(e.baseline_cost_per_year.unwrap(), baseline, "one baseline");
        close(e.cost_per_year, 1095.0 * point.cost.unwrap(), "cost per year");
        close(e.npv.unwrap(), af * (baseline - e.cost_per_year), "npv");
    }
    let cheapest = front.points[0].economics.as_ref().unwrap();
    close(cheapest.npv.unwrap(), alone.npv.unwrap(), "the min-cost end is the optimisation");
    assert!(
        front.points.windows(2).all(|w| w[1].economics.as_ref().unwrap().npv <= w[0].economics.as_ref().unwrap().npv.map(|v| v + 1e-6))
    );
}

#[test]
fn uncertainty_studies_summarise_npv_and_savings() {
    use ecosystemiser_engine::uncertainty::uncertainty;
    use ecosystemiser_engine::{Sampling, UncertainParameter, UncertaintySpec};
    // The house with 2 kW of PV forced in: r = 0, so a = 1000/20 = 50 per kW
    // and the PV costs 100 a year; the baseline costs 2628 a year. With
    // multipliers f on the price and g on the PV's cost, a sample's
    // NPV = 10 * (2628 f - 100 g), which is negative for f < 0.038 g.
    let system = system(&house(0.0, 10, "{min: 2, max: 2, capex_per_unit: 1000, lifetime_years: 20}", ""));
    let spec = UncertaintySpec {
        parameters: vec![
            UncertainParameter::parse("grid.import_price=uniform(0.01,0.1)").unwrap(),
            UncertainParameter::parse("pv.capacity.cost=uniform(0.5,1.5)").unwrap(),
        ],
        samples: 16,
        seed: 3,
        sampling: Sampling::LatinHypercube,
    };
    let summary = uncertainty(&system, &spec, &Options::lp(), 2, &mut |_, _| {});
    assert_eq!(summary.optimal, 16);
    let mut npv = Vec::new();
    for r in &summary.results {
        let (f, g) = (r.values[0], r.values[1]);
        let expected = 10.0 * (2628.0 * f - 100.0 * g);
        let actual = r.npv.expect("each sample has its NPV");
        assert!((actual - expected).abs() <= 1e-6 * 2628.0, "sample {}: {actual} vs {expected}", r.index);
        // Savings: the baseline's 2628 f against no operating cost at all.
        assert!((r.savings_per_year.unwrap() - 2628.0 * f).abs() <= 1e-6 * 2628.0);
        npv.push(actual);
    }
    let stats = summary.npv.as_ref().expect("npv statistics");
    close(stats.mean, npv.iter().sum::<f64>() / 16.0, "mean npv");
    let positive = npv.iter().filter(|v| **v > 0.0).count() as f64 / 16.0;
    assert_eq!(summary.p_npv_positive, Some(positive));
    assert!(positive > 0.0 && positive < 1.0, "the ranges make some samples pay and some not: {npv:?}");
    // NPV is a gain: its VaR is the low tail (P5), below P10.
    assert!(stats.var95 <= stats.p10 && stats.cvar95 <= stats.var95, "{stats:?}");
    assert!(summary.savings_per_year.is_some());
}

#[test]
fn removing_every_component_leaves_a_baseline_that_costs_nothing() {
    // Nothing is left to buy or run: the baseline costs 0 a year, so the
    // savings are minus the operating cost.
    let e = economics(&house(0.0, 10, "{min: 2, max: 2, cost_per_unit_year: 60}", ", baseline: {remove: [grid, pv, house]}"));
    assert_eq!(e.baseline_status, Status::Optimal);
    assert_eq!(e.baseline_cost_per_year, Some(0.0));
    close(e.savings_per_year.unwrap(), -120.0, "savings");
}
