//! A golden results document: any change to its schema or numbers shows up
//! as a diff. Update with `UPDATE_EXPECT=1 cargo test -p ecosystemiser-engine --test snapshot`.

mod common;

use common::*;
use ecosystemiser_engine::results::Timings;
use ecosystemiser_engine::{optimize, Options};

#[test]
fn results_document_of_a_small_multi_energy_system() {
    let system = system(
        "
name: snapshot
timesteps: 4
profiles:
  inline:
    sun: [0, 0.6, 1, 0.2]
    price: [0.1, 0.3, 0.3, 0.2]
    heat: [3, 2, 1, 4]
components:
  - {name: grid, type: grid, import_price: price, export_price: 0.05, import_co2_kg_per_kwh: 0.3}
  - {name: pv, type: solar_pv, profile: sun, capacity: {max: 10, cost_per_unit_year: 876}}
  - {name: battery, type: battery, energy_kwh: 4, power_kw: 2, efficiency_roundtrip: 0.81}
  - {name: hp, type: heat_pump, cop: 3, capacity: 5}
  - {name: house, type: electric_demand, profile: 1}
  - {name: heating, type: heat_demand, profile: heat}
",
    );
    let mut results = optimize(&system, &Options::lp()).expect("options fit");
    // Timings vary run to run; everything else is deterministic.
    results.timings = Timings::default();
    let json = serde_json::to_string_pretty(&round(serde_json::to_value(&results).unwrap())).unwrap();
    expect_test::expect_file!["snapshots/results_small.json"].assert_eq(&json);
}

/// Rounds numbers to 6 significant digits so that solver noise far below the
/// tolerance does not churn the snapshot.
fn round(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            let v = n.as_f64().unwrap();
            let r = if v.abs() < 1e-7 { 0.0 } else { format!("{v:.6e}").parse::<f64>().unwrap() };
            serde_json::json!(r)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(round).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, round(v))).collect()),
        other => other,
    }
}
