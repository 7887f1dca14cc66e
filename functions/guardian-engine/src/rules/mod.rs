//! The rules. Each is a small module with a [`Rule`] constant: its stable
//! id, default severity, message, help with a good and a bad example, the
//! ruff code it mirrors if any, and a check over the lowered syntax.
//! [`ALL`] is the registry; ids are never reused.

pub mod meta;
pub mod python;
pub mod rust;
pub mod text;

use serde::Serialize;

use crate::finding::Severity;
use crate::syntax::python::Module;
use crate::syntax::rust::File;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    Rust,
    /// Both languages, or none in particular (meta rules).
    Any,
}

/// What a check sees of the file besides its syntax.
pub struct Context<'a> {
    pub path: &'a str,
    /// A test file (`tests/`, `test_*.py`, `benches/`, …).
    pub is_test: bool,
    /// Rust: a binary or build script rather than library code.
    pub is_binary: bool,
    pub settings: &'a crate::config::Settings,
}

/// Where a check reports.
#[derive(Default)]
pub struct Sink {
    pub hits: Vec<Hit>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl Sink {
    pub fn hit(&mut self, line: u32, column: u32, message: impl Into<String>) {
        self.hits.push(Hit { line, column, message: message.into() });
    }
}

pub type PythonCheck = fn(&Module, &Context, &mut Sink);
pub type RustCheck = fn(&File, &Context, &mut Sink);

#[derive(Clone, Copy, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub language: Language,
    pub severity: Severity,
    pub message: &'static str,
    pub help: &'static str,
    pub good: &'static str,
    pub bad: &'static str,
    /// The ruff rule this one mirrors exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ruff: Option<&'static str>,
    #[serde(skip)]
    pub python: Option<PythonCheck>,
    #[serde(skip)]
    pub rust: Option<RustCheck>,
}

impl Rule {
    /// A rule's metadata with no checks (filled in by each module).
    pub const fn new(id: &'static str, language: Language, severity: Severity, message: &'static str) -> Rule {
        Rule { id, language, severity, message, help: "", good: "", bad: "", ruff: None, python: None, rust: None }
    }
}

/// Every rule, in the order `hive guardian rules` lists them.
pub const ALL: &[Rule] = &[
    meta::PARSE_ERROR,
    meta::INVALID_SUPPRESSION,
    meta::UNUSED_SUPPRESSION,
    meta::ARCHITECTURE_CONTRACT,
    python::sys_path::RULE,
    text::secrets::RULE,
    text::paths::RULE,
    python::env_manager::RULE,
    python::global_accessor::RULE,
    python::async_suffix::RULE,
    python::type_hints::RULE,
    python::blocking_async::RULE,
    python::eval::RULE,
    python::exec::RULE,
    python::pickle::RULE,
    python::print::RULE,
    python::bare_except::RULE,
    python::wildcard_import::RULE,
    python::debugger::RULE,
    rust::unwrap::RULE,
    rust::print::RULE,
    rust::dbg::RULE,
    rust::todo::RULE,
    rust::env_var::RULE,
    rust::unsafe_code::RULE,
];

pub fn find(id: &str) -> Option<&'static Rule> {
    ALL.iter().find(|rule| rule.id == id)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_are_unique_kebab_case_and_every_rule_is_documented() {
        let ids: BTreeSet<_> = ALL.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), ALL.len());
        for rule in ALL {
            assert!(rule.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{}", rule.id);
            assert!(!rule.message.is_empty() && !rule.help.is_empty(), "{}", rule.id);
            assert!(!rule.good.is_empty() && !rule.bad.is_empty(), "{} needs a good and a bad example", rule.id);
            let checks = rule.python.is_some() || rule.rust.is_some();
            assert_eq!(checks, !meta::ALL.contains(&rule.id), "{}", rule.id);
        }
    }

    #[test]
    fn six_rules_mirror_ruff() {
        let mirrored: BTreeSet<_> = ALL.iter().filter_map(|r| r.ruff).collect();
        assert_eq!(mirrored, BTreeSet::from(["T201", "S307", "S102", "E722", "F403", "T100"]));
    }
}
