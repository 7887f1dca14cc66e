//! The review's invariants, on submissions from a seeded generator: the
//! same seed always gives the same cases, so a failure names its seed.

use std::collections::BTreeMap;

use reviewer_engine::facts::{FileFacts, Finding, FunctionFacts};
use reviewer_engine::{Analysis, Area, CodeFacts, ReviewConfig, Severity, SourceFile, Submission, decide, review};

/// SplitMix64: a small, well-mixed generator, enough for test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const RULES: &[(&str, Severity)] = &[
    ("hardcoded-secret", Severity::Critical),
    ("eval-usage", Severity::Critical),
    ("bare-except", Severity::Error),
    ("print-call", Severity::Warning),
    ("rust-unwrap", Severity::Error),
    ("architecture-contract", Severity::Error),
    ("global-config-accessor", Severity::Error),
    ("missing-type-hints", Severity::Warning),
];

/// A submission of Python modules and tests, and Guardian's facts about it.
fn case(rng: &mut Rng) -> (Submission, CodeFacts) {
    let mut submission = Submission::default();
    let mut facts = CodeFacts::default();
    let modules = 1 + rng.below(4);
    for m in 0..modules {
        let path = format!("pkg/mod{m}.py");
        let mut content = String::new();
        let mut functions = Vec::new();
        for f in 0..rng.below(6) {
            let line = content.lines().count() as u32 + 1;
            let documented = rng.chance(60);
            let public = rng.chance(70);
            let name = if public { format!("run{f}") } else { format!("_helper{f}") };
            let length = 2 + rng.below(120) as u32;
            content.push_str(&format!("def {name}(x):\n"));
            if documented {
                content.push_str("    \"\"\"Does it.\"\"\"\n");
            }
            for _ in 0..length.saturating_sub(1 + u32::from(documented)) {
                content.push_str("    x = x + 1\n");
            }
            functions.push(FunctionFacts {
                name: name.clone(),
                qualified_name: name,
                line,
                length,
                complexity: 1 + rng.below(45) as u32,
                public,
                documented,
                nested: false,
            });
        }
        if rng.chance(50) {
            let documented = rng.chance(50);
            content.push_str("class Thing:\n");
            content.push_str(if documented { "    \"\"\"A thing.\"\"\"\n" } else { "    x = 1\n" });
        }
        let lines = content.lines().count();
        for _ in 0..rng.below(4) {
            let (rule, severity) = RULES[rng.below(RULES.len() as u64) as usize];
            let line = 1 + rng.below(lines.max(1) as u64) as u32;
            facts.findings.push(Finding { rule: rule.into(), severity, path: path.clone(), line, message: format!("{rule} here"), suppressed: None });
        }
        facts.files.push(FileFacts { path: path.clone(), language: Some("python".into()), test: false, lines, functions });
        submission.files.push(SourceFile { path, content });
    }
    if rng.chance(60) {
        let path = "tests/test_pkg.py".to_owned();
        let content: String = (0..1 + rng.below(5)).map(|i| format!("def test_{i}():\n    assert True\n")).collect();
        facts.files.push(FileFacts { path: path.clone(), language: Some("python".into()), test: true, lines: content.lines().count(), functions: vec![] });
        submission.files.push(SourceFile { path, content });
    }
    if rng.chance(20) {
        submission.files.push(SourceFile { path: "web/app.js".into(), content: "export const a = 1;\n".into() });
        facts.files.push(FileFacts { path: "web/app.js".into(), language: None, test: false, lines: 0, functions: vec![] });
    }
    if rng.chance(40) {
        let mut changed = BTreeMap::new();
        for file in &submission.files {
            if rng.chance(70) {
                changed.insert(file.path.clone(), vec![(1, 5)]);
            }
        }
        submission.changed_lines = Some(changed);
    }
    if rng.chance(30) {
        let hit = rng.below(10);
        submission.coverage = Some(format!("SF:pkg/mod0.py\nDA:1,1\n{}end_of_record\n", (2..12).map(|l| format!("DA:{l},{}\n", u64::from(l <= hit + 1))).collect::<String>()));
    }
    (submission, facts)
}

const CASES: u64 = 400;

fn each_case(mut check: impl FnMut(u64, Submission, CodeFacts)) {
    for seed in 0..CASES {
        let (submission, facts) = case(&mut Rng(seed));
        check(seed, submission, facts);
    }
}

#[test]
fn the_score_is_the_weighted_sum_of_the_sub_scores_and_each_is_100_less_its_evidence() {
    let config = ReviewConfig::standard();
    each_case(|seed, submission, facts| {
        let review = review(&submission, &Analysis::Completed(facts), &config).unwrap();
        let weighted: f64 = review.sub_scores.iter().map(|s| s.score * s.weight).sum();
        assert!((review.score - weighted).abs() <= 0.01, "seed {seed}: {} against {weighted}", review.score);
        for sub in &review.sub_scores {
            let lost: f64 = review.evidence.iter().filter(|e| e.area == sub.area).map(|e| e.points).sum();
            assert!((sub.score - (100.0 - lost).clamp(0.0, 100.0)).abs() <= 0.005, "seed {seed}: {:?}", sub.area);
            assert!((0.0..=100.0).contains(&sub.score));
        }
        assert!(review.evidence.iter().all(|e| e.points > 0.0 && (e.rule.is_some() != e.metric.is_some())), "seed {seed}");
    });
}

#[test]
fn adding_a_critical_finding_never_raises_the_score() {
    let config = ReviewConfig::standard();
    each_case(|seed, submission, facts| {
        let before = review(&submission, &Analysis::Completed(facts.clone()), &config).unwrap();
        let mut worse = facts;
        let path = submission.files[0].path.clone();
        worse.findings.push(Finding {
            rule: "hardcoded-secret".into(),
            severity: Severity::Critical,
            path,
            line: 1,
            message: "an AWS access key".into(),
            suppressed: None,
        });
        let after = review(&submission, &Analysis::Completed(worse), &config).unwrap();
        assert!(after.score <= before.score, "seed {seed}: {} > {}", after.score, before.score);
        assert!(after.critical);
        assert_ne!(after.decision, reviewer_engine::Decision::Approve, "seed {seed}");
    });
}

#[test]
fn adding_a_passing_test_never_lowers_the_test_sub_score() {
    let config = ReviewConfig::standard();
    each_case(|seed, submission, facts| {
        let before = review(&submission, &Analysis::Completed(facts.clone()), &config).unwrap();
        let mut more = submission;
        let path = "tests/test_added.py".to_owned();
        more.files.push(SourceFile { path: path.clone(), content: "def test_added():\n    assert 1 + 1 == 2\n".into() });
        if let Some(changed) = more.changed_lines.as_mut() {
            changed.insert(path.clone(), vec![(1, 2)]);
        }
        let mut facts = facts;
        facts.files.push(FileFacts { path, language: Some("python".into()), test: true, lines: 2, functions: vec![] });
        let after = review(&more, &Analysis::Completed(facts), &config).unwrap();
        assert!(after.sub_score(Area::Tests) >= before.sub_score(Area::Tests), "seed {seed}");
    });
}

#[test]
fn the_decision_is_the_table_applied_to_the_reported_score_and_confidence() {
    let config = ReviewConfig::standard();
    let mut seen = std::collections::BTreeSet::new();
    each_case(|seed, submission, facts| {
        for analysis in [Analysis::Completed(facts.clone()), Analysis::Unavailable("timed out".into())] {
            let review = review(&submission, &analysis, &config).unwrap();
            assert_eq!(review.decision, decide(review.score, review.confidence, review.critical, config.min_confidence), "seed {seed}");
            assert!((0.0..=1.0).contains(&review.confidence));
            seen.insert(review.decision.as_str());
        }
    });
    // The generator reaches every row of the table, so the check is not vacuous.
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[test]
fn the_same_submission_always_gets_the_same_review_whatever_the_order_of_its_files() {
    let config = ReviewConfig::standard();
    each_case(|seed, submission, facts| {
        let first = review(&submission, &Analysis::Completed(facts.clone()), &config).unwrap();
        let mut shuffled = submission.clone();
        shuffled.files.reverse();
        let mut facts_shuffled = facts.clone();
        facts_shuffled.files.reverse();
        assert_eq!(review(&submission, &Analysis::Completed(facts), &config).unwrap(), first, "seed {seed}");
        assert_eq!(review(&shuffled, &Analysis::Completed(facts_shuffled), &config).unwrap().score, first.score, "seed {seed}");
    });
}

#[test]
fn remarks_are_within_budget_most_points_first_and_never_linter_style() {
    let mut config = ReviewConfig::standard();
    config.feedback_budget = 3;
    each_case(|seed, submission, facts| {
        let review = review(&submission, &Analysis::Completed(facts), &config).unwrap();
        assert!(review.remarks.len() <= 3, "seed {seed}");
        let eligible = review.evidence.iter().filter(|e| e.rule.as_ref().is_none_or(|r| !config.linter_owned.contains(r))).count();
        assert_eq!(review.remarks.len(), eligible.min(3), "seed {seed}");
        let points = |r: &reviewer_engine::Remark| {
            review.evidence.iter().find(|e| e.message == r.message && e.file == r.file && e.line == r.line).map(|e| e.points).unwrap()
        };
        let ranked: Vec<f64> = review.remarks.iter().map(points).collect();
        assert!(ranked.windows(2).all(|w| w[0] >= w[1]), "seed {seed}: {ranked:?}");
        assert!(review.remarks.iter().all(|r| !r.message.contains("print-call here") && !r.message.contains("missing-type-hints")), "seed {seed}");
    });
}
