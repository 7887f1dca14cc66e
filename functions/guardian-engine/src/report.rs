//! The formats: `text` (ruff-style, with the source line and a caret),
//! `json`, `sarif` (SARIF 2.1.0 as GitHub code scanning takes it) and
//! `github` (workflow annotations); and the metrics document.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::finding::{Finding, Severity, Suppressed};
use crate::review::Review;
use crate::rules;

pub const TOOL: &str = "guardian";
pub const FINGERPRINT_KEY: &str = "guardian/v1";

pub fn text(review: &Review) -> String {
    let mut out = String::new();
    for finding in review.counting() {
        let _ = writeln!(out, "{}:{}:{}: {} [{}] {}", finding.path, finding.line, finding.column, finding.rule, finding.severity, finding.message);
        if !finding.snippet.is_empty() {
            let number = finding.line.to_string();
            let pad = " ".repeat(number.len());
            let caret_at: String =
                finding.snippet.chars().take(finding.column.saturating_sub(1) as usize).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let _ = writeln!(out, "{pad} |\n{number} | {}\n{pad} | {caret_at}^", finding.snippet);
        }
    }
    let summary = &review.summary;
    let by: Vec<String> = Severity::ALL.iter().rev().filter_map(|s| summary.by_severity.get(s).map(|n| format!("{n} {s}"))).collect();
    let _ = write!(out, "{} finding{} in {} files", summary.findings, if summary.findings == 1 { "" } else { "s" }, summary.files);
    if !by.is_empty() {
        let _ = write!(out, " ({})", by.join(", "));
    }
    let _ = writeln!(out, "; {} suppressed, {} in the baseline.", summary.suppressed, summary.baselined);
    out
}

pub fn json(review: &Review) -> Value {
    let findings: Vec<&Finding> = review.findings().collect();
    json!({"findings": findings, "summary": review.summary})
}

fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

pub fn sarif(review: &Review) -> Value {
    let descriptors: Vec<Value> = rules::ALL
        .iter()
        .map(|rule| {
            let mut properties = json!({"tags": [format!("{:?}", rule.language).to_lowercase()], "severity": rule.severity});
            if let Some(ruff) = rule.ruff {
                properties["ruff"] = ruff.into();
            }
            json!({
                "id": rule.id,
                "name": rule.id,
                "shortDescription": {"text": rule.message},
                "fullDescription": {"text": rule.help},
                "help": {
                    "text": format!("{}\n\nGood:\n{}\n\nBad:\n{}", rule.help, rule.good, rule.bad),
                    "markdown": format!("{}\n\n**Good**\n```\n{}\n```\n\n**Bad**\n```\n{}\n```", rule.help, rule.good, rule.bad),
                },
                "defaultConfiguration": {"level": sarif_level(rule.severity)},
                "properties": properties,
            })
        })
        .collect();
    let results: Vec<Value> = review
        .findings()
        .map(|finding| {
            let index = rules::ALL.iter().position(|r| r.id == finding.rule).unwrap_or(0);
            let mut result = json!({
                "ruleId": finding.rule,
                "ruleIndex": index,
                "level": sarif_level(finding.severity),
                "message": {"text": finding.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": finding.path},
                    "region": {"startLine": finding.line.max(1), "startColumn": finding.column.max(1)},
                }}],
                "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
                "properties": {"severity": finding.severity},
            });
            match finding.suppressed {
                Some(Suppressed::InSource) => result["suppressions"] = json!([{"kind": "inSource"}]),
                Some(Suppressed::Baseline) => result["suppressions"] = json!([{"kind": "external", "justification": "in the baseline"}]),
                None => {}
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL,
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/hive/hive",
                "rules": descriptors,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

pub fn github(review: &Review) -> String {
    let mut out = String::new();
    for finding in review.counting() {
        let command = match finding.severity {
            Severity::Critical | Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "notice",
        };
        let _ = writeln!(
            out,
            "::{command} file={},line={},col={},title={}::{}",
            escape_property(&finding.path),
            finding.line,
            finding.column,
            escape_property(&finding.rule),
            escape_data(&finding.message)
        );
    }
    out
}

/// Per file: test or not, lines and each function's metrics; and totals.
pub fn metrics(review: &Review) -> Value {
    let mut total_functions = 0usize;
    let mut total_complexity = 0u64;
    let files: Vec<Value> = review
        .files
        .iter()
        .map(|file| {
            let complexity: u64 = file.functions.iter().map(|f| u64::from(f.complexity)).sum();
            total_functions += file.functions.len();
            total_complexity += complexity;
            json!({
                "path": file.path,
                "language": file.language,
                "test": file.is_test,
                "lines": file.lines,
                "functions": file.functions.iter().map(|f| {
                    let mut value = serde_json::to_value(f).unwrap_or(Value::Null);
                    value["path"] = file.path.clone().into();
                    value
                }).collect::<Vec<_>>(),
                "totals": {
                    "functions": file.functions.len(),
                    "complexity": complexity,
                    "max_complexity": file.functions.iter().map(|f| f.complexity).max().unwrap_or(0),
                    "public": file.functions.iter().filter(|f| f.public).count(),
                    "documented": file.functions.iter().filter(|f| f.documented).count(),
                },
            })
        })
        .collect();
    json!({
        "files": files,
        "totals": {
            "files": review.files.len(),
            "lines": review.summary.lines,
            "functions": total_functions,
            "complexity": total_complexity,
        },
    })
}

/// `hive guardian rules --json`.
pub fn rules_json() -> Value {
    serde_json::to_value(rules::ALL).unwrap_or(Value::Null)
}
