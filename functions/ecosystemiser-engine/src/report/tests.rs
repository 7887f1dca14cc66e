use std::collections::BTreeMap;

use expect_test::expect;

use super::*;
use crate::pareto::{ParetoFront, ParetoPoint};
use crate::parse::{parse_system, NoFiles};
use crate::results::{BusKpis, CostSplit, Diagnosis, Kpis, Shortfall, Timings};
use crate::uncertainty::{SampleResult, Sensitivity, Stats, UncertaintySummary};

/// A component name that would run as a script if it were not escaped.
const HOSTILE: &str = "<script>alert(1)</script>";

fn system() -> System {
    let yaml = "
name: tiny
timesteps: 4
components:
  - {name: grid, type: grid, import_price: 0.3}
  - {name: pv, type: solar_pv, capacity: 2, profile: 0.5}
  - {name: battery, type: battery, energy_kwh: 4, power_kw: 2}
  - {name: house, type: electric_demand, profile: 1.0}
";
    let mut system = parse_system(yaml, &NoFiles).expect("valid tiny system");
    system.components[3].name = HOSTILE.to_string();
    system
}

fn series(pairs: &[(&str, [f64; 4])]) -> BTreeMap<String, Vec<f64>> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect()
}

fn results() -> Results {
    let mut all = BTreeMap::new();
    all.insert("grid".to_string(), series(&[("import", [0.0, 0.5, 1.0, 0.25]), ("export", [0.0; 4])]));
    all.insert("pv".to_string(), series(&[("generation", [1.0; 4]), ("available", [1.0; 4]), ("curtailment", [0.0; 4])]));
    all.insert(
        "battery".to_string(),
        series(&[("charge", [0.0, 0.5, 0.0, 0.0]), ("discharge", [0.0, 0.0, 0.0, 0.75]), ("soc", [2.0, 2.5, 2.5, 1.75])]),
    );
    all.insert(HOSTILE.to_string(), series(&[("demand", [1.0; 4]), ("served", [1.0; 4]), ("unmet", [0.0; 4])]));
    let cost = CostSplit { energy: 0.525, total: 0.525, ..CostSplit::default() };
    let bus = BusKpis { demand_served_kwh: 4.0, generation_kwh: 4.0, grid_import_kwh: 1.75, peak_demand_kw: 1.0, ..BusKpis::default() };
    Results {
        status: Status::Optimal,
        objective: Some(0.525),
        system: "tiny".into(),
        solver: "lp".into(),
        objective_kind: "cost".into(),
        timesteps: 4,
        timestep_hours: 0.5,
        diagnosis: None,
        cost: Some(cost.clone()),
        co2_kg: Some(0.0),
        sizes: BTreeMap::from([("battery.energy_kwh".to_string(), 4.0)]),
        kpis: Some(Kpis {
            buses: BTreeMap::from([("electricity".to_string(), bus)]),
            self_consumption: Some(1.0),
            self_sufficiency: Some(0.5625),
            storage_cycles: BTreeMap::from([("battery".to_string(), 0.1875)]),
            cost,
            co2_kg: 0.0,
        }),
        economics: None,
        series: all,
        timings: Timings { build_s: 0.001, solve_s: 0.002, total_s: 0.004, ..Timings::default() },
    }
}

/// Checks what every report must be: offline, escaped, and with a chart.
fn assert_self_contained(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg"), "a chart is drawn");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external references");
    assert!(!html.contains(" src="), "no external scripts or images");
    assert!(!html.contains(HOSTILE), "user text is escaped");
    assert_eq!(html.matches("<script>").count(), 1, "only the zoom script");
}

#[test]
fn series_csv_has_one_column_per_series() {
    expect![[r#"
        step,hour,<script>alert(1)</script>.demand,<script>alert(1)</script>.served,<script>alert(1)</script>.unmet,battery.charge,battery.discharge,battery.soc,grid.export,grid.import,pv.available,pv.curtailment,pv.generation
        0,0,1,1,0,0,0,2,0,0,1,0,1
        1,0.5,1,1,0,0.5,0,2.5,0,0.5,1,0,1
        2,1,1,1,0,0,0,2.5,0,1,1,0,1
        3,1.5,1,1,0,0,0.75,1.75,0,0.25,1,0,1
    "#]]
    .assert_eq(&series_csv(&results()));
}

#[test]
fn series_csv_without_series_is_a_header() {
    let mut results = results();
    results.series.clear();
    assert_eq!(series_csv(&results), "step,hour\n");
}

#[test]
fn run_report_is_self_contained() {
    let html = html(&system(), &results());
    assert_self_contained(&html);
    for part in ["Key figures", "Cost split", "Sizes", "Dispatch on bus electricity", "State of charge: battery"] {
        assert!(html.contains(part), "report has {part}");
    }
}

#[test]
fn infeasible_report_shows_the_diagnosis_and_no_plots() {
    let mut results = results();
    results.status = Status::Infeasible;
    results.objective = None;
    results.series.clear();
    results.diagnosis = Some(Diagnosis {
        message: format!("infeasible: on bus `electricity` demand of {HOSTILE} is too high"),
        shortfalls: vec![Shortfall { bus: "electricity".into(), step: 3, demand_kw: 1.0, max_supply_kw: 0.0 }],
    });
    let html = html(&system(), &results);
    assert!(html.contains(r#"class="diagnosis""#));
    assert!(html.contains("Shortfalls"));
    assert!(!html.contains("<svg"), "no plots without a solution");
    assert!(html.contains("demand of &lt;script&gt;alert(1)&lt;/script&gt; is too high"), "the message is shown, escaped");
    assert!(!html.contains(HOSTILE));
}

#[test]
fn long_horizons_show_a_week_and_daily_means() {
    let steps = 24 * 30;
    let mut results = results();
    results.timesteps = steps;
    results.timestep_hours = 1.0;
    for variables in results.series.values_mut() {
        for values in variables.values_mut() {
            *values = (0..steps).map(|t| values[t % 4] * if t / 24 == 17 { 2.0 } else { 1.0 }).collect();
        }
    }
    let mut system = system();
    system.timesteps = steps;
    let html = html(&system, &results);
    assert!(html.contains("Week with the highest demand: days 12–18"), "the week ending on the busy day 18 wins the day-aligned scan");
    assert_self_contained(&html);
}

#[test]
fn pareto_report_lists_points() {
    let point = |eps: Option<f64>, cost: f64, co2: f64| ParetoPoint {
        epsilon_co2_kg: eps,
        status: Status::Optimal,
        cost: Some(cost),
        co2_kg: Some(co2),
        sizes: BTreeMap::from([(format!("{HOSTILE}.capacity"), cost / 10.0)]),
        kpis: None,
        economics: None,
    };
    let mut front = ParetoFront { system: "tiny".into(), points: vec![point(None, 100.0, 50.0), point(Some(30.0), 120.0, 30.0), point(Some(10.0), 180.0, 10.0)] };
    let html = pareto_html(&system(), &front);
    assert_self_contained(&html);
    assert!(html.contains("<circle"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;.capacity (kW)"), "the size key is shown, escaped");
    assert!(!html.contains("NPV"), "no economics, no NPV");
    for p in &mut front.points {
        p.economics = Some(economics(true));
    }
    let html = pareto_html(&system(), &front);
    assert_self_contained(&html);
    assert!(html.contains("NPV along the front") && html.contains("Discounted payback (years)"));
}

#[test]
fn uncertainty_report_has_histogram_stats_and_tornado() {
    let results: Vec<SampleResult> = (0..20)
        .map(|i| SampleResult {
            index: i,
            values: vec![0.8 + 0.02 * i as f64],
            status: if i == 7 { Status::Infeasible } else { Status::Optimal },
            objective: (i != 7).then_some(100.0 + i as f64),
            cost: (i != 7).then_some(100.0 + i as f64),
            co2_kg: Some(1.0),
            npv: None,
            savings_per_year: None,
            simple_payback_years: None,
            discounted_payback_years: None,
        })
        .collect();
    let stats = Stats { mean: 109.5, p10: 102.0, p50: 109.5, p90: 117.0, var95: 118.0, cvar95: 119.0, min: 100.0, max: 119.0, std: 5.0 };
    let summary = UncertaintySummary {
        system: "tiny".into(),
        samples: 20,
        optimal: 19,
        objective: stats.clone(),
        cost: stats,
        co2_kg: Stats::default(),
        npv: None,
        savings_per_year: None,
        p_npv_positive: None,
        sensitivity: vec![
            Sensitivity { target: "grid.import_price".into(), spearman: 0.9 },
            Sensitivity { target: format!("{HOSTILE}.scale"), spearman: -0.3 },
        ],
        results,
    };
    let html = uncertainty_html(&system(), &summary);
    assert_self_contained(&html);
    for part in ["Objective distribution", "CVaR 95", "Spearman", "Samples without a solution"] {
        assert!(html.contains(part), "report has {part}");
    }
    assert!(!html.contains("NPV"), "no economics, no NPV");
    let mut summary = summary;
    for r in &mut summary.results {
        r.npv = r.objective.map(|o| 1000.0 - o);
    }
    summary.npv = Some(Stats { mean: -5.0, ..Stats::default() });
    summary.savings_per_year = Some(Stats::default());
    summary.p_npv_positive = Some(0.25);
    let html = uncertainty_html(&system(), &summary);
    assert_self_contained(&html);
    for part in ["P(NPV &gt; 0)", "25.0 %", "NPV distribution", "savings per year", "low tail"] {
        assert!(html.contains(part), "report has {part}");
    }
}

/// Economics of a run that saves 2608 a year for 2000 of capex over 10
/// years at 5 %: discounted savings pass 2000 in year 1.
fn economics(baseline_optimal: bool) -> crate::economics::Economics {
    let annual = CostSplit { energy: 20.0, capacity: 100.0, total: 120.0, ..CostSplit::default() };
    let baseline = CostSplit { energy: 2628.0, total: 2628.0, ..CostSplit::default() };
    crate::economics::Economics {
        project_years: 10,
        cost_per_year: 120.0,
        operating_cost_per_year: 20.0,
        capex: 2000.0,
        lcoe_per_kwh: BTreeMap::from([(HOSTILE.to_string(), 0.0137)]),
        baseline_status: if baseline_optimal { Status::Optimal } else { Status::Infeasible },
        baseline_diagnosis: (!baseline_optimal).then(|| Diagnosis { message: format!("baseline: {HOSTILE} is short"), shortfalls: Vec::new() }),
        baseline_cost_per_year: baseline_optimal.then_some(2628.0),
        savings_per_year: baseline_optimal.then_some(2608.0),
        npv: baseline_optimal.then_some(19_365.6),
        simple_payback_years: baseline_optimal.then_some(0.7669),
        discounted_payback_years: baseline_optimal.then_some(1),
        irr: baseline_optimal.then_some(1.3),
        cost_by_part_per_year: annual,
        baseline_cost_by_part_per_year: baseline_optimal.then_some(baseline),
        baseline_solve_s: 0.001,
    }
}

#[test]
fn a_run_with_economics_leads_with_them() {
    let mut results = results();
    results.economics = Some(economics(true));
    let html = html(&system(), &results);
    assert_self_contained(&html);
    for part in ["Economics over 10 years against the baseline", "Savings per year", "Discounted payback", "Cumulative discounted cash flow", "paid back in year 1", "Cost per year by part", "LCOE &lt;script&gt;"] {
        assert!(html.contains(part), "report has {part}");
    }
    let economics_at = html.find("Economics over").unwrap();
    assert!(economics_at < html.find("Key figures").unwrap() && economics_at < html.find("Build / solve / total").unwrap(), "economics come first");
}

#[test]
fn an_infeasible_baseline_is_explained_in_the_report() {
    let mut results = results();
    results.economics = Some(economics(false));
    let html = html(&system(), &results);
    assert_self_contained(&html);
    assert!(html.contains("The baseline is infeasible."));
    assert!(html.contains("baseline: &lt;script&gt;alert(1)&lt;/script&gt; is short"), "its diagnosis, escaped");
    assert!(!html.contains("Cumulative discounted cash flow") && !html.contains("Cost per year by part"), "nothing that needs the baseline");
    assert!(!html.contains(r#"<div class="label">NPV</div>"#), "no NPV figure");
    assert!(html.contains(r#"<div class="label">Capex</div>"#), "the run's own figures stand");
}
