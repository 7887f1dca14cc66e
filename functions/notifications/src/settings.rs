//! Notifications' settings, read once from the environment.

use std::time::Duration;

use infra::Error;
use infra::config::Secret;
use notifications_engine::RetrySchedule;

#[derive(Clone, Debug)]
pub struct Settings {
    /// `HIVE_NOTIFICATIONS_RETRY_SCHEDULE`, e.g. `1s,2s,4s`; Svix's by default.
    pub retry: RetrySchedule,
    /// `HIVE_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS=true` lets endpoints point
    /// at loopback and private addresses: local development and tests only.
    pub allow_private_targets: bool,
    /// `HIVE_NOTIFICATIONS_TIMEOUT_S`: one attempt's limit (10 s).
    pub timeout: Duration,
    /// `HIVE_NOTIFICATIONS_DISABLE_AFTER`: failed attempts in a row that
    /// disable an endpoint (50).
    pub disable_after: i64,
    /// `HIVE_NOTIFICATIONS_TENANT_RATE_PER_S`: one tenant's deliveries per
    /// second across its endpoints (100).
    pub tenant_rate_per_s: u64,
    /// `HIVE_NOTIFICATIONS_CONCURRENCY`: attempts in flight per dispatcher (32).
    pub concurrency: usize,
    /// `HIVE_NOTIFICATIONS_IDEMPOTENCY_DAYS`: how long an idempotency key
    /// (or a source event's id) keeps answering with its notification (30).
    /// At least 15: longer than a message can wait on a queue (14 days on
    /// SQS), so a redelivered event never notifies twice.
    pub idempotency_days: i64,
    /// `HIVE_SMTP_URL` and its credentials; without it email endpoints'
    /// messages fail and retry.
    pub smtp: Option<Smtp>,
}

#[derive(Clone, Debug)]
pub struct Smtp {
    /// `smtp://host:port` (plain, a local relay), `smtp://host:587?tls=required`
    /// (STARTTLS, as SES's interface wants) or `smtps://host:465`.
    pub url: String,
    /// `HIVE_SMTP_USERNAME` and `HIVE_SMTP_PASSWORD` (for SES, its SMTP credentials).
    pub credentials: Option<(String, Secret)>,
    /// `HIVE_SMTP_FROM`, the sender address.
    pub from: String,
}

impl Settings {
    pub fn from_env() -> Result<Settings, Error> {
        Settings::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let non_empty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let retry = match non_empty("HIVE_NOTIFICATIONS_RETRY_SCHEDULE") {
            Some(text) => RetrySchedule::parse(&text).map_err(|error| Error::Config(format!("HIVE_NOTIFICATIONS_RETRY_SCHEDULE: {error}")))?,
            None => RetrySchedule::svix(),
        };
        let number = |name: &str, default: u64, range: std::ops::RangeInclusive<u64>| -> Result<u64, Error> {
            match non_empty(name) {
                None => Ok(default),
                Some(text) => text.trim().parse().ok().filter(|n| range.contains(n)).ok_or_else(|| Error::Config(format!("{name}: {text:?} is not a number in {range:?}"))),
            }
        };
        let allow = non_empty("HIVE_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS");
        let allow_private_targets = match allow.as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(Error::Config(format!("HIVE_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS: {other:?} is not true or false"))),
        };
        Ok(Settings {
            retry,
            allow_private_targets,
            timeout: Duration::from_secs(number("HIVE_NOTIFICATIONS_TIMEOUT_S", 10, 1..=60)?),
            disable_after: i64::try_from(number("HIVE_NOTIFICATIONS_DISABLE_AFTER", 50, 1..=10_000)?).unwrap_or(50),
            tenant_rate_per_s: number("HIVE_NOTIFICATIONS_TENANT_RATE_PER_S", 100, 1..=100_000)?,
            concurrency: usize::try_from(number("HIVE_NOTIFICATIONS_CONCURRENCY", 32, 1..=512)?).unwrap_or(32),
            idempotency_days: i64::try_from(number("HIVE_NOTIFICATIONS_IDEMPOTENCY_DAYS", 30, 15..=3650)?).unwrap_or(30),
            smtp: smtp(&non_empty)?,
        })
    }
}

fn smtp(var: &impl Fn(&str) -> Option<String>) -> Result<Option<Smtp>, Error> {
    let Some(url) = var("HIVE_SMTP_URL") else { return Ok(None) };
    let host = url.strip_prefix("smtp://").or_else(|| url.strip_prefix("smtps://")).map(|rest| rest.split(['/', '?', ':']).next().unwrap_or(""));
    if host.is_none_or(str::is_empty) {
        return Err(Error::Config(format!("HIVE_SMTP_URL: {url:?} is not smtp://host:port or smtps://host:port")));
    }
    let credentials = match (var("HIVE_SMTP_USERNAME"), var("HIVE_SMTP_PASSWORD")) {
        (Some(user), Some(password)) => Some((user, Secret::new(password))),
        (None, None) => None,
        _ => return Err(Error::Config("HIVE_SMTP_USERNAME and HIVE_SMTP_PASSWORD go together".into())),
    };
    let from = var("HIVE_SMTP_FROM").unwrap_or_else(|| "hive@localhost".into());
    Ok(Some(Smtp { url, credentials, from }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<Settings, Error> {
        Settings::from_vars(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn defaults_and_overrides() {
        let defaults = with(&[]).unwrap();
        assert_eq!(defaults.retry.attempts(), 8);
        assert!(!defaults.allow_private_targets && defaults.smtp.is_none());
        let set = with(&[("HIVE_NOTIFICATIONS_RETRY_SCHEDULE", "1s,2s"), ("HIVE_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS", "true"), ("HIVE_SMTP_URL", "smtp://127.0.0.1:2525")]).unwrap();
        assert_eq!(set.retry.attempts(), 3);
        assert_eq!(set.smtp.unwrap().url, "smtp://127.0.0.1:2525");
        for bad in [("HIVE_NOTIFICATIONS_RETRY_SCHEDULE", "soon"), ("HIVE_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS", "yes"), ("HIVE_SMTP_URL", "http://x"), ("HIVE_NOTIFICATIONS_CONCURRENCY", "0"), ("HIVE_NOTIFICATIONS_IDEMPOTENCY_DAYS", "7")] {
            assert!(with(&[bad]).is_err(), "{bad:?}");
        }
    }
}
