//! guardian.toml's architecture contracts, checked from the command line:
//! Python ones on the import graph of the files checked, Rust ones on the
//! `Cargo.lock` of the first path.

use std::path::PathBuf;

use guardian_engine::config::ContractLanguage;
use guardian_engine::contracts::{Graph, check as check_contracts};
use guardian_engine::rules::meta::ARCHITECTURE_CONTRACT;
use guardian_engine::{Config, FileReport, Severity};

/// The contract findings, as extra file reports (merged by path later).
pub fn check(config: &Config, paths: &[PathBuf], reports: &[FileReport], level: Severity) -> Result<Vec<FileReport>, String> {
    let Some(severity) = config.severity(&ARCHITECTURE_CONTRACT, "").filter(|s| *s >= level) else { return Ok(Vec::new()) };
    let mut findings = check_contracts(&config.contracts, ContractLanguage::Python, &Graph::python(reports), severity);
    if config.contracts.iter().any(|c| c.language == ContractLanguage::Rust) {
        let root = paths.first().filter(|p| p.is_dir()).cloned().unwrap_or_else(|| PathBuf::from("."));
        let lock = root.join("Cargo.lock");
        let text = std::fs::read_to_string(&lock).map_err(|e| format!("{}: {e} (Rust contracts read the Cargo.lock)", lock.display()))?;
        let mut rust = check_contracts(&config.contracts, ContractLanguage::Rust, &Graph::cargo_lock(&text)?, severity);
        for finding in &mut rust {
            finding.path = lock.to_string_lossy().trim_start_matches("./").to_owned();
        }
        findings.extend(rust);
    }
    let mut by_path: std::collections::BTreeMap<String, FileReport> = std::collections::BTreeMap::new();
    for finding in findings {
        by_path
            .entry(finding.path.clone())
            .or_insert_with(|| FileReport {
                path: finding.path.clone(),
                language: None,
                lines: 0,
                is_test: false,
                findings: Vec::new(),
                functions: Vec::new(),
                imports: Vec::new(),
            })
            .findings
            .push(finding);
    }
    Ok(by_path.into_values().collect())
}
