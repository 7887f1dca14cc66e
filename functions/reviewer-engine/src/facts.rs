//! What a review is judged on: the [`Submission`] itself and Guardian's
//! [`CodeFacts`] about it (findings and per-function metrics), as Guardian's
//! review document states them; plus the light facts Guardian does not
//! report, extracted here from the source: public types and whether they
//! are documented, and test functions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The work to review.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub files: Vec<SourceFile>,
    /// Per path, inclusive `[first, last]` changed lines; `None`: every line changed.
    pub changed_lines: Option<BTreeMap<String, Vec<(u32, u32)>>>,
    /// An lcov or Cobertura report.
    pub coverage: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    pub path: String,
    pub content: String,
}

impl Submission {
    /// Whether a file changed: any of its lines are in `changed_lines`, or
    /// no changed lines were given.
    pub fn changed(&self, path: &str) -> bool {
        self.changed_lines.as_ref().is_none_or(|lines| lines.get(path).is_some_and(|ranges| !ranges.is_empty()))
    }

    /// Whether any of the lines `first..=last` of a file changed (all did
    /// when no changed lines were given): only changed code is judged on
    /// its complexity, length and documentation.
    pub fn touched(&self, path: &str, first: u32, last: u32) -> bool {
        self.changed_lines
            .as_ref()
            .is_none_or(|lines| lines.get(path).is_some_and(|ranges| ranges.iter().any(|(a, b)| *a <= last && first <= *b)))
    }
}

/// A finding's severity, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "ReviewSeverity")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// What Guardian said, or why it said nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum Analysis {
    Completed(CodeFacts),
    /// Guardian did not answer in time, or failed; the reason.
    Unavailable(String),
}

/// Guardian's facts: the `findings` and `metrics` of its review document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeFacts {
    pub findings: Vec<Finding>,
    pub files: Vec<FileFacts>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub path: String,
    pub line: u32,
    pub message: String,
    /// Suppressed in the source or by a baseline: it does not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    pub path: String,
    /// `python`, `rust`, or `None` for a language Guardian does not read.
    pub language: Option<String>,
    pub test: bool,
    pub lines: usize,
    pub functions: Vec<FunctionFacts>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionFacts {
    pub name: String,
    pub qualified_name: String,
    pub line: u32,
    pub length: u32,
    pub complexity: u32,
    pub public: bool,
    pub documented: bool,
    #[serde(default)]
    pub nested: bool,
}

#[derive(Debug, Error, PartialEq)]
#[error("Guardian's review document: {0}")]
pub struct FactsError(pub String);

impl CodeFacts {
    /// From Guardian's review document (`{"findings": [...], "metrics": {"files": [...]}}`).
    pub fn from_guardian_document(document: &serde_json::Value) -> Result<CodeFacts, FactsError> {
        let findings = serde_json::from_value(document.get("findings").cloned().unwrap_or_default())
            .map_err(|e| FactsError(format!("findings: {e}")))?;
        let files = serde_json::from_value(document.pointer("/metrics/files").cloned().unwrap_or_default())
            .map_err(|e| FactsError(format!("metrics.files: {e}")))?;
        Ok(CodeFacts { findings, files })
    }

    /// The findings that count.
    pub fn counting(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.suppressed.is_none())
    }
}

/// A public type (class, struct, enum, trait) and whether it is documented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeFact {
    pub name: String,
    pub line: u32,
    pub documented: bool,
}

/// Public types, by a line scan: Python top-level `class` not starting with
/// `_` (documented when its body opens with a string); Rust `pub struct`,
/// `enum`, `trait`, `type` and `union` (documented with `///` or `#[doc`
/// above, attributes in between allowed).
pub fn public_types(path: &str, content: &str) -> Vec<TypeFact> {
    let lines: Vec<&str> = content.lines().collect();
    let mut types = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let number = i as u32 + 1;
        if path.ends_with(".py") {
            let Some(rest) = line.strip_prefix("class ") else { continue };
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name.is_empty() || name.starts_with('_') {
                continue;
            }
            let body = lines[i + 1..].iter().map(|l| l.trim()).find(|l| !l.is_empty() && !l.starts_with('#'));
            let documented = body.is_some_and(|l| ["\"\"\"", "'''", "r\"\"\"", "\"", "'"].iter().any(|q| l.starts_with(q)));
            types.push(TypeFact { name, line: number, documented });
        } else if path.ends_with(".rs") {
            let trimmed = line.trim_start();
            let Some(rest) = trimmed.strip_prefix("pub ") else { continue };
            let Some(rest) = ["struct ", "enum ", "trait ", "type ", "union "].iter().find_map(|k| rest.strip_prefix(k)) else { continue };
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name.is_empty() {
                continue;
            }
            let above = lines[..i].iter().rev().map(|l| l.trim()).find(|l| !l.starts_with("#[") || l.starts_with("#[doc"));
            let documented = above.is_some_and(|l| l.starts_with("///") || l.starts_with("#[doc") || l.starts_with("/**"));
            types.push(TypeFact { name, line: number, documented });
        }
    }
    types
}

/// Test functions, by a line scan: Python `def test_*` (and `async def`);
/// Rust functions under `#[test]` or `#[<runtime>::test]`.
pub fn test_functions(path: &str, content: &str) -> usize {
    if path.ends_with(".py") {
        content
            .lines()
            .map(str::trim_start)
            .filter(|l| l.strip_prefix("async ").unwrap_or(l).starts_with("def test"))
            .count()
    } else if path.ends_with(".rs") {
        content
            .lines()
            .map(str::trim)
            .filter(|l| *l == "#[test]" || (l.starts_with("#[") && l.ends_with("::test]")) || l.starts_with("#[tokio::test("))
            .count()
    } else {
        0
    }
}

/// Files that are not code and never lower confidence for being unread:
/// prose and data by extension, and files without one unless they start
/// with a `#!` line (a script).
pub fn is_prose_or_data(path: &str, content: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    let extension = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).filter(|_| !file.starts_with('.'));
    match extension {
        None => !content.starts_with("#!"),
        Some(e) => matches!(
            e.as_str(),
            "md" | "txt" | "rst" | "toml" | "json" | "yaml" | "yml" | "lock" | "cfg" | "ini" | "csv" | "gitignore" | "svg" | "xml" | "html" | "css"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_classes_and_their_docstrings() {
        let source = "class Documented:\n    \"\"\"A thing.\"\"\"\n\nclass Bare:\n    x = 1\n\nclass _Private:\n    pass\n";
        let types = public_types("m.py", source);
        assert_eq!(
            types,
            vec![
                TypeFact { name: "Documented".into(), line: 1, documented: true },
                TypeFact { name: "Bare".into(), line: 4, documented: false },
            ]
        );
    }

    #[test]
    fn rust_types_with_doc_comments_above_their_attributes() {
        let source = "/// Documented.\n#[derive(Debug)]\npub struct A;\n\n#[derive(Debug)]\npub enum B { X }\nstruct Private;\n";
        let types = public_types("lib.rs", source);
        assert_eq!(types.iter().map(|t| (t.name.as_str(), t.documented)).collect::<Vec<_>>(), vec![("A", true), ("B", false)]);
    }

    #[test]
    fn test_functions_in_both_languages() {
        assert_eq!(test_functions("t.py", "def test_a():\n    pass\nasync def test_b():\n    pass\ndef helper():\n    pass\n"), 2);
        assert_eq!(test_functions("x.rs", "#[test]\nfn a() {}\n#[tokio::test]\nasync fn b() {}\nfn c() {}\n"), 2);
    }

    #[test]
    fn prose_and_data_never_count_as_unread_code() {
        assert!(is_prose_or_data("README.md", "# Hi\n"));
        assert!(is_prose_or_data("expected", "approve\n"));
        assert!(is_prose_or_data(".gitignore", "target\n"));
        assert!(!is_prose_or_data("bin/release", "#!/bin/sh\necho hi\n"));
        assert!(!is_prose_or_data("web/app.js", "export {}\n"));
    }

    #[test]
    fn guardian_documents_parse_and_name_the_bad_field() {
        let document = serde_json::json!({
            "findings": [{"rule": "eval-usage", "severity": "critical", "path": "a.py", "line": 3, "column": 1, "message": "m", "fingerprint": "f"}],
            "metrics": {"files": [{"path": "a.py", "language": "python", "test": false, "lines": 10, "functions": [
                {"name": "f", "qualified_name": "f", "line": 1, "length": 3, "complexity": 2, "public": true, "documented": false, "method": false, "nested": false, "path": "a.py"}
            ]}]}
        });
        let facts = CodeFacts::from_guardian_document(&document).unwrap();
        assert_eq!(facts.findings[0].severity, Severity::Critical);
        assert_eq!(facts.files[0].functions[0].complexity, 2);
        let error = CodeFacts::from_guardian_document(&serde_json::json!({"findings": [{"rule": 1}]})).unwrap_err();
        assert!(error.0.starts_with("findings"), "{error}");
    }
}
