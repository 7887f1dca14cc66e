//! `guardian.toml`: severity overrides and `off` per rule and per path
//! glob, excludes, the architecture contracts and the rules' settings. A
//! bad file is a [`ConfigError`] naming the line and the key.
//!
//! ```toml
//! exclude = ["target", "**/fixtures/**"]
//! forbidden-accessors = ["get_config"]
//! config-modules = ["shared/infra/src/config.rs"]
//! unsafe-allowed = []
//!
//! [rules]
//! print-call = "off"
//! missing-type-hints = "info"
//!
//! [[overrides]]
//! paths = ["scripts/**"]
//! rules = { print-call = "off" }
//!
//! [[contracts]]
//! name = "domain crates do no I/O"
//! kind = "forbidden"
//! language = "rust"
//! source = ["*-engine"]
//! forbidden = ["tokio", "reqwest"]
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::finding::Severity;
use crate::glob::Glob;

/// The largest file Guardian parses; larger ones are a `parse-error`.
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct Config {
    pub settings: Settings,
    pub rules: BTreeMap<String, RuleSetting>,
    pub overrides: Vec<Override>,
    pub exclude: Vec<Glob>,
    pub contracts: Vec<Contract>,
}

/// What individual rules read.
#[derive(Clone, Debug)]
pub struct Settings {
    pub forbidden_accessors: Vec<String>,
    pub config_modules: Vec<Glob>,
    pub unsafe_allowed: Vec<Glob>,
    pub max_file_bytes: usize,
}

impl Settings {
    pub fn is_config_module(&self, path: &str) -> bool {
        self.config_modules.iter().any(|g| g.matches(path))
    }

    pub fn unsafe_allowed(&self, path: &str) -> bool {
        self.unsafe_allowed.iter().any(|g| g.matches(path))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleSetting {
    Off,
    Severity(Severity),
}

#[derive(Clone, Debug)]
pub struct Override {
    pub paths: Vec<Glob>,
    pub rules: BTreeMap<String, RuleSetting>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractKind {
    Forbidden,
    Independent,
    Layers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractLanguage {
    Python,
    Rust,
}

/// An import-linter style contract. Module and crate names are matched as
/// globs on dotted Python module names or Rust crate names; a Python
/// module also matches its submodules.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Contract {
    pub name: String,
    pub kind: ContractKind,
    pub language: ContractLanguage,
    /// `forbidden`: the importers.
    #[serde(default)]
    pub source: Vec<String>,
    /// `forbidden`: what they must not reach, directly or not.
    #[serde(default)]
    pub forbidden: Vec<String>,
    /// `independent`: modules none of which may reach another.
    #[serde(default)]
    pub modules: Vec<String>,
    /// `layers`: highest first; a layer may reach only those below it.
    #[serde(default)]
    pub layers: Vec<String>,
    /// Only direct dependencies count (Rust: normal ones); by default the
    /// whole chain does.
    #[serde(default)]
    pub direct_only: bool,
}

/// A guardian.toml that cannot be used: where and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {key}: {message}")]
pub struct ConfigError {
    pub line: u32,
    pub key: String,
    pub message: String,
}

impl Config {
    /// The configuration with no guardian.toml.
    pub fn standard() -> Config {
        Config {
            settings: Settings {
                forbidden_accessors: vec!["get_config".into()],
                config_modules: vec![Glob::new("**/config.rs"), Glob::new("**/config/**"), Glob::new("**/config.py")],
                unsafe_allowed: Vec::new(),
                max_file_bytes: MAX_FILE_BYTES,
            },
            rules: BTreeMap::new(),
            overrides: Vec::new(),
            exclude: Vec::new(),
            contracts: Vec::new(),
        }
    }

    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: Raw = toml::from_str(text).map_err(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            let line = line_of(text, offset);
            ConfigError { line, key: key_at(text, line), message: error.message().trim().to_owned() }
        })?;
        let mut config = Config::standard();
        if let Some(accessors) = raw.forbidden_accessors {
            config.settings.forbidden_accessors = accessors;
        }
        if let Some(modules) = raw.config_modules {
            config.settings.config_modules = modules.iter().map(|g| Glob::new(g)).collect();
        }
        config.settings.unsafe_allowed = raw.unsafe_allowed.iter().map(|g| Glob::new(g)).collect();
        if let Some(bytes) = raw.max_file_bytes {
            config.settings.max_file_bytes = bytes;
        }
        config.exclude = raw.exclude.iter().map(|g| Glob::new(g)).collect();
        config.rules = rule_settings(text, &raw.rules)?;
        for raw_override in &raw.overrides {
            config.overrides.push(Override {
                paths: raw_override.paths.iter().map(|g| Glob::new(g)).collect(),
                rules: rule_settings(text, &raw_override.rules)?,
            });
        }
        for contract in raw.contracts {
            let contract = contract.into_inner();
            let empty = match contract.kind {
                ContractKind::Forbidden => contract.source.is_empty() || contract.forbidden.is_empty(),
                ContractKind::Independent => contract.modules.len() < 2,
                ContractKind::Layers => contract.layers.len() < 2,
            };
            if empty {
                let line = text.find(&format!("\"{}\"", contract.name)).map_or(0, |offset| line_of(text, offset));
                return Err(ConfigError {
                    line,
                    key: "contracts".into(),
                    message: format!("contract {:?} names too few modules for a {:?} contract", contract.name, contract.kind),
                });
            }
            config.contracts.push(contract);
        }
        Ok(config)
    }

    /// The rule's severity for `path`, or `None` when it is off there.
    pub fn severity(&self, rule: &crate::rules::Rule, path: &str) -> Option<Severity> {
        let mut setting = self.rules.get(rule.id).copied().unwrap_or(RuleSetting::Severity(rule.severity));
        for override_ in &self.overrides {
            if override_.paths.iter().any(|g| g.matches(path)) {
                if let Some(s) = override_.rules.get(rule.id) {
                    setting = *s;
                }
            }
        }
        match setting {
            RuleSetting::Off => None,
            RuleSetting::Severity(severity) => Some(severity),
        }
    }

    pub fn excluded(&self, path: &str) -> bool {
        self.exclude.iter().any(|g| g.matches(path))
    }
}

fn rule_settings(
    text: &str,
    raw: &BTreeMap<toml::Spanned<String>, toml::Spanned<String>>,
) -> Result<BTreeMap<String, RuleSetting>, ConfigError> {
    let mut settings = BTreeMap::new();
    for (id, value) in raw {
        let line = line_of(text, id.span().start);
        if crate::rules::find(id.get_ref()).is_none() {
            return Err(ConfigError { line, key: id.get_ref().clone(), message: "no rule has this id (see `hive guardian rules`)".into() });
        }
        let setting = match value.get_ref().as_str() {
            "off" => RuleSetting::Off,
            other => RuleSetting::Severity(other.parse().map_err(|message: String| ConfigError {
                line: line_of(text, value.span().start),
                key: id.get_ref().clone(),
                message: format!("{message}, or off"),
            })?),
        };
        settings.insert(id.get_ref().clone(), setting);
    }
    Ok(settings)
}

fn line_of(text: &str, offset: usize) -> u32 {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() as u32 + 1
}

/// The key a line sets, or the table it opens.
fn key_at(text: &str, line: u32) -> String {
    let content = text.lines().nth(line.saturating_sub(1) as usize).unwrap_or_default().trim();
    match content.split_once('=') {
        Some((key, _)) => key.trim().to_owned(),
        None => content.trim_matches(['[', ']']).to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    #[serde(default)]
    exclude: Vec<String>,
    forbidden_accessors: Option<Vec<String>>,
    config_modules: Option<Vec<String>>,
    #[serde(default)]
    unsafe_allowed: Vec<String>,
    max_file_bytes: Option<usize>,
    #[serde(default)]
    rules: BTreeMap<toml::Spanned<String>, toml::Spanned<String>>,
    #[serde(default)]
    overrides: Vec<RawOverride>,
    #[serde(default)]
    contracts: Vec<toml::Spanned<Contract>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    paths: Vec<String>,
    #[serde(default)]
    rules: BTreeMap<toml::Spanned<String>, toml::Spanned<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> ConfigError {
        Config::parse(text).unwrap_err()
    }

    #[test]
    fn a_good_file_sets_rules_overrides_and_contracts() {
        let config = Config::parse(
            "exclude = [\"target\"]\n[rules]\nprint-call = \"off\"\nbare-except = \"critical\"\n[[overrides]]\npaths = [\"scripts/**\"]\nrules = { eval-usage = \"off\" }\n[[contracts]]\nname = \"pure\"\nkind = \"forbidden\"\nlanguage = \"rust\"\nsource = [\"*-engine\"]\nforbidden = [\"tokio\"]\n",
        )
        .unwrap();
        let rule = |id| crate::rules::find(id).unwrap();
        assert_eq!(config.severity(rule("print-call"), "a.py"), None);
        assert_eq!(config.severity(rule("bare-except"), "a.py"), Some(Severity::Critical));
        assert_eq!(config.severity(rule("eval-usage"), "scripts/x.py"), None);
        assert_eq!(config.severity(rule("eval-usage"), "src/x.py"), Some(Severity::Critical));
        assert!(config.excluded("target/debug/a.rs"));
        assert_eq!(config.contracts.len(), 1);
    }

    #[test]
    fn bad_files_name_the_line_and_the_key() {
        assert_eq!(error("[rules]\n\nprint-cal = \"off\"\n"), ConfigError { line: 3, key: "print-cal".into(), message: "no rule has this id (see `hive guardian rules`)".into() });
        let bad_level = error("[rules]\nprint-call = \"loud\"\n");
        assert_eq!((bad_level.line, bad_level.key.as_str()), (2, "print-call"));
        let unknown = error("exclude = []\ncolour = \"red\"\n");
        assert_eq!((unknown.line, unknown.key.as_str()), (2, "colour"));
        assert!(unknown.message.contains("unknown field"), "{}", unknown.message);
        let syntax = error("exclude = [\n");
        assert_eq!(syntax.key, "exclude = [".split('=').next().unwrap().trim());
        let contract = error("[[contracts]]\nname = \"x\"\nkind = \"sideways\"\nlanguage = \"rust\"\n");
        assert_eq!(contract.line, 3);
    }
}
