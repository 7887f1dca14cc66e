//! `hive guardian` as a user runs it: file:line output, exit codes, bad
//! configuration and bad input.

use std::process::Command;

fn hive(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hive")).args(args).current_dir(dir).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into(), String::from_utf8_lossy(&output.stderr).into())
}

#[test]
fn findings_exit_codes_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("pkg/a.py"), "import logging\nprint('x')\ntry:\n    pass\nexcept:\n    pass\n").unwrap();
    std::fs::write(root.join("pkg/binary.py"), [0u8, 159, 146, 150, 0, 1, 2]).unwrap();
    std::fs::write(root.join("pkg/deep.py"), format!("x = {}1{}\n", "(".repeat(100_000), ")".repeat(100_000))).unwrap();
    std::fs::write(root.join("pkg/chain.py"), format!("x = 1{}\n", " + 1".repeat(200_000))).unwrap();

    let (code, out, err) = hive(root, &["guardian", "check", "."]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("pkg/a.py:2:1: print-call [warning]"), "{out}");
    assert!(out.contains("pkg/a.py:5:1: bare-except [error]"), "{out}");
    assert!(out.contains("2 | print('x')"), "{out}");
    assert!(out.contains("pkg/binary.py:1:1: parse-error [error] the file is not UTF-8"), "{out}");
    assert!(out.contains("pkg/deep.py:1:") && out.contains("brackets nest 100000 deep"), "{out}");
    assert!(out.contains("pkg/chain.py:1:") && out.contains("chains 200000 operators"), "{out}");

    // Below the fail level it passes; --level hides the lower rules.
    assert_eq!(hive(root, &["guardian", "check", ".", "--fail-level", "critical"]).0, 0);
    let (_, out, _) = hive(root, &["guardian", "check", ".", "--level", "error", "--fail-level", "critical"]);
    assert!(!out.contains("print-call") && out.contains("bare-except"), "{out}");

    // A baseline of today's findings passes.
    let (_, json, _) = hive(root, &["guardian", "check", ".", "--format", "json"]);
    std::fs::write(root.join("baseline.json"), json).unwrap();
    let (code, out, _) = hive(root, &["guardian", "check", ".", "--baseline", "baseline.json"]);
    assert_eq!(code, 0, "{out}");

    // A bad guardian.toml is exit 2 with the file, line and key.
    std::fs::write(root.join("guardian.toml"), "[rules]\nprint-cal = \"off\"\n").unwrap();
    let (code, _, err) = hive(root, &["guardian", "check", "."]);
    assert_eq!(code, 2);
    assert!(err.contains("guardian.toml:2: print-cal: no rule has this id"), "{err}");
    std::fs::remove_file(root.join("guardian.toml")).unwrap();

    // Usage errors are 2 as well.
    assert_eq!(hive(root, &["guardian", "check", "no-such-dir"]).0, 2);
    assert_eq!(hive(root, &["guardian", "check", ".", "--level", "loud"]).0, 2);

    let (code, out, _) = hive(root, &["guardian", "rules", "--json"]);
    assert_eq!(code, 0);
    let rules: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(rules.as_array().unwrap().iter().any(|r| r["id"] == "print-call" && r["ruff"] == "T201"));
}
