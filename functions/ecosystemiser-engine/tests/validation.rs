//! Bad system files: every error names its path and line, and all of them are
//! reported in one pass.

use ecosystemiser_engine::{parse_system, NoFiles, ValidationError};

fn errors(yaml: &str) -> Vec<ValidationError> {
    match parse_system(yaml, &NoFiles) {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(invalid) => invalid.errors,
    }
}

/// Asserts one error at `path` on `line` whose message contains `words`.
fn check(yaml: &str, path: &str, line: usize, words: &str) {
    let found = errors(yaml);
    assert!(
        found.iter().any(|e| e.path == path && e.line == Some(line) && e.message.contains(words)),
        "no error at {path} line {line} containing {words:?}; got:\n{}",
        found.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
    );
}

const BASE: &str = "name: t
timesteps: 2
components:
  - name: grid
    type: grid
  - name: load
    type: electric_demand
    profile: 1
";

#[test]
fn the_base_file_is_valid() {
    parse_system(BASE, &NoFiles).expect("valid");
}

#[test]
fn unknown_keys_are_errors_with_a_suggestion() {
    check(&BASE.replace("    profile: 1", "    profile: 1\n    sacle: 2"), "components[1].sacle", 9, "did you mean `scale`");
    check(&format!("{BASE}objectiv: cost\n"), "objectiv", 9, "unknown key");
}

#[test]
fn bad_references_name_the_profile() {
    check(&BASE.replace("profile: 1", "profile: demand_kw"), "components[1].profile", 8, "unknown profile `demand_kw`");
}

#[test]
fn series_of_the_wrong_length_are_errors() {
    let yaml = BASE.replace("components:", "profiles:\n  inline:\n    p: [1, 2, 3]\ncomponents:");
    check(&yaml, "profiles.inline.p", 5, "has 3 values, expected timesteps = 2");
}

#[test]
fn negative_capacities_and_limits_are_errors() {
    let yaml = format!("{BASE}  - {{name: pv, type: solar_pv, capacity: -5, profile: 1}}\n");
    check(&yaml, "components[2].capacity", 9, "must be >= 0");
    check(&BASE.replace("    type: grid", "    type: grid\n    import_max_kw: -1"), "components[0].import_max_kw", 6, "must be >= 0");
    let negative_profile = BASE.replace("components:", "profiles:\n  inline:\n    p: [1, -2]\ncomponents:").replace("profile: 1", "profile: p");
    check(&negative_profile, "components[1].profile", 11, "must be >= 0, got -2 at step 1");
}

#[test]
fn contradictory_parameters_are_errors() {
    let storage = "  - {name: b, type: battery, energy_kwh: 10, power_kw: 5, charge_kw: 2, discharge_kw: 2}\n";
    check(&format!("{BASE}{storage}"), "components[2].power_kw", 9, "not both");
    let efficiencies = "  - {name: b, type: battery, energy_kwh: 10, power_kw: 5, efficiency_roundtrip: 0.9, efficiency_charge: 0.9}\n";
    check(&format!("{BASE}{efficiencies}"), "components[2].efficiency_roundtrip", 9, "not both");
    let hp = "  - {name: hp, type: heat_pump, efficiency: 3, capacity: 5}\n";
    check(&format!("{BASE}{hp}"), "components[2].efficiency", 9, "takes `cop`");
    let sizing = "  - {name: pv, type: solar_pv, profile: 1, capacity: {max: 5, cost_per_unit_year: 1, capex_per_unit: 9}}\n";
    check(&format!("{BASE}{sizing}"), "components[2].capacity.cost_per_unit_year", 9, "not both");
    let bounds = "  - {name: pv, type: solar_pv, profile: 1, capacity: {min: 6, max: 5, cost_per_unit_year: 1}}\n";
    check(&format!("{BASE}{bounds}"), "components[2].capacity.min", 9, "above max");
    let fuel = "  - {name: hp, type: heat_pump, cop: 3, capacity: 5, fuel_price_per_kwh: 0.1}\n";
    check(&format!("{BASE}{fuel}"), "components[2].fuel_price_per_kwh", 9, "without an input bus");
}

#[test]
fn required_values_are_named() {
    check(&BASE.replace("    profile: 1\n", ""), "components[1].profile", 6, "is required");
    let source = "  - {name: s, type: source, capacity: 1, profile: 1}\n";
    check(&format!("{BASE}{source}"), "components[2].bus", 9, "required for this type");
    let no_cost = "  - {name: pv, type: solar_pv, profile: 1, capacity: {max: 5}}\n";
    check(&format!("{BASE}{no_cost}"), "components[2].capacity", 9, "needs a cost");
    check(&BASE.replace("timesteps: 2\n", ""), "timesteps", 1, "is required");
}

#[test]
fn duplicate_names_and_keys_are_errors() {
    check(&BASE.replace("name: load", "name: grid"), "components[1].name", 6, "duplicate name `grid`");
    let found = errors(&format!("{BASE}name: u\n"));
    assert_eq!((found[0].line, found[0].message.contains("duplicate key `name`")), (Some(9), true), "{found:?}");
}

#[test]
fn objective_rules() {
    check(&format!("{BASE}weights: {{cost: 1}}\n"), "weights", 9, "only allowed with `objective: weighted`");
    check(&format!("{BASE}objective: cheap\n"), "objective", 9, "must be cost, co2 or weighted");
}

#[test]
fn a_billing_period_that_rounds_to_zero_steps_is_an_error() {
    let yaml = BASE.replace("    type: grid", "    type: grid\n    billing_period_hours: 0.4");
    check(&yaml, "components[0].billing_period_hours", 6, "rounds to 0 steps");
}

#[test]
fn yaml_1_2_numbers_and_bad_types() {
    // `1e3` is a number in YAML 1.2; `yes` is a string, not a boolean.
    parse_system(&BASE.replace("profile: 1", "profile: 1e3"), &NoFiles).expect("1e3 is a number");
    check(&BASE.replace("    profile: 1", "    profile: 1\n    scale: yes"), "components[1].scale", 9, "expected a number");
}

#[test]
fn all_errors_come_in_one_pass() {
    let yaml = "name: Bad Name
timesteps: 0
components:
  - {name: g, type: grid, import_max_kw: -1}
  - {name: d, type: electric_demand, profile: nope}
  - {name: x, type: flux_capacitor}
";
    let found = errors(yaml);
    let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
    for path in ["name", "timesteps", "components[0].import_max_kw", "components[2].type"] {
        assert!(paths.contains(&path), "missing {path} in {paths:?}");
    }
}

#[test]
fn syntax_errors_carry_a_line() {
    let found = errors("name: t\ntimesteps: [1, 2\ncomponents: []\n");
    assert!(found[0].line.is_some(), "{found:?}");
}

#[test]
fn json_documents_are_validated_the_same_way() {
    let json = r#"{"name": "t", "timesteps": 1, "components": [{"name": "g", "type": "grid", "import_max_kw": -2}]}"#;
    let found = errors(json);
    assert_eq!(found[0].path, "components[0].import_max_kw");
    assert_eq!(found[0].line, Some(1));
}

#[test]
fn csv_problems_are_errors() {
    struct Csv(&'static str);
    impl ecosystemiser_engine::FileSource for Csv {
        fn read_text(&self, _: &str) -> Result<String, String> {
            Ok(self.0.to_string())
        }
    }
    let yaml = BASE.replace("components:", "profiles:\n  csv: p.csv\ncomponents:");
    let check_csv = |csv: &'static str, words: &str| {
        let invalid = parse_system(&yaml, &Csv(csv)).expect_err("invalid csv");
        assert!(invalid.errors.iter().any(|e| e.path == "profiles.csv" && e.message.contains(words)), "{invalid}");
    };
    check_csv("a,a\n1,2\n3,4\n", "duplicate name `a`");
    check_csv("a\n1\n", "has 1 data rows, expected timesteps = 2");
    check_csv("a\n1\nNaN\n", "line 3: `NaN` is not a finite number");
    let both = yaml.replace("csv: p.csv", "csv: p.csv\n  inline:\n    a: [1, 1]");
    let invalid = parse_system(&both, &Csv("a\n1\n2\n")).expect_err("clash");
    assert!(invalid.to_string().contains("also a csv column"), "{invalid}");
}

/// BASE with an `economics` section after it (line 9 on).
fn with_economics(section: &str) -> String {
    format!("{BASE}{section}")
}

#[test]
fn economics_sections_are_checked_like_the_rest() {
    let valid = parse_system(&with_economics("economics:\n  project_years: 25\n  baseline:\n    remove: [load]\n"), &NoFiles).expect("valid");
    let spec = valid.economics.expect("economics");
    assert_eq!((spec.project_years, spec.remove), (25, Some(vec!["load".to_string()])));
    let defaults = parse_system(&with_economics("economics: {}\n"), &NoFiles).expect("valid").economics.expect("economics");
    assert_eq!((defaults.project_years, defaults.remove), (20, None), "N = 20 and the default baseline");
    assert_eq!(parse_system(BASE, &NoFiles).unwrap().economics, None, "no section means v1");

    check(&with_economics("economics:\n  project_year: 20\n"), "economics.project_year", 10, "did you mean `project_years`");
    check(&with_economics("economics:\n  baseline: {remove: [grid], keep: [load]}\n"), "economics.baseline.keep", 10, "unknown key");
    for (years, words) in [("0", "1..=100, got 0"), ("101", "1..=100, got 101"), ("12.5", "whole number"), ("twenty", "expected a number")] {
        check(&with_economics(&format!("economics:\n  project_years: {years}\n")), "economics.project_years", 10, words);
    }
    check(&with_economics("economics: 20\n"), "economics", 9, "expected a mapping");
}

#[test]
fn baseline_removals_name_components_once() {
    let yaml = with_economics("economics:\n  baseline:\n    remove:\n      - grid\n      - gird\n      - grid\n      - 7\n");
    check(&yaml, "economics.baseline.remove[1]", 13, "names no component: `gird`; did you mean `grid`?");
    check(&yaml, "economics.baseline.remove[2]", 14, "`grid` is listed twice (also economics.baseline.remove[0])");
    check(&yaml, "economics.baseline.remove[3]", 15, "expected a component name");
    check(&with_economics("economics: {baseline: {remove: load}}\n"), "economics.baseline.remove", 9, "expected a list");
    // A component with an error of its own is still a component to remove,
    // and both errors come in the one pass.
    let both = with_economics("economics: {baseline: {remove: [load]}}\n").replace("profile: 1", "profile: -1");
    let found = errors(&both);
    assert_eq!(found.len(), 1, "only the bad profile: {found:?}");
    assert_eq!(found[0].path, "components[1].profile");
}
