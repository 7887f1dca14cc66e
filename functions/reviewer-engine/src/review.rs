//! The judgement: five sub-scores, each 100 less the points of its
//! evidence, the overall score as their weighted sum, the confidence, the
//! decision and the rework remarks. Deterministic: the same submission and
//! facts give the same review, evidence in the same order.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{ReviewConfig, RuleKind};
use crate::coverage::{Coverage, CoverageError};
use crate::facts::{self, Analysis, CodeFacts, Severity, Submission};

/// The five sub-scores, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "ReviewArea")]
pub enum Area {
    CodeQuality,
    Tests,
    Security,
    Documentation,
    Architecture,
}

impl Area {
    pub const ALL: [Area; 5] = [Area::CodeQuality, Area::Tests, Area::Security, Area::Documentation, Area::Architecture];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::CodeQuality => "code_quality",
            Area::Tests => "tests",
            Area::Security => "security",
            Area::Documentation => "documentation",
            Area::Architecture => "architecture",
        }
    }

    pub fn weight(self, config: &ReviewConfig) -> f64 {
        let w = &config.weights;
        match self {
            Area::CodeQuality => w.code_quality,
            Area::Tests => w.tests,
            Area::Security => w.security,
            Area::Documentation => w.documentation,
            Area::Architecture => w.architecture,
        }
    }
}

/// One deduction: where, why (a Guardian rule or a metric), and how many points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ReviewEvidence")]
pub struct Evidence {
    pub area: Area,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// The Guardian rule, for a finding.
    pub rule: Option<String>,
    /// The metric (`complexity`, `function-length`, `no-tests`, …), otherwise.
    pub metric: Option<String>,
    pub severity: Option<Severity>,
    /// Points taken off the area's sub-score.
    pub points: f64,
    /// What is wrong and what to do, in one sentence.
    pub message: String,
}

/// Each area's sub-score (0–100) and weight.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ReviewSubScore")]
pub struct SubScore {
    pub area: Area,
    pub score: f64,
    pub weight: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "ReviewDecision")]
pub enum Decision {
    Approve,
    Rework,
    Escalate,
    Reject,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => "approve",
            Decision::Rework => "rework",
            Decision::Escalate => "escalate",
            Decision::Reject => "reject",
        }
    }
}

/// One rework remark, most important first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ReviewRemark")]
pub struct Remark {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub severity: Option<Severity>,
    pub message: String,
    /// `deterministic`, or `llm` for a remark of the narrative.
    pub source: String,
    /// How sure the remark is (1 for a deterministic one).
    pub confidence: f64,
}

/// The judgement of one submission.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ReviewJudgement")]
pub struct Review {
    pub score: f64,
    pub sub_scores: Vec<SubScore>,
    pub evidence: Vec<Evidence>,
    pub confidence: f64,
    /// Why the confidence is below 1.
    pub confidence_notes: Vec<String>,
    /// A critical security finding: the review never approves.
    pub critical: bool,
    pub decision: Decision,
    pub remarks: Vec<Remark>,
}

impl Review {
    pub fn sub_score(&self, area: Area) -> f64 {
        self.sub_scores.iter().find(|s| s.area == area).map_or(0.0, |s| s.score)
    }

    /// The rework feedback as text: one remark a line.
    pub fn feedback(&self) -> String {
        let lines: Vec<String> = self
            .remarks
            .iter()
            .map(|r| match (&r.file, r.line) {
                (Some(file), Some(line)) => format!("- {file}:{line}: {}", r.message),
                (Some(file), None) => format!("- {file}: {}", r.message),
                _ => format!("- {}", r.message),
            })
            .collect();
        lines.join("\n")
    }
}

/// The decision table: confidence below the minimum escalates; then ≥ 80
/// approves (unless a critical security finding: rework), 60–80 rework,
/// 40–60 escalate, below 40 reject.
pub fn decide(score: f64, confidence: f64, critical: bool, min_confidence: f64) -> Decision {
    if confidence < min_confidence {
        Decision::Escalate
    } else if score >= 80.0 {
        if critical { Decision::Rework } else { Decision::Approve }
    } else if score >= 60.0 {
        Decision::Rework
    } else if score >= 40.0 {
        Decision::Escalate
    } else {
        Decision::Reject
    }
}

/// radon's grade of a cyclomatic complexity.
pub fn grade(complexity: u32) -> char {
    match complexity {
        0..=5 => 'A',
        6..=10 => 'B',
        11..=20 => 'C',
        21..=30 => 'D',
        31..=40 => 'E',
        _ => 'F',
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Judges a submission on Guardian's facts. The only error is a coverage
/// report that does not parse.
pub fn review(submission: &Submission, analysis: &Analysis, config: &ReviewConfig) -> Result<Review, CoverageError> {
    let coverage = submission.coverage.as_deref().map(Coverage::parse).transpose()?;
    let empty = CodeFacts::default();
    let facts = match analysis {
        Analysis::Completed(facts) => facts,
        Analysis::Unavailable(_) => &empty,
    };
    let files = Files::new(submission, facts);
    let mut evidence = Vec::new();
    code_quality(&files, facts, config, &mut evidence);
    findings(facts, config, &mut evidence);
    documentation(&files, &mut evidence);
    let mut notes = Vec::new();
    tests(&files, coverage.as_ref(), config, &mut evidence, &mut notes);
    evidence.sort_by(|a, b| {
        (a.area, &a.file, a.line, &a.rule, &a.metric)
            .cmp(&(b.area, &b.file, b.line, &b.rule, &b.metric))
            .then(b.points.total_cmp(&a.points))
    });
    let sub_scores: Vec<SubScore> = Area::ALL
        .iter()
        .map(|&area| {
            let lost: f64 = evidence.iter().filter(|e| e.area == area).map(|e| e.points).sum();
            SubScore { area, score: round2((100.0 - lost).clamp(0.0, 100.0)), weight: area.weight(config) }
        })
        .collect();
    let score = round2(sub_scores.iter().map(|s| s.score * s.weight).sum());
    let confidence = confidence(&files, facts, analysis, &mut notes);
    let critical = facts.counting().any(|f| f.severity == Severity::Critical && config.kind(&f.rule) == RuleKind::Security);
    let decision = decide(score, confidence, critical, config.min_confidence);
    let remarks = remarks(&evidence, config);
    Ok(Review { score, sub_scores, evidence, confidence, confidence_notes: notes, critical, decision, remarks })
}

/// One submitted file with what is known of it.
struct FileView<'a> {
    path: &'a str,
    content: &'a str,
    test: bool,
    tests: usize,
    changed: bool,
    language: Option<&'a str>,
}

struct Files<'a> {
    files: Vec<FileView<'a>>,
    guardian: BTreeMap<&'a str, &'a facts::FileFacts>,
    submission: &'a Submission,
}

impl<'a> Files<'a> {
    fn new(submission: &'a Submission, facts: &'a CodeFacts) -> Files<'a> {
        let guardian: BTreeMap<&str, &facts::FileFacts> = facts.files.iter().map(|f| (f.path.as_str(), f)).collect();
        let mut files: Vec<FileView> = submission
            .files
            .iter()
            .map(|file| {
                let known = guardian.get(file.path.as_str());
                let tests = facts::test_functions(&file.path, &file.content);
                let language = match known {
                    Some(known) => known.language.as_deref(),
                    None => language_of(&file.path),
                };
                FileView {
                    path: &file.path,
                    content: &file.content,
                    test: known.map_or_else(|| is_test_path(&file.path), |k| k.test),
                    tests,
                    changed: submission.changed(&file.path),
                    language,
                }
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(b.path));
        Files { files, guardian, submission }
    }

    /// Public, top-level functions of code (not test) files, test functions aside.
    fn public_functions(&self) -> impl Iterator<Item = (&'a str, &'a facts::FunctionFacts)> + '_ {
        self.files.iter().filter(|f| !f.test).flat_map(move |file| {
            self.guardian
                .get(file.path)
                .into_iter()
                .flat_map(|g| g.functions.iter())
                .filter(|f| f.public && !f.nested && !f.name.starts_with("test"))
                .map(move |f| (file.path, f))
        })
    }

    /// The functions of code files whose lines changed.
    fn changed_functions(&self) -> impl Iterator<Item = (&'a str, &'a facts::FunctionFacts)> + '_ {
        self.files.iter().filter(|f| !f.test).flat_map(move |file| {
            self.guardian
                .get(file.path)
                .into_iter()
                .flat_map(|g| g.functions.iter())
                .filter(move |f| self.submission.touched(file.path, f.line, f.line + f.length.saturating_sub(1)))
                .map(move |f| (file.path, f))
        })
    }
}

fn language_of(path: &str) -> Option<&'static str> {
    if path.ends_with(".py") || path.ends_with(".pyi") {
        Some("python")
    } else if path.ends_with(".rs") {
        Some("rust")
    } else {
        None
    }
}

/// Guardian's test-path convention, for files it did not report on.
fn is_test_path(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    path.split('/').any(|s| matches!(s, "tests" | "test" | "benches"))
        || (file.starts_with("test_") && file.ends_with(".py"))
        || file.ends_with("_test.py")
        || file == "conftest.py"
        || file == "tests.rs"
}

fn code_quality(files: &Files, facts: &CodeFacts, config: &ReviewConfig, evidence: &mut Vec<Evidence>) {
    let grades = &config.complexity_points;
    for (path, function) in files.changed_functions() {
        let grade = grade(function.complexity);
        let points = match grade {
            'A' => grades.a,
            'B' => grades.b,
            'C' => grades.c,
            'D' => grades.d,
            'E' => grades.e,
            _ => grades.f,
        };
        if points > 0.0 {
            evidence.push(Evidence {
                area: Area::CodeQuality,
                file: Some(path.to_owned()),
                line: Some(function.line),
                rule: None,
                metric: Some("complexity".into()),
                severity: None,
                points,
                message: format!(
                    "`{}` has cyclomatic complexity {} (grade {grade}); split it into smaller functions",
                    function.qualified_name, function.complexity
                ),
            });
        }
        if function.length > config.max_function_lines {
            let over = function.length - config.max_function_lines;
            let points = (f64::from(over) / 10.0 * config.length_points_per_10_lines).min(config.length_points_cap);
            evidence.push(Evidence {
                area: Area::CodeQuality,
                file: Some(path.to_owned()),
                line: Some(function.line),
                rule: None,
                metric: Some("function-length".into()),
                severity: None,
                points,
                message: format!(
                    "`{}` is {} lines long, over {}; extract its steps into functions",
                    function.qualified_name, function.length, config.max_function_lines
                ),
            });
        }
    }
    let lines: usize = files.guardian.values().map(|f| f.lines).sum();
    let kloc = (lines as f64 / 1000.0).max(1.0);
    for finding in facts.counting().filter(|f| config.kind(&f.rule) == RuleKind::Lint) {
        evidence.push(Evidence {
            area: Area::CodeQuality,
            file: Some(finding.path.clone()),
            line: Some(finding.line),
            rule: Some(finding.rule.clone()),
            metric: None,
            severity: Some(finding.severity),
            points: config.lint_points_per_kloc / kloc,
            message: finding.message.clone(),
        });
    }
}

fn findings(facts: &CodeFacts, config: &ReviewConfig, evidence: &mut Vec<Evidence>) {
    for finding in facts.counting() {
        let (area, points) = match config.kind(&finding.rule) {
            RuleKind::Security => (Area::Security, config.security_points.of(finding.severity)),
            RuleKind::Architecture => (Area::Architecture, config.architecture_points.of(finding.severity)),
            RuleKind::Lint => continue,
        };
        evidence.push(Evidence {
            area,
            file: Some(finding.path.clone()),
            line: Some(finding.line),
            rule: Some(finding.rule.clone()),
            metric: None,
            severity: Some(finding.severity),
            points,
            message: finding.message.clone(),
        });
    }
}

fn documentation(files: &Files, evidence: &mut Vec<Evidence>) {
    let changed = |path: &str, first: u32, last: u32| files.submission.touched(path, first, last);
    let mut items: Vec<(&str, u32, String, bool)> = files
        .public_functions()
        .filter(|(path, f)| changed(path, f.line, f.line + f.length.saturating_sub(1)))
        .map(|(path, f)| (path, f.line, format!("function `{}`", f.qualified_name), f.documented))
        .collect();
    for file in files.files.iter().filter(|f| !f.test) {
        for t in facts::public_types(file.path, file.content).into_iter().filter(|t| changed(file.path, t.line, t.line)) {
            items.push((file.path, t.line, format!("type `{}`", t.name), t.documented));
        }
    }
    if items.is_empty() {
        return;
    }
    let each = 100.0 / items.len() as f64;
    for (path, line, what, documented) in items {
        if !documented {
            evidence.push(Evidence {
                area: Area::Documentation,
                file: Some(path.to_owned()),
                line: Some(line),
                rule: None,
                metric: Some("undocumented".into()),
                severity: None,
                points: each,
                message: format!("the public {what} has no documentation; say what it is for"),
            });
        }
    }
}

fn metric(area: Area, metric: &str, points: f64, message: String) -> Evidence {
    Evidence { area, file: None, line: None, rule: None, metric: Some(metric.into()), severity: None, points, message }
}

fn tests(
    files: &Files,
    coverage: Option<&Coverage>,
    config: &ReviewConfig,
    evidence: &mut Vec<Evidence>,
    notes: &mut Vec<String>,
) {
    let tests: usize = files.files.iter().map(|f| f.tests).sum();
    let bears_tests = |f: &FileView| f.test || f.tests > 0;
    if tests == 0 {
        evidence.push(metric(Area::Tests, "no-tests", config.no_tests_points, "the submission has no tests; add tests for its behaviour".into()));
    }
    let code_changed = files.files.iter().any(|f| !bears_tests(f) && f.language.is_some() && f.changed);
    let tests_changed = files.files.iter().any(|f| bears_tests(f) && f.changed);
    if code_changed && !tests_changed {
        evidence.push(metric(
            Area::Tests,
            "untested-change",
            config.untested_change_points,
            "code changed but no test changed with it; add or update the tests of the changed code".into(),
        ));
    }
    let public = files.public_functions().count();
    if public > 0 {
        let ratio = tests as f64 / public as f64;
        let shortfall = 1.0 - (ratio / config.tests_per_public_function).min(1.0);
        if shortfall > 0.0 {
            evidence.push(metric(
                Area::Tests,
                "tests-per-public-function",
                shortfall * config.test_ratio_points,
                format!(
                    "{tests} test functions for {public} public functions (target {} each); test the public functions",
                    config.tests_per_public_function
                ),
            ));
        }
    }
    if let Some(coverage) = coverage {
        let code: Vec<&str> = files.files.iter().filter(|f| !f.test && f.language.is_some()).map(|f| f.path).collect();
        let (hit, found) = coverage.of(&code);
        if found == 0 {
            notes.push("the coverage report covers none of the submitted code files".into());
        } else {
            let rate = hit as f64 / found as f64;
            let shortfall = (config.coverage_target - rate).max(0.0) / config.coverage_target.max(f64::EPSILON);
            if shortfall > 0.0 {
                evidence.push(metric(
                    Area::Tests,
                    "line-coverage",
                    shortfall * config.coverage_points,
                    format!(
                        "line coverage is {:.1}% ({hit} of {found} lines), under the {:.0}% target; test the uncovered lines",
                        rate * 100.0,
                        config.coverage_target * 100.0
                    ),
                ));
            }
        }
    }
}

fn confidence(files: &Files, facts: &CodeFacts, analysis: &Analysis, notes: &mut Vec<String>) -> f64 {
    let mut confidence: f64 = 1.0;
    if let Analysis::Unavailable(reason) = analysis {
        confidence -= 0.5;
        notes.push(format!("Guardian's analysis is missing: {reason}"));
    }
    let code: Vec<&FileView> = files.files.iter().filter(|f| !facts::is_prose_or_data(f.path, f.content)).collect();
    let unparsed = |f: &FileView| f.language.is_none() || facts.counting().any(|x| x.rule == "parse-error" && x.path == f.path);
    let unread = code.iter().filter(|f| unparsed(f)).count();
    if code.is_empty() {
        confidence -= 0.5;
        notes.push("the submission has no code Guardian reads".into());
    } else if unread > 0 {
        confidence -= 0.5 * unread as f64 / code.len() as f64;
        notes.push(format!("{unread} of {} code files are in a language Guardian cannot parse, or did not parse", code.len()));
    }
    if files.files.iter().all(|f| f.tests == 0) {
        confidence -= 0.2;
        notes.push("no tests anywhere".into());
    }
    round2(confidence.clamp(0.0, 1.0))
}

/// The evidence as remarks: most points first, style a linter owns left
/// out, at most the budget.
fn remarks(evidence: &[Evidence], config: &ReviewConfig) -> Vec<Remark> {
    let mut ranked: Vec<&Evidence> =
        evidence.iter().filter(|e| e.rule.as_ref().is_none_or(|r| !config.linter_owned.contains(r))).collect();
    ranked.sort_by(|a, b| b.points.total_cmp(&a.points).then(b.severity.cmp(&a.severity)).then((&a.file, a.line).cmp(&(&b.file, b.line))));
    ranked
        .into_iter()
        .take(config.feedback_budget)
        .map(|e| Remark {
            file: e.file.clone(),
            line: e.line,
            severity: e.severity,
            message: e.message.clone(),
            source: "deterministic".into(),
            confidence: 1.0,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radon_grades() {
        let grades: String = [1, 5, 6, 10, 11, 20, 21, 30, 31, 40, 41, 200].map(grade).iter().collect();
        assert_eq!(grades, "AABBCCDDEEFF");
    }

    #[test]
    fn the_decision_table() {
        let cases = [
            (80.0, 1.0, false, Decision::Approve),
            (79.99, 1.0, false, Decision::Rework),
            (60.0, 1.0, false, Decision::Rework),
            (59.99, 1.0, false, Decision::Escalate),
            (40.0, 1.0, false, Decision::Escalate),
            (39.99, 1.0, false, Decision::Reject),
            (100.0, 1.0, true, Decision::Rework),
            (100.0, 0.69, false, Decision::Escalate),
            (10.0, 0.5, false, Decision::Escalate),
            (95.0, 0.7, false, Decision::Approve),
        ];
        for (score, confidence, critical, expected) in cases {
            assert_eq!(decide(score, confidence, critical, 0.7), expected, "{score} {confidence} {critical}");
        }
    }
}
