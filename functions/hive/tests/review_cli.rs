//! `hive review` on the Reviewer's fixtures: real-looking submissions,
//! Guardian's engine in process for the facts, and the expected decision
//! in each fixture's `expected` file; and its exit codes and bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn hive(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hive")).args(args).current_dir(dir).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into(), String::from_utf8_lossy(&output.stderr).into())
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../reviewer-engine/tests/fixtures")
}

fn judged(name: &str) -> (i32, Value) {
    let (code, out, err) = hive(&fixtures().join(name), &["review", ".", "--json"]);
    let review: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}: {out}{err}"));
    (code, review)
}

#[test]
fn every_fixture_gets_its_expected_decision() {
    let mut names: Vec<String> =
        std::fs::read_dir(fixtures()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["aws-key", "clean", "long-function"]);
    for name in names {
        let expected = std::fs::read_to_string(fixtures().join(&name).join("expected")).unwrap();
        let (code, review) = judged(&name);
        let decision = review["decision"].as_str().unwrap();
        assert!(expected.split_whitespace().any(|d| d == decision), "{name}: {decision}, expected one of {expected}: {review:#}");
        let exit = match decision {
            "approve" => 0,
            "rework" => 1,
            "escalate" => 3,
            _ => 4,
        };
        assert_eq!(code, exit, "{name}");
        // The score is the weighted sum of the sub-scores, to 0.01.
        let weighted: f64 = review["sub_scores"].as_array().unwrap().iter().map(|s| s["score"].as_f64().unwrap() * s["weight"].as_f64().unwrap()).sum();
        assert!((review["score"].as_f64().unwrap() - weighted).abs() <= 0.01, "{name}");
    }
}

#[test]
fn what_each_fixture_is_judged_on() {
    let (_, clean) = judged("clean");
    assert_eq!((clean["score"].as_f64(), clean["confidence"].as_f64()), (Some(100.0), Some(1.0)), "{clean:#}");
    let (_, key) = judged("aws-key");
    assert_eq!(key["critical"], true);
    assert_eq!(key["remarks"][0]["file"], "inventory/stock.py");
    assert_eq!(key["remarks"][0]["line"], 6);
    assert!(key["remarks"][0]["message"].as_str().unwrap().contains("AWS access key id"), "{key:#}");
    let (_, long) = judged("long-function");
    let metrics: Vec<&str> = long["evidence"].as_array().unwrap().iter().filter_map(|e| e["metric"].as_str()).collect();
    for metric in ["complexity", "function-length", "no-tests"] {
        assert!(metrics.contains(&metric), "{metric} missing from {metrics:?}");
    }
}

#[test]
fn the_score_card_exit_codes_and_bad_input() {
    let (code, out, _) = hive(&fixtures().join("clean"), &["review", "."]);
    assert_eq!(code, 0);
    assert!(out.starts_with("4 files: APPROVE — score 100.00/100, confidence 1.00\n"), "{out}");
    let (code, out, _) = hive(&fixtures().join("aws-key"), &["review", "inventory", "tests"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("A critical security finding blocks approval."), "{out}");
    assert!(out.contains("1. inventory/stock.py:6: hard-coded AWS access key id"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), "def f():\n    return 1\n").unwrap();
    std::fs::write(dir.path().join("lcov.info"), "SF:a.py\nDA:1,1\nDA:two,0\nend_of_record\n").unwrap();
    let (code, _, err) = hive(dir.path(), &["review", "a.py", "--coverage", "lcov.info"]);
    assert_eq!(code, 2);
    assert_eq!(err.trim(), "hive review: lcov.info:3: DA:two,0 is not <line>,<hits>");
    let (code, _, err) = hive(dir.path(), &["review", "missing"]);
    assert_eq!((code, err.trim()), (2, "hive review: missing: no such file or folder"));
}
