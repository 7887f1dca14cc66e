//! Guardian's settings, read once from the environment.

use infra::Error;
use infra::config::Secret;

/// The GitHub side: the webhook secret, the REST API and its token.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `HIVE_GITHUB_WEBHOOK_SECRET`; without it every webhook is refused.
    pub webhook_secret: Option<Secret>,
    /// `HIVE_GITHUB_API_URL`, by default GitHub's.
    pub github_api_url: String,
    /// `HIVE_GITHUB_TOKEN`: an installation or personal token for the REST API.
    pub github_token: Option<Secret>,
    /// `HIVE_GITHUB_TENANT`: the tenant pull-request reviews belong to.
    pub github_tenant: String,
}

impl Settings {
    pub fn from_env() -> Result<Settings, Error> {
        Settings::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let non_empty = |name: &str| var(name).filter(|v| !v.is_empty());
        let github_api_url = non_empty("HIVE_GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
        if !(github_api_url.starts_with("http://") || github_api_url.starts_with("https://")) {
            return Err(Error::invalid("HIVE_GITHUB_API_URL", "must be an http(s) URL"));
        }
        Ok(Settings {
            webhook_secret: non_empty("HIVE_GITHUB_WEBHOOK_SECRET").map(Secret::new),
            github_api_url: github_api_url.trim_end_matches('/').to_owned(),
            github_token: non_empty("HIVE_GITHUB_TOKEN").map(Secret::new),
            github_tenant: non_empty("HIVE_GITHUB_TENANT").unwrap_or_else(|| "github".into()),
        })
    }
}
