//! The JSON Schema of an energy-model system document (v1.1), for the
//! OpenAPI document of `POST /v1/studies`.
//!
//! The engine's parser (`ecosystemiser_engine::parse`) is the one validator;
//! these types only describe its input, key by key and component type by
//! component type, so that the schema admits every document the parser
//! accepts. What a schema cannot say (a profile name must be a column or an
//! inline profile, names are unique, inline profiles have `timesteps`
//! values, `min <= max`) the parser answers with a 400 naming the path.
//! `schemathesis` checks both directions against the running API.

use std::collections::BTreeMap;

use ecosystemiser_engine::parse::{MAX_PROJECT_YEARS, MAX_TIMESTEPS};
use schemars::{JsonSchema, Schema};
use serde_json::Value;

/// An energy-model system (`energy-model v1.1`): YAML's structure, as JSON.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null, example = example())]
#[schemars(extend("anyOf" = [
    {"properties": {"objective": {"enum": ["weighted"]}}, "required": ["objective"]},
    {"not": {"required": ["weights"]}}
]))]
#[allow(dead_code)]
pub struct System {
    #[schemars(regex(pattern = r"^[a-z0-9_-]+$"))]
    name: String,
    /// Steps in the horizon: a whole number (`2.0` is one).
    #[schemars(with = "f64", range(min = 1, max = MAX_TIMESTEPS), extend("multipleOf" = 1))]
    timesteps: u32,
    /// Hours per step; default 1.
    #[schemars(range(min = 0), extend("exclusiveMinimum" = true))]
    timestep_hours: Option<f64>,
    /// Default 0.05.
    #[schemars(range(min = 0))]
    discount_rate: Option<f64>,
    economics: Option<Economics>,
    /// Default `cost`.
    objective: Option<ObjectiveKind>,
    /// Only with `objective: weighted`.
    weights: Option<Weights>,
    profiles: Option<Profiles>,
    #[schemars(length(min = 1))]
    components: Vec<Component>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ObjectiveKind {
    Cost,
    Co2,
    Weighted,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct Weights {
    cost: Option<f64>,
    co2: Option<f64>,
}

/// The optional `economics` section (v1.1).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct Economics {
    /// A whole number of years, default 20.
    #[schemars(with = "Option<f64>", range(min = 1, max = MAX_PROJECT_YEARS), extend("multipleOf" = 1))]
    project_years: Option<u32>,
    baseline: Option<Baseline>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct Baseline {
    /// Component names; default: every component with a sizing block.
    remove: Option<Vec<String>>,
}

/// Profile columns: from a CSV file (a name in the body's `files`, or an
/// upload, `uploads/<id>`), and inline.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct Profiles {
    csv: Option<String>,
    /// Name to exactly `timesteps` numbers.
    inline: Option<BTreeMap<String, InlineProfile>>,
}

#[derive(JsonSchema)]
#[schemars(transform = inline_profile)]
#[allow(dead_code)]
struct InlineProfile(Vec<f64>);

/// A number (constant) or the name of a profile column.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Series {
    Constant(f64),
    Profile(String),
}

/// A series whose values must be at least 0.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum NonNegativeSeries {
    Constant(#[schemars(range(min = 0))] f64),
    Profile(String),
}

/// A series whose values must be above 0.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PositiveSeries {
    Constant(#[schemars(range(min = 0), extend("exclusiveMinimum" = true))] f64),
    Profile(String),
}

/// A fixed capacity, or a sizing block that makes it a decision variable.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Capacity {
    Fixed(#[schemars(range(min = 0))] f64),
    Sized(Sizing),
}

/// A sizing block: `min <= C <= max` with a yearly cost per unit, given
/// directly or as capex over a lifetime.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Sizing {
    Annual(AnnualSizing),
    Capex(CapexSizing),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct AnnualSizing {
    #[schemars(range(min = 0))]
    min: Option<f64>,
    #[schemars(range(min = 0))]
    max: Option<f64>,
    cost_per_unit_year: f64,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct CapexSizing {
    #[schemars(range(min = 0))]
    min: Option<f64>,
    #[schemars(range(min = 0))]
    max: Option<f64>,
    capex_per_unit: f64,
    #[schemars(range(min = 0), extend("exclusiveMinimum" = true))]
    lifetime_years: f64,
    opex_per_unit_year: Option<f64>,
}

/// A bus name.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct Bus(#[schemars(length(min = 1))] String);

/// A component name.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct Name(#[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))] String);

/// One component, by `type`. An alias (`solar_pv`, `battery`, `heat_pump`,
/// `electric_demand`, …) fixes the bus (and a converter's efficiency key);
/// a generic type names its bus.
#[derive(JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
enum Component {
    Grid(Grid),
    Source(GenericSource),
    SolarPv(Source),
    Wind(Source),
    SolarThermal(Source),
    Rainwater(Source),
    Storage(GenericStorage),
    Battery(Storage),
    ThermalStorage(Storage),
    WaterTank(Storage),
    Converter(GenericConverter),
    HeatPump(HeatPump),
    ElectricBoiler(ElectricBoiler),
    FuelBoiler(FuelBoiler),
    Demand(GenericDemand),
    ElectricDemand(Demand),
    HeatDemand(Demand),
    WaterDemand(Demand),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct Grid {
    name: Name,
    bus: Option<Bus>,
    import_price: Option<Series>,
    export_price: Option<Series>,
    #[schemars(range(min = 0))]
    import_max_kw: Option<f64>,
    #[schemars(range(min = 0))]
    export_max_kw: Option<f64>,
    import_co2_kg_per_kwh: Option<Series>,
    demand_charge_per_kw: Option<f64>,
    /// Default 730; must round to at least one step.
    #[schemars(range(min = 0), extend("exclusiveMinimum" = true))]
    billing_period_hours: Option<f64>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct GenericSource {
    name: Name,
    bus: Bus,
    capacity: Capacity,
    profile: NonNegativeSeries,
    variable_cost_per_kwh: Option<Series>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct Source {
    name: Name,
    bus: Option<Bus>,
    capacity: Capacity,
    profile: NonNegativeSeries,
    variable_cost_per_kwh: Option<Series>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null, transform = storage_rules)]
#[allow(dead_code)]
struct GenericStorage {
    name: Name,
    bus: Bus,
    energy_kwh: Capacity,
    power_kw: Option<Capacity>,
    charge_kw: Option<Capacity>,
    discharge_kw: Option<Capacity>,
    #[schemars(range(min = 0, max = 1), extend("exclusiveMinimum" = true))]
    efficiency_charge: Option<f64>,
    #[schemars(range(min = 0, max = 1), extend("exclusiveMinimum" = true))]
    efficiency_discharge: Option<f64>,
    #[schemars(range(min = 0, max = 1), extend("exclusiveMinimum" = true))]
    efficiency_roundtrip: Option<f64>,
    #[schemars(range(min = 0, max = 1), extend("exclusiveMaximum" = true))]
    loss_per_hour: Option<f64>,
    #[schemars(range(min = 0, max = 1))]
    soc_min: Option<f64>,
    #[schemars(range(min = 0, max = 1))]
    soc_initial: Option<f64>,
    cyclic: Option<bool>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null, transform = storage_rules)]
#[allow(dead_code)]
struct Storage {
    name: Name,
    bus: Option<Bus>,
    energy_kwh: Capacity,
    power_kw: Option<Capacity>,
    charge_kw: Option<Capacity>,
    discharge_kw: Option<Capacity>,
    #[schemars(range(min = 0, max = 1), extend("exclusiveMinimum" = true))]
    efficiency_charge: Option<f64>,
    #[schemars(range(min = 0, max = 1), extend("exclusiveMinimum" = true))]
    efficiency_discharge: Option<f64>,
    #[schemars(range(min = 0, max = 1), extend("exclusiveMinimum" = true))]
    efficiency_roundtrip: Option<f64>,
    #[schemars(range(min = 0, max = 1), extend("exclusiveMaximum" = true))]
    loss_per_hour: Option<f64>,
    #[schemars(range(min = 0, max = 1))]
    soc_min: Option<f64>,
    #[schemars(range(min = 0, max = 1))]
    soc_initial: Option<f64>,
    cyclic: Option<bool>,
}

/// Exactly one of `cop` and `efficiency`; fuel terms only without `bus_in`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null, transform = converter_rules)]
#[allow(dead_code)]
struct GenericConverter {
    name: Name,
    bus_in: Option<Bus>,
    bus_out: Bus,
    cop: Option<PositiveSeries>,
    efficiency: Option<PositiveSeries>,
    capacity: Capacity,
    fuel_price_per_kwh: Option<Series>,
    fuel_co2_kg_per_kwh: Option<Series>,
}

/// Electricity to heat by `cop`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct HeatPump {
    name: Name,
    bus_in: Option<Bus>,
    bus_out: Option<Bus>,
    cop: PositiveSeries,
    capacity: Capacity,
}

/// Electricity to heat by `efficiency`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct ElectricBoiler {
    name: Name,
    bus_in: Option<Bus>,
    bus_out: Option<Bus>,
    efficiency: PositiveSeries,
    capacity: Capacity,
}

/// Bought fuel to heat by `efficiency`; with `bus_in`, fuel comes from that
/// bus and has no price of its own.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null, transform = fuel_rules)]
#[allow(dead_code)]
struct FuelBoiler {
    name: Name,
    bus_in: Option<Bus>,
    bus_out: Option<Bus>,
    efficiency: PositiveSeries,
    capacity: Capacity,
    fuel_price_per_kwh: Option<Series>,
    fuel_co2_kg_per_kwh: Option<Series>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct GenericDemand {
    name: Name,
    bus: Bus,
    profile: NonNegativeSeries,
    #[schemars(range(min = 0))]
    scale: Option<f64>,
    unmet_penalty_per_kwh: Option<f64>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
#[allow(dead_code)]
struct Demand {
    name: Name,
    bus: Option<Bus>,
    profile: NonNegativeSeries,
    #[schemars(range(min = 0))]
    scale: Option<f64>,
    unmet_penalty_per_kwh: Option<f64>,
}

/// A two-step house on the grid: the document's example.
pub fn example() -> Value {
    serde_json::json!({
        "name": "tiny", "timesteps": 2, "timestep_hours": 1.0,
        "profiles": {"inline": {"load": [1.0, 2.0]}},
        "components": [
            {"name": "grid", "type": "grid", "import_price": 0.2, "import_max_kw": 10},
            {"name": "house", "type": "electric_demand", "profile": "load"}
        ]
    })
}

/// The parser takes an absent key for its default but rejects `null`, so
/// an `Option` field is optional, never nullable.
pub(crate) fn absent_not_null(schema: &mut Schema) {
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for property in properties.values_mut() {
        not_null(property);
    }
}

/// `{"type": ["number", "null"]}` to `{"type": "number"}`, and
/// `{"anyOf": [S, {"type": "null"}]}` to `S`.
fn not_null(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else { return };
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            object.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(variants)) = object.get("anyOf") {
        let rest: Vec<Value> = variants.iter().filter(|v| v.get("type") != Some(&"null".into())).cloned().collect();
        if rest.len() == 1 && variants.len() == 2 {
            object.remove("anyOf");
            if let Some(Value::Object(only)) = rest.into_iter().next() {
                object.extend(only);
            }
        }
    }
}

fn inline_profile(schema: &mut Schema) {
    schema.insert("minItems".into(), 1.into());
    schema.insert("maxItems".into(), MAX_TIMESTEPS.into());
}

fn add_all_of(schema: &mut Schema, rules: Value) {
    let Value::Array(rules) = rules else { return };
    match schema.get_mut("allOf").and_then(Value::as_array_mut) {
        Some(all_of) => all_of.extend(rules),
        None => {
            schema.insert("allOf".into(), rules.into());
        }
    }
}

/// `power_kw`, or both `charge_kw` and `discharge_kw`; `efficiency_roundtrip`,
/// or the charge and discharge efficiencies.
fn storage_rules(schema: &mut Schema) {
    add_all_of(
        schema,
        serde_json::json!([
            {"oneOf": [
                {"required": ["power_kw"], "not": {"anyOf": [{"required": ["charge_kw"]}, {"required": ["discharge_kw"]}]}},
                {"required": ["charge_kw", "discharge_kw"], "not": {"required": ["power_kw"]}}
            ]},
            {"not": {"anyOf": [
                {"required": ["efficiency_roundtrip", "efficiency_charge"]},
                {"required": ["efficiency_roundtrip", "efficiency_discharge"]}
            ]}}
        ]),
    );
}

fn fuel_rules(schema: &mut Schema) {
    add_all_of(
        schema,
        serde_json::json!([
            {"not": {"anyOf": [
                {"required": ["bus_in", "fuel_price_per_kwh"]},
                {"required": ["bus_in", "fuel_co2_kg_per_kwh"]}
            ]}}
        ]),
    );
}

fn converter_rules(schema: &mut Schema) {
    fuel_rules(schema);
    add_all_of(
        schema,
        serde_json::json!([
            {"oneOf": [
                {"required": ["cop"], "not": {"required": ["efficiency"]}},
                {"required": ["efficiency"], "not": {"required": ["cop"]}}
            ]}
        ]),
    );
}
