//! What a review weighs and where its thresholds lie. [`ReviewConfig::standard`]
//! is the original platform's; a tenant's configuration is a JSON document
//! over it (every field optional), checked by [`ReviewConfig::validate`].

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::facts::Severity;

/// The five sub-scores' weights; they sum to 1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub code_quality: f64,
    pub tests: f64,
    pub security: f64,
    pub documentation: f64,
    pub architecture: f64,
}

/// How a Guardian rule counts: against security, architecture, or as a lint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Security,
    Architecture,
    Lint,
}

/// Points per finding, by severity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityPoints {
    pub critical: f64,
    pub error: f64,
    pub warning: f64,
    pub info: f64,
}

impl SeverityPoints {
    pub fn of(&self, severity: Severity) -> f64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::Error => self.error,
            Severity::Warning => self.warning,
            Severity::Info => self.info,
        }
    }
}

/// Points a function loses for its complexity, by radon's grade
/// (A 1–5, B 6–10, C 11–20, D 21–30, E 31–40, F 41 and more).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GradePoints {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub e: f64,
    pub f: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    pub weights: Weights,
    pub complexity_points: GradePoints,
    /// A function longer than this many lines loses points.
    pub max_function_lines: u32,
    /// Points per 10 lines over `max_function_lines`…
    pub length_points_per_10_lines: f64,
    /// …and at most this many per function.
    pub length_points_cap: f64,
    /// A lint finding costs this many points per thousand lines reviewed,
    /// so the deduction is the lint density times this (at least one KLOC).
    pub lint_points_per_kloc: f64,
    pub security_points: SeverityPoints,
    pub architecture_points: SeverityPoints,
    /// Rules that are neither lints nor the defaults' security and architecture ones.
    pub rule_kinds: BTreeMap<String, RuleKind>,
    /// Rules a linter owns (style): they count in the score but are never remarks.
    pub linter_owned: Vec<String>,
    /// No test anywhere in the submission.
    pub no_tests_points: f64,
    /// Code changed without a test changed with it.
    pub untested_change_points: f64,
    /// Test functions per public function that earn full marks…
    pub tests_per_public_function: f64,
    /// …and the points lost at none.
    pub test_ratio_points: f64,
    /// Line coverage that earns full marks (0–1), when a report is supplied…
    pub coverage_target: f64,
    /// …and the points lost at zero coverage.
    pub coverage_points: f64,
    /// At most this many rework remarks.
    pub feedback_budget: usize,
    /// Below this confidence the review escalates.
    pub min_confidence: f64,
    /// The language model's remarks below this confidence are dropped.
    pub llm_min_remark_confidence: f64,
}

#[derive(Debug, Error, PartialEq)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ReviewConfig {
    /// The original platform's weights and thresholds.
    pub fn standard() -> ReviewConfig {
        let kind = |ids: &[&str], kind: RuleKind| ids.iter().map(move |id| ((*id).to_owned(), kind)).collect::<Vec<_>>();
        let mut rule_kinds = BTreeMap::new();
        rule_kinds.extend(kind(
            &["hardcoded-secret", "eval-usage", "exec-usage", "pickle-load", "unsafe-code", "hardcoded-path"],
            RuleKind::Security,
        ));
        rule_kinds.extend(kind(
            &[
                "architecture-contract",
                "sys-path-manipulation",
                "env-manager-state",
                "global-config-accessor",
                "blocking-call-in-async",
                "env-outside-config",
            ],
            RuleKind::Architecture,
        ));
        ReviewConfig {
            weights: Weights { code_quality: 0.30, tests: 0.25, security: 0.20, documentation: 0.15, architecture: 0.10 },
            complexity_points: GradePoints { a: 0.0, b: 0.0, c: 3.0, d: 6.0, e: 10.0, f: 15.0 },
            max_function_lines: 60,
            length_points_per_10_lines: 2.0,
            length_points_cap: 30.0,
            lint_points_per_kloc: 5.0,
            security_points: SeverityPoints { critical: 40.0, error: 15.0, warning: 5.0, info: 1.0 },
            architecture_points: SeverityPoints { critical: 30.0, error: 15.0, warning: 5.0, info: 1.0 },
            rule_kinds,
            linter_owned: ["print-call", "wildcard-import", "missing-type-hints", "async-name-suffix", "rust-print", "unused-suppression"]
                .map(str::to_owned)
                .to_vec(),
            no_tests_points: 60.0,
            untested_change_points: 20.0,
            tests_per_public_function: 1.0,
            test_ratio_points: 30.0,
            coverage_target: 0.8,
            coverage_points: 30.0,
            feedback_budget: 10,
            min_confidence: 0.7,
            llm_min_remark_confidence: 0.8,
        }
    }

    /// The standard configuration with a tenant's JSON overrides merged in
    /// (objects merge key by key; other values replace).
    pub fn with_overrides(overrides: &serde_json::Value) -> Result<ReviewConfig, ConfigError> {
        let mut merged = serde_json::to_value(ReviewConfig::standard()).map_err(|e| invalid("config", e.to_string()))?;
        merge(&mut merged, overrides);
        // The path of a value of the wrong type or an unknown key names the field.
        let config: ReviewConfig = serde_path_to_error::deserialize(merged).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "config".to_owned() } else { path };
            ConfigError { field, message: e.into_inner().to_string() }
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn kind(&self, rule: &str) -> RuleKind {
        self.rule_kinds.get(rule).copied().unwrap_or(RuleKind::Lint)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let w = &self.weights;
        let weights = [w.code_quality, w.tests, w.security, w.documentation, w.architecture];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(invalid("weights", "every weight is a number of at least 0".into()));
        }
        if (weights.iter().sum::<f64>() - 1.0).abs() > 1e-9 {
            return Err(invalid("weights", format!("the weights sum to {}, not 1", weights.iter().sum::<f64>())));
        }
        let points = [
            ("length_points_per_10_lines", self.length_points_per_10_lines),
            ("length_points_cap", self.length_points_cap),
            ("lint_points_per_kloc", self.lint_points_per_kloc),
            ("no_tests_points", self.no_tests_points),
            ("untested_change_points", self.untested_change_points),
            ("test_ratio_points", self.test_ratio_points),
            ("coverage_points", self.coverage_points),
        ];
        for (field, value) in points {
            if !value.is_finite() || !(0.0..=100.0).contains(&value) {
                return Err(invalid(field, "between 0 and 100 points".into()));
            }
        }
        let unit = [
            ("coverage_target", self.coverage_target),
            ("min_confidence", self.min_confidence),
            ("llm_min_remark_confidence", self.llm_min_remark_confidence),
        ];
        for (field, value) in unit {
            if !value.is_finite() || !(0.0..=1.0).contains(&value) {
                return Err(invalid(field, "between 0 and 1".into()));
            }
        }
        if !self.tests_per_public_function.is_finite() || self.tests_per_public_function <= 0.0 {
            return Err(invalid("tests_per_public_function", "a number above 0".into()));
        }
        if self.max_function_lines == 0 {
            return Err(invalid("max_function_lines", "at least 1".into()));
        }
        Ok(())
    }
}

fn invalid(field: &str, message: String) -> ConfigError {
    ConfigError { field: field.to_owned(), message }
}

fn merge(base: &mut serde_json::Value, overrides: &serde_json::Value) {
    match (base, overrides) {
        (serde_json::Value::Object(base), serde_json::Value::Object(overrides)) => {
            for (key, value) in overrides {
                match base.get_mut(key) {
                    Some(slot) => merge(slot, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (slot, value) => *slot = value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_weights_are_the_original_platforms_and_valid() {
        let config = ReviewConfig::standard();
        assert_eq!(config.weights, Weights { code_quality: 0.30, tests: 0.25, security: 0.20, documentation: 0.15, architecture: 0.10 });
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn overrides_merge_and_are_checked() {
        let config = ReviewConfig::with_overrides(&serde_json::json!({"feedback_budget": 3, "rule_kinds": {"print-call": "security"}})).unwrap();
        assert_eq!(config.feedback_budget, 3);
        assert_eq!(config.kind("print-call"), RuleKind::Security);
        assert_eq!(config.kind("eval-usage"), RuleKind::Security);
        let error = ReviewConfig::with_overrides(&serde_json::json!({"weights": {"tests": 0.5}})).unwrap_err();
        assert_eq!(error.field, "weights");
        let error = ReviewConfig::with_overrides(&serde_json::json!({"min_confidence": 2})).unwrap_err();
        assert_eq!(error.field, "min_confidence");
        let error = ReviewConfig::with_overrides(&serde_json::json!({"nope": 1})).unwrap_err();
        assert_eq!(error.field, "nope");
        let error = ReviewConfig::with_overrides(&serde_json::json!({"weights": {"tests": "a lot"}})).unwrap_err();
        assert_eq!(error.field, "weights.tests");
    }
}
