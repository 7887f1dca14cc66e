//! The Reviewer's settings, read once from the environment.

use std::collections::BTreeMap;
use std::time::Duration;

use infra::Error;
use infra::config::LlmConfig;
use infra::edge::schedule::Schedule;
use reviewer_engine::ReviewConfig;

#[derive(Clone, Debug)]
pub struct Settings {
    /// `HIVE_REVIEWS_ANALYSIS_TIMEOUT`: seconds to wait for Guardian's
    /// analysis before the review is escalated (default 300).
    pub analysis_timeout: Duration,
    /// `HIVE_REVIEWS_CONFIG`: per tenant, overrides of the standard
    /// weights and thresholds, as JSON `{"<tenant>": {...}}`.
    pub tenants: BTreeMap<String, ReviewConfig>,
    /// `HIVE_LLM_*`, as the Planner reads them: the optional narrative.
    pub llm: LlmConfig,
    /// The sweep: every minute on AWS, every two seconds under `hive serve`.
    pub sweep: Schedule,
}

impl Settings {
    pub fn from_env() -> Result<Settings, Error> {
        Settings::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let non_empty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let analysis_timeout = match non_empty("HIVE_REVIEWS_ANALYSIS_TIMEOUT") {
            None => Duration::from_secs(300),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(seconds) if (1..=86_400).contains(&seconds) => Duration::from_secs(seconds),
                _ => return Err(Error::invalid("HIVE_REVIEWS_ANALYSIS_TIMEOUT", "whole seconds from 1 to 86400")),
            },
        };
        let mut tenants = BTreeMap::new();
        if let Some(text) = non_empty("HIVE_REVIEWS_CONFIG") {
            let document: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| Error::invalid("HIVE_REVIEWS_CONFIG", format!("not JSON: {e}")))?;
            let Some(per_tenant) = document.as_object() else {
                return Err(Error::invalid("HIVE_REVIEWS_CONFIG", "an object of tenant → configuration"));
            };
            for (tenant, overrides) in per_tenant {
                let config = ReviewConfig::with_overrides(overrides)
                    .map_err(|e| Error::invalid("HIVE_REVIEWS_CONFIG", format!("tenant {tenant}: {e}")))?;
                tenants.insert(tenant.clone(), config);
            }
        }
        let llm = infra::config::Config::from_vars(&var)?.llm;
        let sweep = Schedule::every(Duration::from_secs(60))?.locally_every(Duration::from_secs(2));
        Ok(Settings { analysis_timeout, tenants, llm, sweep })
    }

    /// The tenant's configuration, or the standard one.
    pub fn config(&self, tenant: &str) -> ReviewConfig {
        self.tenants.get(tenant).cloned().unwrap_or_else(ReviewConfig::standard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors_name_the_variable() {
        let settings = Settings::from_vars(|_| None).unwrap();
        assert_eq!(settings.analysis_timeout, Duration::from_secs(300));
        assert_eq!(settings.config("acme"), ReviewConfig::standard());
        let vars = |timeout: &'static str, config: &'static str| {
            move |name: &str| match name {
                "HIVE_REVIEWS_ANALYSIS_TIMEOUT" => Some(timeout.to_owned()),
                "HIVE_REVIEWS_CONFIG" => Some(config.to_owned()),
                _ => None,
            }
        };
        let settings = Settings::from_vars(vars("5", r#"{"acme": {"feedback_budget": 2}}"#)).unwrap();
        assert_eq!(settings.analysis_timeout, Duration::from_secs(5));
        assert_eq!(settings.config("acme").feedback_budget, 2);
        assert_eq!(settings.config("other").feedback_budget, 10);
        for (timeout, config) in [("0", ""), ("soon", ""), ("5", "[1]"), ("5", r#"{"acme": {"weights": {"tests": 1}}}"#)] {
            assert!(Settings::from_vars(vars(timeout, config)).is_err(), "{timeout} {config}");
        }
    }
}
