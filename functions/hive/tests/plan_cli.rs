//! `hive plan` as a user runs it: a hand-written YAML plan (the figures are
//! worked out in the comments), a goal, JSON and the Gantt chart, and the
//! exit codes for a cycle and other bad input.

use std::path::Path;
use std::process::Command;

fn hive(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hive")).args(args).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into(), String::from_utf8_lossy(&output.stderr).into())
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan").join(name).display().to_string()
}

#[test]
fn a_yaml_plan_is_scheduled_and_its_odds_computed() {
    // login.yaml: design 30; api (40, 60, 110) has mean 390/6 = 65 and
    // σ = 70/6 = 11.667; tokens 45 and ui 50 after design; e2e 20 after all.
    // CPM: design 0–30, api 30–95, tokens 30–75, ui 30–80, e2e 95–115.
    // Floats: tokens ls = 95 − 45 = 50, float 20; ui float 95 − 80 = 15.
    // One backend worker does design, api and tokens one after another
    // (30 + 65 + 45 = 140 minutes), and e2e needs api and tokens, so 160
    // is both a schedule and a lower bound.
    // PERT to 120: z = (120 − 115)/11.667 = 0.4286, Φ = 0.6659.
    let file = fixture("login.yaml");
    let (code, out, err) = hive(&["plan", &file, "--json", "--deadline", "120"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["makespan"], 160.0);
    assert_eq!(doc["cpm_makespan"], 115.0);
    assert_eq!(doc["critical_path"], serde_json::json!(["design", "api", "e2e"]));
    assert_eq!(doc["cpm"]["api"]["es"], 30.0);
    assert_eq!(doc["cpm"]["api"]["lf"], 95.0);
    assert_eq!(doc["cpm"]["tokens"]["total_float"], 20.0);
    assert_eq!(doc["cpm"]["ui"]["ls"], 45.0);
    assert_eq!(doc["pert"]["mean"], 115.0);
    assert!((doc["pert"]["std_dev"].as_f64().unwrap() - 70.0 / 6.0).abs() < 1e-9);
    assert!((doc["pert"]["probability_by_deadline"].as_f64().unwrap() - 0.665_882).abs() < 1e-5, "{}", doc["pert"]);
    assert_eq!(doc["planner"], "file");
    let schedule = doc["schedule"].as_array().unwrap();
    assert_eq!(schedule.len(), 5);
    let e2e = schedule.iter().find(|s| s["id"] == "e2e").unwrap();
    assert_eq!((e2e["start"].as_f64(), e2e["finish"].as_f64()), (Some(140.0), Some(160.0)));

    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("gantt.svg");
    let (code, out, _) = hive(&["plan", &file, "--gantt", svg.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("critical path: design -> api -> e2e"), "{out}");
    assert!(out.contains("makespan: 160 min"), "{out}");
    // The file's own deadline of 200 is 7.3 σ away.
    assert!(out.contains("P(finish by 200 min) = 100.0 %"), "{out}");
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("class=\"task critical\"").count() == 3, "{svg}");
}

#[test]
fn a_goal_is_planned_by_the_heuristic() {
    let goal = "Add OAuth login to the customer portal";
    let (code, out, err) = hive(&["plan", "--goal", goal, "--roles", "backend=2,frontend=2,infra=1", "--json"]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["planner"], "heuristic");
    // Design 15, backend and frontend 60 side by side, then tests, review
    // and deploy at 15 each.
    assert_eq!(doc["makespan"], 120.0);
    assert_eq!(doc["critical_path"][0], "design");
    // The same goal, the same plan.
    assert_eq!(hive(&["plan", "--goal", goal, "--roles", "backend=2,frontend=2,infra=1", "--json"]).1, out);
}

#[test]
fn bad_plans_exit_2_naming_file_line_and_path() {
    let file = fixture("cyclic.yaml");
    let (code, _, err) = hive(&["plan", &file]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{file}:6: tasks[0].depends_on: dependency cycle: a -> c -> b -> a")), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "roles: {backend: 1}\ntasks:\n  - id: a\n    role: backend\n    duration: -5\n").unwrap();
    let (code, _, err) = hive(&["plan", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaml:5: tasks[0].duration: `a` has duration -5; durations must be positive"), "{err}");

    let json = dir.path().join("bad.json");
    std::fs::write(&json, "{\"tasks\": [\n  {\"id\": \"a\", \"duration\": 1},\n  {\"id\": \"b\" \"duration\": 1}\n]}").unwrap();
    let (code, _, err) = hive(&["plan", json.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.json:3:"), "{err}");

    // A file that cannot be read is 1; a bad --roles is a usage error, 2.
    assert_eq!(hive(&["plan", "/no/such/plan.yaml"]).0, 1);
    let (code, _, err) = hive(&["plan", &file, "--roles", "backend"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not ROLE=COUNT"), "{err}");
}
