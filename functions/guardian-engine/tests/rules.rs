//! Every rule against its fixtures: `tests/fixtures/<rule-id>/bad.<ext>`
//! must be reported on exactly the lines marked `expect`, and `good.<ext>`
//! not at all. A rule without both fixtures fails.

use std::path::Path;

use guardian_engine::rules::{self, Language};
use guardian_engine::{Config, Severity, analyse};

fn lines_of(rule: &str, path: &str, text: &str) -> Vec<u32> {
    // Analysed as library code, outside any test folder.
    let virtual_path = format!("pkg/src/{}", path.rsplit('/').next().unwrap());
    let report = analyse(&virtual_path, text.as_bytes(), &Config::standard(), Severity::Info);
    report.findings.iter().filter(|f| f.rule == rule).map(|f| f.line).collect()
}

#[test]
fn every_rule_has_a_positive_and_a_negative_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut checked = 0;
    for rule in rules::ALL.iter().filter(|r| r.python.is_some() || r.rust.is_some()) {
        let extensions: &[&str] = match rule.language {
            Language::Python => &["py"],
            Language::Rust => &["rs"],
            Language::Any => &["py", "rs"],
        };
        for ext in extensions {
            let bad_path = root.join(rule.id).join(format!("bad.{ext}"));
            let good_path = root.join(rule.id).join(format!("good.{ext}"));
            let bad = std::fs::read_to_string(&bad_path).unwrap_or_else(|_| panic!("{} is missing", bad_path.display()));
            let good = std::fs::read_to_string(&good_path).unwrap_or_else(|_| panic!("{} is missing", good_path.display()));
            let expected: Vec<u32> =
                bad.lines().enumerate().filter(|(_, l)| l.trim_end().ends_with("expect")).map(|(i, _)| i as u32 + 1).collect();
            assert!(!expected.is_empty(), "{} marks no line `expect`", bad_path.display());
            assert_eq!(lines_of(rule.id, &format!("bad.{ext}"), &bad), expected, "{} on {}", rule.id, bad_path.display());
            assert_eq!(lines_of(rule.id, &format!("good.{ext}"), &good), Vec::<u32>::new(), "{} on {}", rule.id, good_path.display());
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} fixtures checked");
}
