//! One file through Guardian: decode, guard, parse once, run every enabled
//! rule on the one tree, apply the suppressions, locate and fingerprint.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::finding::{Finding, Severity, Suppressed, fnv1a};
use crate::rules::{self, Context, Rule, Sink, meta};
use crate::suppress;
use crate::syntax::{self, Comment, Function, python, rust};

/// Everything Guardian learnt about one file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileReport {
    pub path: String,
    pub language: Option<SourceLanguage>,
    pub lines: usize,
    pub is_test: bool,
    /// Findings, suppressed ones included (marked).
    pub findings: Vec<Finding>,
    pub functions: Vec<FunctionMetrics>,
    /// Python: the modules this file imports, absolute (relative imports
    /// resolved against the file's package). Rust: its `use` paths.
    pub imports: Vec<(String, u32)>,
}

/// The languages Guardian reads, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceLanguage {
    Python,
    Rust,
}

impl SourceLanguage {
    pub fn of(path: &str) -> Option<SourceLanguage> {
        if path.ends_with(".py") || path.ends_with(".pyi") {
            Some(SourceLanguage::Python)
        } else if path.ends_with(".rs") {
            Some(SourceLanguage::Rust)
        } else {
            None
        }
    }
}

/// One function's metrics, for the Reviewer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionMetrics {
    pub name: String,
    pub qualified_name: String,
    pub line: u32,
    pub length: u32,
    pub complexity: u32,
    pub public: bool,
    pub documented: bool,
    pub method: bool,
    pub nested: bool,
}

impl From<&Function> for FunctionMetrics {
    fn from(f: &Function) -> FunctionMetrics {
        FunctionMetrics {
            name: f.name.clone(),
            qualified_name: f.qualified_name.clone(),
            line: f.line,
            length: f.end_line.saturating_sub(f.line) + 1,
            complexity: f.complexity,
            public: f.public,
            documented: f.documented,
            method: f.method,
            nested: f.nested,
        }
    }
}

/// Whether a path is test code: `tests/` or `test/` folders, `benches/`,
/// `test_*.py`, `*_test.py`, `conftest.py`, and Rust's `tests.rs` (a
/// `#[cfg(test)] mod tests;` file).
pub fn is_test_path(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    path.split('/').any(|segment| matches!(segment, "tests" | "test" | "benches"))
        || (file.starts_with("test_") && file.ends_with(".py"))
        || file.ends_with("_test.py")
        || file == "conftest.py"
        || file == "tests.rs"
}

/// Rust binaries and build scripts, which may print and panic.
pub fn is_binary_path(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    file == "main.rs" || file == "build.rs" || path.contains("/src/bin/") || path.starts_with("src/bin/") || path.contains("/examples/")
}

/// Analyses one file with the rules at or above `level`.
pub fn analyse(path: &str, bytes: &[u8], config: &Config, level: Severity) -> FileReport {
    let language = SourceLanguage::of(path);
    let is_test = is_test_path(path);
    let mut report =
        FileReport { path: path.to_owned(), language, lines: 0, is_test, findings: Vec::new(), functions: Vec::new(), imports: Vec::new() };
    let Some(language) = language else { return report };
    let enabled = |rule: &Rule| config.severity(rule, path).filter(|s| *s >= level);
    let parse_error = |report: &mut FileReport, line: u32, column: u32, message: String| {
        if let Some(severity) = enabled(&meta::PARSE_ERROR) {
            report.findings.push(raw(&meta::PARSE_ERROR, severity, path, line, column, message));
        }
    };
    if bytes.len() > config.settings.max_file_bytes {
        let message = format!("the file is {} bytes, over the {} byte limit; it was not parsed", bytes.len(), config.settings.max_file_bytes);
        parse_error(&mut report, 1, 1, message);
        return report;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => {
            let line = syntax::utf8_error_line(bytes, &error);
            parse_error(&mut report, line, 1, format!("the file is not UTF-8 (invalid byte at offset {})", error.valid_up_to()));
            return report;
        }
    };
    report.lines = syntax::line_count(text);
    // The guards' exact scans run only where their cheap bounds say they
    // could trip; the line index only where one did.
    let (operators, deepest) = syntax::guard_bounds(text);
    let (depth, offset) = if deepest > syntax::MAX_BRACKET_DEPTH { syntax::bracket_depth(text) } else { (0, 0) };
    if depth > syntax::MAX_BRACKET_DEPTH {
        let (line, column) = syntax::LineIndex::new(text).position(offset);
        let message = format!("brackets nest {depth} deep, over the limit of {}; the file was not parsed", syntax::MAX_BRACKET_DEPTH);
        parse_error(&mut report, line, column, message);
        return report;
    }
    let comment: &[u8] = if language == SourceLanguage::Python { b"#" } else { b"//" };
    let (chain, offset) =
        if operators > syntax::MAX_OPERATOR_CHAIN { syntax::longest_operator_chain(text, comment) } else { (0, 0) };
    if chain > syntax::MAX_OPERATOR_CHAIN {
        let (line, column) = syntax::LineIndex::new(text).position(offset);
        let message = format!("one expression chains {chain} operators, over the limit of {}; the file was not parsed", syntax::MAX_OPERATOR_CHAIN);
        parse_error(&mut report, line, column, message);
        return report;
    }
    let context = Context { path, is_test, is_binary: is_binary_path(path), settings: &config.settings };
    let mut hits: Vec<(&'static Rule, Severity, rules::Hit)> = Vec::new();
    let mut run = |rule: &'static Rule, check: &dyn Fn(&mut Sink)| {
        if let Some(severity) = enabled(rule) {
            let mut sink = Sink::default();
            check(&mut sink);
            hits.extend(sink.hits.into_iter().map(|hit| (rule, severity, hit)));
        }
    };
    let comments: Vec<Comment>;
    let errors: Vec<syntax::SyntaxError>;
    match language {
        SourceLanguage::Python => {
            let module = python::parse(text);
            for rule in rules::ALL {
                if let Some(check) = rule.python {
                    run(rule, &|sink| check(&module, &context, sink));
                }
            }
            report.functions = module.functions.iter().map(FunctionMetrics::from).collect();
            report.imports = python_imports(path, &module);
            comments = module.comments;
            errors = module.errors;
        }
        SourceLanguage::Rust => {
            let file = rust::parse(text);
            for rule in rules::ALL {
                if let Some(check) = rule.rust {
                    run(rule, &|sink| check(&file, &context, sink));
                }
            }
            report.functions = file.functions.iter().map(FunctionMetrics::from).collect();
            report.imports = file.uses.iter().map(|u| (u.name.clone(), u.line)).collect();
            comments = file.comments;
            errors = file.errors;
        }
    }
    if let Some(first) = errors.first() {
        let more = if errors.len() > 1 { format!(" (and {} more)", errors.len() - 1) } else { String::new() };
        parse_error(&mut report, first.line, first.column, format!("syntax error: {}{more}", first.message));
    }
    for (rule, severity, hit) in hits {
        report.findings.push(raw(rule, severity, path, hit.line, hit.column, hit.message));
    }
    apply_suppressions(&mut report, &comments, text, config, level);
    finish(&mut report, text);
    report
}

fn raw(rule: &Rule, severity: Severity, path: &str, line: u32, column: u32, message: String) -> Finding {
    Finding {
        rule: rule.id.to_owned(),
        severity,
        path: path.to_owned(),
        line,
        column,
        message,
        snippet: String::new(),
        fingerprint: String::new(),
        suppressed: None,
    }
}

fn first_code_line(text: &str) -> u32 {
    text.lines()
        .position(|line| {
            let line = line.trim();
            !(line.is_empty() || line.starts_with('#') || line.starts_with("//"))
        })
        .map_or(u32::MAX, |i| i as u32 + 1)
}

fn apply_suppressions(report: &mut FileReport, comments: &[Comment], text: &str, config: &Config, level: Severity) {
    let parsed = suppress::parse(comments, first_code_line(text));
    let mut used = vec![false; parsed.suppressions.len()];
    for finding in &mut report.findings {
        for (i, suppression) in parsed.suppressions.iter().enumerate() {
            if suppression.rule == finding.rule && suppression.target.is_none_or(|line| line == finding.line) {
                used[i] = true;
                finding.suppressed = Some(Suppressed::InSource);
            }
        }
    }
    let path = report.path.clone();
    if let Some(severity) = config.severity(&meta::INVALID_SUPPRESSION, &path).filter(|s| *s >= level) {
        for (line, message) in parsed.invalid {
            report.findings.push(raw(&meta::INVALID_SUPPRESSION, severity, &path, line, 1, message));
        }
    }
    if let Some(severity) = config.severity(&meta::UNUSED_SUPPRESSION, &path).filter(|s| *s >= level) {
        for (suppression, used) in parsed.suppressions.iter().zip(used) {
            // Only a rule that ran can leave its suppression unused.
            let ran = rules::find(&suppression.rule).and_then(|r| config.severity(r, &path)).is_some_and(|s| s >= level);
            if !used && ran {
                let message = format!("`ignore[{}]` matched no finding; delete it", suppression.rule);
                report.findings.push(raw(&meta::UNUSED_SUPPRESSION, severity, &path, suppression.line, 1, message));
            }
        }
    }
}

/// Sorts, adds the source line and the fingerprint.
fn finish(report: &mut FileReport, text: &str) {
    if report.findings.is_empty() {
        return;
    }
    let lines: Vec<&str> = text.lines().collect();
    report.findings.sort_by(|a, b| (a.line, a.column, &a.rule).cmp(&(b.line, b.column, &b.rule)));
    let mut seen: HashMap<(String, String), u32> = HashMap::new();
    for finding in &mut report.findings {
        finding.snippet = lines.get(finding.line.saturating_sub(1) as usize).map(|l| l.to_string()).unwrap_or_default();
        let normalised = finding.snippet.trim().to_owned();
        let occurrence = seen.entry((finding.rule.clone(), normalised.clone())).or_insert(0);
        *occurrence += 1;
        let hash = fnv1a(&[&finding.rule, &finding.path, &normalised, &occurrence.to_string()]);
        finding.fingerprint = format!("{hash:016x}");
    }
}

/// The absolute module names a Python file imports.
fn python_imports(path: &str, module: &python::Module) -> Vec<(String, u32)> {
    let package: Vec<&str> = {
        let mut parts: Vec<&str> = path.trim_end_matches(".pyi").trim_end_matches(".py").split('/').collect();
        parts.pop();
        parts
    };
    let mut imports = Vec::new();
    for import in &module.imports {
        let base = if import.level == 0 {
            import.module.clone()
        } else {
            let keep = package.len().saturating_sub(import.level as usize - 1);
            let mut parts: Vec<&str> = package[..keep].to_vec();
            if !import.module.is_empty() {
                parts.push(&import.module);
            }
            parts.join(".")
        };
        if import.from && !import.star {
            for name in &import.names {
                imports.push((if base.is_empty() { name.clone() } else { format!("{base}.{name}") }, import.at.line));
            }
        } else {
            imports.push((base, import.at.line));
        }
    }
    imports
}
