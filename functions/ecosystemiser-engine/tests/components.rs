//! Small systems whose optimum can be worked out by hand, one rule of the
//! spec each. The working is in the comment above each check.

mod common;

use common::*;
use ecosystemiser_engine::{optimize, Options, Results, Status};

fn solve(yaml: &str) -> Results {
    optimize(&system(yaml), &Options::lp()).expect("options fit")
}

/// Checks status and objective to a tight tolerance.
fn check(yaml: &str, objective: f64) -> Results {
    let results = solve(yaml);
    assert_eq!(results.status, Status::Optimal, "{:?}\n{yaml}", results.diagnosis);
    assert_rel(results.objective.expect("objective"), objective, 1e-7, "objective");
    results
}

const GRID_AND_LOAD: &str = "
name: t
timesteps: 3
timestep_hours: 0.5
profiles:
  inline:
    price: [0.1, 0.2, 0.3]
components:
  - {name: grid, type: grid, import_price: price}
  - {name: load, type: electric_demand, profile: 2}
";

#[test]
fn grid_import_pays_price_times_energy() {
    // 2 kW for 0.5 h at 0.1, 0.2, 0.3: 1 kWh * 0.6 = 0.6.
    let results = check(GRID_AND_LOAD, 0.6);
    let bus = &results.kpis.as_ref().unwrap().buses["electricity"];
    assert_rel(bus.grid_import_kwh, 3.0, 1e-7, "import");
    assert_rel(bus.peak_import_kw, 2.0, 1e-7, "peak import");
}

#[test]
fn export_is_limited_and_the_rest_curtailed() {
    // Step 0: 10 kW of PV, 1 kW load, export capped at 4 (earning 0.4), 5 curtailed.
    // Step 1: no sun, import 1 kW at 0.2. Total -0.4 + 0.2 = -0.2.
    let results = check(
        "
name: t
timesteps: 2
profiles: {inline: {sun: [1, 0]}}
components:
  - {name: grid, type: grid, import_price: 0.2, export_price: 0.1, export_max_kw: 4}
  - {name: pv, type: solar_pv, capacity: 10, profile: sun}
  - {name: load, type: electric_demand, profile: 1}
",
        -0.2,
    );
    let bus = &results.kpis.as_ref().unwrap().buses["electricity"];
    assert_rel(bus.curtailed_kwh, 5.0, 1e-6, "curtailed");
    assert_rel(bus.grid_export_kwh, 4.0, 1e-6, "exported");
    // self-consumption = (10 - 5 curtailed... generation is what was used: 5) → (5 - 4) / 5.
    assert_rel(results.kpis.as_ref().unwrap().self_consumption.unwrap(), 0.2, 1e-6, "self consumption");
}

#[test]
fn an_import_limit_leaves_demand_unmet_at_its_penalty() {
    // 5 kW load, import capped at 3 at 0.2 → 0.6; 2 kW unmet at 10 → 20.
    let results = check(
        "
name: t
timesteps: 1
components:
  - {name: grid, type: grid, import_price: 0.2, import_max_kw: 3}
  - {name: load, type: electric_demand, profile: 5, unmet_penalty_per_kwh: 10}
",
        20.6,
    );
    assert_rel(results.kpis.unwrap().buses["electricity"].unmet_kwh, 2.0, 1e-6, "unmet");
}

#[test]
fn a_hard_demand_beyond_every_supply_is_infeasible_with_a_diagnosis() {
    let results = solve(
        "
name: t
timesteps: 3
profiles: {inline: {load: [1, 5, 1]}}
components:
  - {name: grid, type: grid, import_max_kw: 3}
  - {name: house, type: electric_demand, profile: load}
",
    );
    assert_eq!(results.status, Status::Infeasible);
    let diagnosis = results.diagnosis.expect("diagnosis");
    assert_eq!(diagnosis.shortfalls.len(), 1, "{diagnosis:?}");
    assert_eq!((diagnosis.shortfalls[0].bus.as_str(), diagnosis.shortfalls[0].step), ("electricity", 1));
    assert!(diagnosis.message.contains("step 1"), "{}", diagnosis.message);
}

#[test]
fn storage_moves_energy_to_the_expensive_step_through_its_losses() {
    // 2 kWh needed at step 1 (price 0.5). Discharging 2 kW draws 2/0.9 kWh from
    // the store, which took 2/0.81 kWh of charging at step 0 (price 0.1):
    // 0.1 * 2/0.81 = 0.24691358.
    let yaml = "
name: t
timesteps: 2
profiles: {inline: {price: [0.1, 0.5], load: [0, 2]}}
components:
  - {name: grid, type: grid, import_price: price}
  - {name: b, type: battery, energy_kwh: 10, power_kw: 5, EFF, soc_initial: 0, cyclic: false}
  - {name: load, type: electric_demand, profile: load}
";
    let split = yaml.replace("EFF", "efficiency_charge: 0.9, efficiency_discharge: 0.9");
    check(&split, 0.2 / 0.81);
    // efficiency_roundtrip 0.81 sets both to 0.9.
    let roundtrip = yaml.replace("EFF", "efficiency_roundtrip: 0.81");
    let results = check(&roundtrip, 0.2 / 0.81);
    // One cycle of 2/0.9 kWh discharged... cycles = sum(dis*dt)/E = 2/10.
    assert_rel(results.kpis.unwrap().storage_cycles["b"], 0.2, 1e-6, "cycles");
}

#[test]
fn a_cyclic_store_must_buy_back_its_self_discharge() {
    // 5 kWh at the start lose 10 % in the hour; cyclic needs >= 5 at the end,
    // so 0.5 kWh is charged at price 1.
    check(
        "
name: t
timesteps: 1
components:
  - {name: grid, type: grid, import_price: 1}
  - {name: b, type: battery, energy_kwh: 10, power_kw: 10, loss_per_hour: 0.1}
  - {name: load, type: electric_demand, profile: 0}
",
        0.5,
    );
}

#[test]
fn loss_compounds_over_the_step_length() {
    // dt = 2 h: (1 - 0.1)^2 = 0.81 keeps 4.05 of 5 kWh; 0.95 kWh at price 1 for
    // 2 h of charging at 0.475 kW: cost dt * 1 * 0.475 = 0.95.
    check(
        "
name: t
timesteps: 1
timestep_hours: 2
components:
  - {name: grid, type: grid, import_price: 1}
  - {name: b, type: battery, energy_kwh: 10, power_kw: 10, loss_per_hour: 0.1}
  - {name: load, type: electric_demand, profile: 0}
",
        0.95,
    );
}

#[test]
fn soc_min_holds_back_energy() {
    // Store at 5 kWh, floor 3 kWh: only 2 kWh can serve the 10 kW load; 8 bought at 1.
    check(
        "
name: t
timesteps: 1
components:
  - {name: grid, type: grid, import_price: 1}
  - {name: b, type: battery, energy_kwh: 10, power_kw: 10, soc_min: 0.3, cyclic: false}
  - {name: load, type: electric_demand, profile: 10}
",
        8.0,
    );
}

#[test]
fn charge_and_discharge_limits_apply_separately() {
    // Charging capped at 1 kW in step 0 (price 0); step 1 load 5 at price 1:
    // 1 kWh from the store (started empty), 4 bought: cost 4.
    check(
        "
name: t
timesteps: 2
profiles: {inline: {price: [0, 1], load: [0, 5]}}
components:
  - {name: grid, type: grid, import_price: price}
  - {name: b, type: storage, bus: electricity, energy_kwh: 10, charge_kw: 1, discharge_kw: 5, soc_initial: 0, cyclic: false}
  - {name: load, type: electric_demand, profile: load}
",
        4.0,
    );
}

const HEAT: &str = "
name: t
timesteps: 2
objective: OBJECTIVE
components:
  - {name: grid, type: grid, import_price: 0.3, import_co2_kg_per_kwh: 0.25}
  - {name: hp, type: heat_pump, cop: 3, capacity: HP_CAP}
  - {name: boiler, type: fuel_boiler, efficiency: 0.9, capacity: 100, fuel_price_per_kwh: 0.045, fuel_co2_kg_per_kwh: 0.2}
  - {name: heat, type: heat_demand, profile: 9}
";

fn heat(objective: &str, hp_cap: &str) -> String {
    HEAT.replace("OBJECTIVE", objective).replace("HP_CAP", hp_cap)
}

#[test]
fn converters_pick_the_cheaper_heat() {
    // Heat pump: 0.3/3 = 0.1 per kWh heat; boiler: 0.045/0.9 = 0.05. All boiler:
    // 9 kW * 2 h / 0.9 = 20 kWh fuel → cost 0.9, CO2 4.0.
    let results = check(&heat("cost", "100"), 0.9);
    assert_rel(results.co2_kg.unwrap(), 4.0, 1e-6, "co2");
    assert_rel(results.cost.unwrap().fuel, 0.9, 1e-6, "fuel cost");
}

#[test]
fn co2_objective_ignores_costs() {
    // Heat pump CO2: 0.25/3 per kWh heat = 1.5 kg for 18 kWh; boiler 0.2/0.9 per
    // kWh heat = 4 kg. Minimum CO2 = 1.5 kg, all from the heat pump.
    let results = check(&heat("co2", "100"), 1.5);
    let input = &results.series["hp"]["input"];
    assert_rel(input[0], 3.0, 1e-6, "heat pump electricity");
}

#[test]
fn converter_capacity_bounds_the_output_side() {
    // Heat pump output capped at 2 kW; under co2 it runs flat out and the
    // boiler covers 7 kW: CO2 per hour 2 * 0.25/3 + 7 * 0.2/0.9.
    let per_hour = 2.0 * 0.25 / 3.0 + 7.0 * 0.2 / 0.9;
    check(&heat("co2", "2"), 2.0 * per_hour);
}

#[test]
fn weighted_objective_adds_weighted_cost_and_co2() {
    // Weighting CO2 at 0.5 per kg: boiler 0.05 + 0.5 * 0.2222 = 0.1611 per kWh
    // heat, heat pump 0.1 + 0.5 * 0.0833 = 0.1417: the heat pump wins.
    // 18 kWh heat * 0.141667 = 2.55.
    let yaml = heat("weighted", "100").replace("objective: weighted", "objective: weighted\nweights: {cost: 1, co2: 0.5}");
    check(&yaml, 18.0 * (0.1 + 0.5 * 0.25 / 3.0));
}

#[test]
fn electric_boiler_and_solar_thermal_with_thermal_storage() {
    // Solar thermal gives 4 kW in step 0 only; a lossless heat store carries 2
    // kWh to step 1. Step 0 load 2; step 1 load 3: 2 from store, 1 from the
    // electric boiler (efficiency 1) at 0.3.
    check(
        "
name: t
timesteps: 2
profiles: {inline: {sun: [1, 0], load: [2, 3]}}
components:
  - {name: grid, type: grid, import_price: 0.3}
  - {name: collector, type: solar_thermal, capacity: 4, profile: sun}
  - {name: tank, type: thermal_storage, energy_kwh: 2, power_kw: 5, soc_initial: 0, cyclic: false}
  - {name: eb, type: electric_boiler, efficiency: 1, capacity: 10}
  - {name: heat, type: heat_demand, profile: load}
",
        0.3,
    );
}

#[test]
fn water_has_its_own_bus() {
    // Rain fills a tank in step 0; step 1 demand 3 m3 is served from it; a
    // pump-less system with nothing else: the only cost is the unmet penalty
    // for what the 2 m3 tank cannot hold: 1 m3 at 5.
    let results = check(
        "
name: t
timesteps: 2
profiles: {inline: {rain: [1, 0], use: [0, 3]}}
components:
  - {name: roof, type: rainwater, capacity: 10, profile: rain}
  - {name: tank, type: water_tank, energy_kwh: 2, power_kw: 10, soc_initial: 0, cyclic: false}
  - {name: taps, type: water_demand, profile: use, unmet_penalty_per_kwh: 5}
",
        5.0,
    );
    assert!(results.kpis.unwrap().buses.contains_key("water"));
}

#[test]
fn source_variable_cost_is_paid_per_kwh() {
    // A generic source on a custom bus with variable cost 0.07 serves 3 kW for 2 steps.
    check(
        "
name: t
timesteps: 2
components:
  - {name: gen, type: source, bus: steam, capacity: 5, profile: 1, variable_cost_per_kwh: 0.07}
  - {name: use, type: demand, bus: steam, profile: 3}
",
        0.42,
    );
}

#[test]
fn demand_charges_use_the_peak_of_each_period_and_a_short_last_period_in_full() {
    // Periods of 3 steps: [1, 3, 2] and [2]. Peaks 3 and 2 at 10 per kW = 50,
    // plus 8 kWh at 0.1 = 0.8.
    let results = check(
        "
name: t
timesteps: 4
profiles: {inline: {load: [1, 3, 2, 2]}}
components:
  - {name: grid, type: grid, import_price: 0.1, demand_charge_per_kw: 10, billing_period_hours: 3}
  - {name: load, type: electric_demand, profile: load}
",
        50.8,
    );
    assert_rel(results.cost.unwrap().demand_charges, 50.0, 1e-6, "demand charges");
}

#[test]
fn a_battery_shaves_the_billed_peak() {
    // One period of 2 steps, load [4, 0]; a 4 kWh battery starting full
    // (soc_initial 1, not cyclic) covers 2 kW of the peak: the optimum spreads
    // imports to 2 and 2? No: step 1 has no load and refilling is not needed.
    // Import 2 at step 0, peak 2: 10 * 2 + 0.1 * 2 = 20.2.
    check(
        "
name: t
timesteps: 2
profiles: {inline: {load: [4, 0]}}
components:
  - {name: grid, type: grid, import_price: 0.1, demand_charge_per_kw: 10, billing_period_hours: 2}
  - {name: b, type: battery, energy_kwh: 2, power_kw: 2, soc_initial: 1, cyclic: false}
  - {name: load, type: electric_demand, profile: load}
",
        20.2,
    );
}

#[test]
fn sizing_with_capex_and_lifetime_annualises_by_the_crf() {
    // CRF(5 %, 10 y) = 0.05 * 1.05^10 / (1.05^10 - 1); a = 1000 * CRF + 10 per
    // kW-year, times 24/8760 for a day. Saving 1 kWh/h at 1.0 beats that, so
    // the PV is sized to the 1 kW load: objective = a * 24 / 8760.
    let g = 1.05f64.powi(10);
    let a = 1000.0 * 0.05 * g / (g - 1.0) + 10.0;
    let results = check(
        "
name: t
timesteps: 24
components:
  - {name: grid, type: grid, import_price: 1}
  - {name: pv, type: solar_pv, profile: 1, capacity: {max: 5, capex_per_unit: 1000, lifetime_years: 10, opex_per_unit_year: 10}}
  - {name: load, type: electric_demand, profile: 1}
",
        a * 24.0 / 8760.0,
    );
    assert_rel(results.sizes["pv.capacity"], 1.0, 1e-6, "pv size");
}

#[test]
fn a_zero_discount_rate_spreads_capex_evenly_and_min_is_respected() {
    // r = 0: a = 800 / 20 = 40 per kW-year; min 3 forces 3 kW although the
    // load is 1: objective 3 * 40 * 24/8760.
    let results = check(
        "
name: t
timesteps: 24
discount_rate: 0
components:
  - {name: grid, type: grid, import_price: 1}
  - {name: pv, type: solar_pv, profile: 1, capacity: {min: 3, max: 5, capex_per_unit: 800, lifetime_years: 20}}
  - {name: load, type: electric_demand, profile: 1}
",
        3.0 * 40.0 * 24.0 / 8760.0,
    );
    assert_rel(results.sizes["pv.capacity"], 3.0, 1e-6, "pv size");
}

#[test]
fn exploitable_negative_prices_are_unbounded() {
    // Paid to import and free to export without limit: an unbounded LP.
    let results = solve(
        "
name: t
timesteps: 1
components:
  - {name: grid, type: grid, import_price: -1, export_price: 0}
  - {name: load, type: electric_demand, profile: 1}
",
    );
    assert_eq!(results.status, Status::Unbounded, "{:?}", results.diagnosis);
    assert!(results.objective.is_none());
}

#[test]
fn a_time_limit_is_an_outcome() {
    let system = load_example("sizing.yaml");
    let options = Options { time_limit_s: Some(1e-6), ..Options::lp() };
    let results = optimize(&system, &options).expect("options fit");
    assert_eq!(results.status, Status::TimeLimit);
    assert!(results.diagnosis.unwrap().message.contains("time limit"));
}

#[test]
fn an_infeasible_system_beyond_the_precheck_is_diagnosed_by_step() {
    // No grid: a 10 kWh battery starting half full (5 kWh) cannot serve 3 kW
    // for 3 h (9 kWh), although its 5 kW of power passes the pre-check at
    // every step. 4 kWh go short; which steps carry it is not unique.
    let results = solve(
        "
name: t
timesteps: 3
components:
  - {name: b, type: battery, energy_kwh: 10, power_kw: 5, cyclic: false}
  - {name: load, type: electric_demand, profile: 3}
",
    );
    assert_eq!(results.status, Status::Infeasible);
    let diagnosis = results.diagnosis.expect("diagnosis");
    assert!(diagnosis.message.contains("4.0000 kWh short"), "{}", diagnosis.message);
    assert!(diagnosis.shortfalls.iter().all(|s| s.bus == "electricity"), "{diagnosis:?}");
}
