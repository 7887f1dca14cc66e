//! One thing changed at a time on a small module: what each fact does to
//! the review.

use expect_test::expect;
use reviewer_engine::facts::{FileFacts, Finding, FunctionFacts};
use reviewer_engine::{Analysis, Area, CodeFacts, Decision, ReviewConfig, Severity, SourceFile, Submission, markdown, review};

const MODULE: &str = "\"\"\"Prices.\"\"\"\n\n\ndef total(items):\n    \"\"\"The sum of the items' prices.\"\"\"\n    return sum(i.price for i in items)\n";
const TESTS: &str = "from prices import total\n\n\ndef test_total_of_nothing_is_zero():\n    assert total([]) == 0\n";

fn module() -> (Submission, CodeFacts) {
    let submission = Submission {
        files: vec![
            SourceFile { path: "prices.py".into(), content: MODULE.into() },
            SourceFile { path: "tests/test_prices.py".into(), content: TESTS.into() },
        ],
        changed_lines: None,
        coverage: None,
    };
    let function = FunctionFacts {
        name: "total".into(),
        qualified_name: "total".into(),
        line: 4,
        length: 3,
        complexity: 2,
        public: true,
        documented: true,
        nested: false,
    };
    let facts = CodeFacts {
        findings: vec![],
        files: vec![
            FileFacts { path: "prices.py".into(), language: Some("python".into()), test: false, lines: 6, functions: vec![function] },
            FileFacts { path: "tests/test_prices.py".into(), language: Some("python".into()), test: true, lines: 5, functions: vec![] },
        ],
    };
    (submission, facts)
}

#[test]
fn a_clean_documented_tested_module_scores_100_and_is_approved_with_nothing_to_say() {
    let (submission, facts) = module();
    let review = review(&submission, &Analysis::Completed(facts), &ReviewConfig::standard()).unwrap();
    assert_eq!((review.score, review.confidence, review.decision), (100.0, 1.0, Decision::Approve));
    assert!(review.evidence.is_empty() && review.remarks.is_empty());
}

#[test]
fn guardian_missing_escalates_with_the_reason() {
    let (submission, _) = module();
    let review = review(&submission, &Analysis::Unavailable("no answer within 300 s".into()), &ReviewConfig::standard()).unwrap();
    assert_eq!(review.decision, Decision::Escalate);
    assert_eq!(review.confidence, 0.5);
    assert!(review.confidence_notes[0].contains("no answer within 300 s"));
}

#[test]
fn a_language_guardian_cannot_parse_lowers_the_confidence_but_prose_does_not() {
    let (mut submission, mut facts) = module();
    submission.files.push(SourceFile { path: "README.md".into(), content: "# Prices\n".into() });
    let review_with_readme = review(&submission, &Analysis::Completed(facts.clone()), &ReviewConfig::standard()).unwrap();
    assert_eq!(review_with_readme.confidence, 1.0);
    for (path, content) in [("web/a.js", "export const a = 1;\n"), ("web/b.go", "package b\n")] {
        submission.files.push(SourceFile { path: path.into(), content: content.into() });
        facts.files.push(FileFacts { path: path.into(), language: None, test: false, lines: 1, functions: vec![] });
    }
    let review = review(&submission, &Analysis::Completed(facts), &ReviewConfig::standard()).unwrap();
    assert_eq!(review.confidence, 0.75, "{:?}", review.confidence_notes);
    assert_eq!(review.decision, Decision::Approve);
}

#[test]
fn coverage_under_the_target_costs_points_in_proportion_and_a_bad_report_is_an_error() {
    let (mut submission, facts) = module();
    submission.coverage = Some("SF:/repo/prices.py\nDA:4,1\nDA:5,1\nDA:6,0\nDA:7,0\nend_of_record\n".into());
    let review = review(&submission, &Analysis::Completed(facts.clone()), &ReviewConfig::standard()).unwrap();
    // 50 % against the 80 % target: 3/8 of the 30 coverage points.
    assert_eq!(review.sub_score(Area::Tests), 88.75);
    assert_eq!(review.evidence[0].metric.as_deref(), Some("line-coverage"));
    submission.coverage = Some("SF:prices.py\nDA:four,1\n".into());
    let error = reviewer_engine::review(&submission, &Analysis::Completed(facts), &ReviewConfig::standard()).unwrap_err();
    assert_eq!(error.line, 2);
}

#[test]
fn an_eval_is_critical_and_the_markdown_says_so() {
    let (submission, mut facts) = module();
    facts.findings.push(Finding {
        rule: "eval-usage".into(),
        severity: Severity::Critical,
        path: "prices.py".into(),
        line: 6,
        message: "`eval` runs arbitrary code; parse the input instead".into(),
        suppressed: None,
    });
    facts.findings.push(Finding {
        rule: "print-call".into(),
        severity: Severity::Warning,
        path: "prices.py".into(),
        line: 5,
        message: "`print` in library code".into(),
        suppressed: None,
    });
    let review = review(&submission, &Analysis::Completed(facts), &ReviewConfig::standard()).unwrap();
    assert_eq!(review.decision, Decision::Rework);
    assert_eq!(review.remarks.len(), 1, "the print is a linter's business");
    expect![[r#"
        ## Review: prices

        **🔁 Rework requested**: score **90.50**/100, confidence 1.00.

        > A critical security finding blocks approval.

        | area | score | weight |
        | --- | ---: | ---: |
        | code quality | 95.00 | 0.30 |
        | tests | 100.00 | 0.25 |
        | security | 60.00 | 0.20 |
        | documentation | 100.00 | 0.15 |
        | architecture | 100.00 | 0.10 |

        ### What to change

        1. `prices.py:6` `eval` runs arbitrary code; parse the input instead

        <details><summary>Evidence (2 items)</summary>

        | area | where | rule or metric | points | detail |
        | --- | --- | --- | ---: | --- |
        | code_quality | `prices.py:5` | `print-call` | 5.00 | `print` in library code |
        | security | `prices.py:6` | `eval-usage` | 40.00 | `eval` runs arbitrary code; parse the input instead |

        </details>
    "#]]
    .assert_eq(&markdown::render("prices", &review, None));
}

#[test]
fn untested_changes_and_missing_tests_are_their_own_evidence() {
    let (mut submission, mut facts) = module();
    submission.files.retain(|f| f.path == "prices.py");
    facts.files.retain(|f| f.path == "prices.py");
    let review = review(&submission, &Analysis::Completed(facts), &ReviewConfig::standard()).unwrap();
    let metrics: Vec<&str> = review.evidence.iter().filter_map(|e| e.metric.as_deref()).collect();
    assert_eq!(metrics, ["no-tests", "tests-per-public-function", "untested-change"]);
    assert_eq!(review.sub_score(Area::Tests), 0.0);
    assert_eq!(review.confidence, 0.8);
    assert_eq!(review.remarks[0].message, "the submission has no tests; add tests for its behaviour");
}

#[test]
fn with_changed_lines_only_the_changed_functions_are_judged() {
    let (mut submission, mut facts) = module();
    let long = FunctionFacts {
        name: "legacy".into(),
        qualified_name: "legacy".into(),
        line: 10,
        length: 200,
        complexity: 35,
        public: true,
        documented: false,
        nested: false,
    };
    facts.files[0].functions.push(long);
    let judged = |submission: &Submission| {
        let review = review(submission, &Analysis::Completed(facts.clone()), &ReviewConfig::standard()).unwrap();
        let mut metrics: Vec<String> = review.evidence.iter().filter_map(|e| e.metric.clone()).collect();
        metrics.sort();
        metrics
    };
    assert_eq!(judged(&submission), ["complexity", "function-length", "tests-per-public-function", "undocumented"]);
    // Only `total` (lines 4–6) and the test changed: the old function is not this change's.
    submission.changed_lines = Some([("prices.py".to_owned(), vec![(4, 6)]), ("tests/test_prices.py".to_owned(), vec![(1, 5)])].into());
    // The test ratio still counts every public function: one test for two.
    assert_eq!(judged(&submission), ["tests-per-public-function"]);
    submission.changed_lines = Some([("prices.py".to_owned(), vec![(150, 151)]), ("tests/test_prices.py".to_owned(), vec![(1, 5)])].into());
    assert_eq!(judged(&submission), ["complexity", "function-length", "tests-per-public-function", "undocumented"]);
}
