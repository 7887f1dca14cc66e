//! The energy commands, run as the built binary on small files in a tempdir:
//! exit codes, error locations, and the files written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A grid and a demand over 24 steps, profiles from a CSV next to the file.
const TINY: &str = "name: tiny
timesteps: 24
profiles:
  csv: profiles.csv
components:
  - name: grid
    type: grid
    import_price: price
    import_co2_kg_per_kwh: 0.4
  - name: house
    type: electric_demand
    profile: load
";

/// PV is sized and cleaner than the grid, so cost and CO2 conflict.
const SIZED: &str = "name: sized
timesteps: 24
profiles:
  csv: profiles.csv
components:
  - name: grid
    type: grid
    import_price: price
    import_co2_kg_per_kwh: 0.4
  - name: pv
    type: solar_pv
    capacity: {min: 0, max: 20, cost_per_unit_year: 400}
    profile: sun
  - name: battery
    type: battery
    energy_kwh: {min: 0, max: 20, cost_per_unit_year: 60}
    power_kw: 5
  - name: house
    type: electric_demand
    profile: load
";

const INFEASIBLE: &str = "name: stranded
timesteps: 24
components:
  - name: grid
    type: grid
    import_max_kw: 0
  - name: house
    type: electric_demand
    profile: 1.0
";

/// Line 8 has a negative capacity.
const INVALID: &str = "name: broken
timesteps: 24
components:
  - name: grid
    type: grid
  - name: pv
    type: solar_pv
    capacity: -5
    profile: 0.5
";

fn profiles_csv() -> String {
    let mut csv = String::from("load,price,sun\n");
    for hour in 0..24 {
        let sun = if (7..19).contains(&hour) { ((hour as f64 - 13.0) / 6.0 * 1.5).cos().max(0.0) } else { 0.0 };
        let price = if (17..21).contains(&hour) { 0.4 } else { 0.2 };
        csv.push_str(&format!("{},{price},{sun}\n", 1.0 + 0.5 * (hour as f64 / 4.0).sin().abs()));
    }
    csv
}

/// A tempdir holding `profiles.csv` and `file_name` with `text`.
fn setup(file_name: &str, text: &str) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("profiles.csv"), profiles_csv()).expect("write csv");
    let file = dir.path().join(file_name);
    std::fs::write(&file, text).expect("write system");
    (dir, file)
}

fn hive(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hive")).args(args).current_dir(cwd).output().expect("run hive")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn results_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json written");
    serde_json::from_str(&text).expect("results.json is JSON")
}

#[track_caller]
fn assert_code(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "stdout:\n{}\nstderr:\n{}", stdout(output), stderr(output));
}

#[test]
fn validate_accepts_a_good_file() {
    let (dir, file) = setup("tiny.yaml", TINY);
    let output = hive(&["validate", file.to_str().unwrap()], dir.path());
    assert_code(&output, 0);
    assert!(stdout(&output).contains("valid"));
}

#[test]
fn optimize_writes_results_series_and_report() {
    let (dir, file) = setup("tiny.yaml", TINY);
    let out = dir.path().join("run");
    // From another directory: the CSV is found relative to the system file.
    let output = hive(&["optimize", file.to_str().unwrap(), "--out", out.to_str().unwrap()], Path::new("/"));
    assert_code(&output, 0);
    let json = results_json(&out);
    assert_eq!(json["status"], "optimal");
    assert!(json["objective"].as_f64().expect("objective is a number") > 0.0);
    let csv = std::fs::read_to_string(out.join("series.csv")).expect("series.csv");
    assert_eq!(csv.lines().count(), 25, "header and 24 steps");
    assert!(csv.starts_with("step,hour,"));
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(html.contains("<svg"));
    let printed = stdout(&output);
    for part in ["optimal", "Cost", "Energy per bus", "results.json", "series.csv", "report.html"] {
        assert!(printed.contains(part), "stdout has {part}:\n{printed}");
    }
}

#[test]
fn optimize_defaults_to_out_system_name() {
    let (dir, file) = setup("tiny.yaml", TINY);
    let output = hive(&["optimize", file.to_str().unwrap()], dir.path());
    assert_code(&output, 0);
    assert_eq!(results_json(&dir.path().join("out/tiny"))["status"], "optimal");
}

#[test]
fn every_solver_runs() {
    let (dir, file) = setup("tiny.yaml", TINY);
    for extra in [&["--solver", "rule-based"][..], &["--solver", "rolling", "--window", "12", "--overlap", "4"], &["--objective", "co2"]] {
        let mut args = vec!["optimize", file.to_str().unwrap(), "--out", "o"];
        args.extend_from_slice(extra);
        assert_code(&hive(&args, dir.path()), 0);
    }
}

#[test]
fn json_files_work_like_yaml() {
    let json = r#"{"name": "tiny_json", "timesteps": 2, "components": [
        {"name": "grid", "type": "grid", "import_price": 0.3},
        {"name": "house", "type": "electric_demand", "profile": 2.0}]}"#;
    let (dir, file) = setup("tiny.json", json);
    let output = hive(&["optimize", file.to_str().unwrap(), "--out", "o"], dir.path());
    assert_code(&output, 0);
    let objective = results_json(&dir.path().join("o"))["objective"].as_f64().unwrap();
    assert!((objective - 1.2).abs() < 1e-6, "2 steps × 2 kW × 0.3 = 1.2, got {objective}");
}

#[test]
fn infeasible_exits_3_with_the_diagnosis() {
    let (dir, file) = setup("stranded.yaml", INFEASIBLE);
    let output = hive(&["optimize", file.to_str().unwrap(), "--out", "o"], dir.path());
    assert_code(&output, 3);
    assert!(stderr(&output).contains("electricity"), "diagnosis names the bus:\n{}", stderr(&output));
    assert_eq!(results_json(&dir.path().join("o"))["status"], "infeasible");
}

#[test]
fn invalid_exits_2_with_file_line_and_path() {
    let (dir, file) = setup("broken.yaml", INVALID);
    let output = hive(&["optimize", file.to_str().unwrap()], dir.path());
    assert_code(&output, 2);
    let expected = format!("{}:8: components[1].capacity:", file.display());
    assert!(stderr(&output).contains(&expected), "expected `{expected}` in:\n{}", stderr(&output));
    let output = hive(&["validate", file.to_str().unwrap()], dir.path());
    assert_code(&output, 2);
}

#[test]
fn unreadable_files_exit_2_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let output = hive(&["validate", "no/such/system.yaml"], dir.path());
    assert_code(&output, 2);
    assert!(stderr(&output).contains("no/such/system.yaml"));
    // A missing profiles CSV is an error in the file, with the CSV's path.
    let file = dir.path().join("tiny.yaml");
    std::fs::write(&file, TINY).unwrap();
    let output = hive(&["validate", file.to_str().unwrap()], dir.path());
    assert_code(&output, 2);
    assert!(stderr(&output).contains("profiles.csv"), "{}", stderr(&output));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    assert_code(&hive(&["optimize"], dir.path()), 2);
    assert_code(&hive(&["optimize", "x.yaml", "--solver", "magic"], dir.path()), 2);
    assert_code(&hive(&["uncertainty", "x.yaml", "--samples", "3", "--seed", "1", "--param", "nonsense"], dir.path()), 2);
}

#[test]
fn pareto_writes_a_front() {
    let (dir, file) = setup("sized.yaml", SIZED);
    let output = hive(&["pareto", file.to_str().unwrap(), "--points", "4", "--out", "p"], dir.path());
    assert_code(&output, 0);
    let json = results_json(&dir.path().join("p"));
    assert_eq!(json["status"], "optimal");
    assert!(json["objective"].is_number());
    assert!(json["front"]["points"].as_array().is_some_and(|p| p.len() >= 2), "{json}");
    let html = std::fs::read_to_string(dir.path().join("p/report.html")).unwrap();
    assert!(html.contains("<svg"));
}

#[test]
fn uncertainty_writes_a_summary() {
    let (dir, file) = setup("sized.yaml", SIZED);
    let args = [
        "uncertainty",
        file.to_str().unwrap(),
        "--samples",
        "12",
        "--seed",
        "7",
        "--param",
        "grid.import_price=uniform(0.8,1.2)",
        "--param",
        "house.scale=normal(1,0.1)",
        "--out",
        "u",
    ];
    let output = hive(&args, dir.path());
    assert_code(&output, 0);
    let json = results_json(&dir.path().join("u"));
    assert_eq!(json["status"], "optimal");
    assert!(json["objective"].is_number());
    assert_eq!(json["summary"]["samples"], 12);
    let html = std::fs::read_to_string(dir.path().join("u/report.html")).unwrap();
    assert!(html.contains("<svg"));
}

#[test]
fn uncertainty_rejects_unknown_targets_with_exit_2() {
    let (dir, file) = setup("tiny.yaml", TINY);
    let args = ["uncertainty", file.to_str().unwrap(), "--samples", "3", "--seed", "1", "--param", "nope.scale=uniform(0.9,1.1)"];
    let output = hive(&args, dir.path());
    assert_code(&output, 2);
    assert!(stderr(&output).contains("nope"), "{}", stderr(&output));
}

/// SIZED with PV bought up front and an `economics` section (line 22 on);
/// line 26 is `remove`'s first entry.
fn sized_with_economics(remove: &str) -> String {
    let mut text = SIZED
        .replace("capacity: {min: 0, max: 20, cost_per_unit_year: 400}", "capacity: {min: 0, max: 20, capex_per_unit: 4000, lifetime_years: 20}")
        .replace("timesteps: 24\n", "timesteps: 24\ndiscount_rate: 0.05\n");
    text.push_str(&format!("economics:\n  project_years: 15\n  baseline:\n    remove:\n{remove}"));
    text
}

#[test]
fn optimize_prints_and_writes_economics_against_the_baseline() {
    let (dir, file) = setup("sized.yaml", &sized_with_economics("      - pv\n      - battery\n"));
    let output = hive(&["optimize", file.to_str().unwrap(), "--out", "o"], dir.path());
    assert_code(&output, 0);
    let printed = stdout(&output);
    let cost_at = printed.find("Cost\n").expect("the cost split");
    let economics_at = printed.find("Economics over 15 years, against the baseline").expect("the Economics block");
    assert!(cost_at < economics_at, "after the cost split:\n{printed}");
    for part in ["baseline cost per year", "savings per year", "capex", "NPV", "simple payback", "discounted payback", "IRR", "LCOE pv"] {
        assert!(printed[economics_at..].contains(part), "Economics has {part}:\n{printed}");
    }
    let json = results_json(&dir.path().join("o"));
    let economics = &json["economics"];
    assert_eq!(economics["baseline_status"], "optimal");
    assert_eq!(economics["project_years"], 15);
    assert!(economics["npv"].is_number() && economics["capex"].is_number(), "{economics}");
    let html = std::fs::read_to_string(dir.path().join("o/report.html")).unwrap();
    assert!(html.contains("Cumulative discounted cash flow"));
}

#[test]
fn bad_economics_exit_2_with_file_line_and_path() {
    let (dir, file) = setup("sized.yaml", &sized_with_economics("      - pv\n      - nope\n      - pv\n"));
    let output = hive(&["optimize", file.to_str().unwrap()], dir.path());
    assert_code(&output, 2);
    let errors = stderr(&output);
    for expected in [
        format!("{}:27: economics.baseline.remove[1]: names no component: `nope`", file.display()),
        format!("{}:28: economics.baseline.remove[2]: `pv` is listed twice", file.display()),
    ] {
        assert!(errors.contains(&expected), "expected `{expected}` in:\n{errors}");
    }
    let (dir, file) = setup("sized.yaml", &sized_with_economics("      - pv\n").replace("project_years: 15", "project_years: 0"));
    let output = hive(&["validate", file.to_str().unwrap()], dir.path());
    assert_code(&output, 2);
    assert!(stderr(&output).contains(":23: economics.project_years: must be a whole number in 1..=100"), "{}", stderr(&output));
}

#[test]
fn studies_give_the_same_answer_on_any_number_of_jobs() {
    let (dir, file) = setup("sized.yaml", &sized_with_economics("      - pv\n      - battery\n"));
    let front = |jobs: &str, out: &str| {
        let output = hive(&["pareto", file.to_str().unwrap(), "--points", "4", "--jobs", jobs, "--out", out], dir.path());
        assert_code(&output, 0);
        results_json(&dir.path().join(out))["front"]["points"].clone()
    };
    let (one, two) = (front("1", "p1"), front("2", "p2"));
    let strip = |points: &serde_json::Value| {
        let mut points = points.clone();
        for p in points.as_array_mut().unwrap() {
            p["economics"].as_object_mut().map(|e| e.remove("baseline_solve_s"));
        }
        points
    };
    assert_eq!(strip(&one), strip(&two), "the same front on one thread and on two");
    assert!(one[0]["economics"]["npv"].is_number(), "every point carries its NPV: {one}");
    let args = ["uncertainty", file.to_str().unwrap(), "--samples", "6", "--seed", "2", "--param", "grid.import_price=uniform(0.8,1.2)", "--jobs", "2", "--out", "u"];
    assert_code(&hive(&args, dir.path()), 0);
    let summary = &results_json(&dir.path().join("u"))["summary"];
    assert!(summary["npv"]["mean"].is_number() && summary["p_npv_positive"].is_number(), "{summary}");
    assert_code(&hive(&["pareto", file.to_str().unwrap(), "--points", "4", "--jobs", "0"], dir.path()), 2);
}
