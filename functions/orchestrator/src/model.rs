//! The Orchestrator's records and its settings.

use std::collections::BTreeMap;
use std::time::Duration;

use infra::Error;
use orchestrator_engine::{Priority, RunState, TaskState};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A task as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub role: String,
    pub state: TaskState,
    pub priority: Priority,
    pub review: bool,
    pub max_retries: i64,
    /// Attempts so far (runs created).
    pub attempts: i64,
    pub reworks: i64,
    pub rework_limit: i64,
    pub acceptance_criteria: Vec<String>,
    /// What the worker gets: anything the creator put here.
    pub input: serde_json::Value,
    pub depends_on: Vec<String>,
    pub cancel_on_upstream_failure: bool,
    pub timeouts: Timeouts,
    /// The last run's result, and the review's feedback for a rework.
    pub result: Option<serde_json::Value>,
    pub feedback: Option<String>,
    pub reason: Option<String>,
    /// Database time, Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    /// A retried task is not claimed before this (its backoff).
    pub not_before: i64,
    /// Attempts made before the last manual retry, which restarts the count.
    #[serde(skip)]
    pub attempt_base: i64,
}

/// Per-task timeouts, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Assigned but never started.
    #[schemars(range(min = 1))]
    pub schedule_to_start_s: i64,
    /// Started but not finished.
    #[schemars(range(min = 1))]
    pub start_to_close_s: i64,
    /// No heartbeat for this long: a zombie.
    #[schemars(range(min = 1))]
    pub heartbeat_s: i64,
}

/// One attempt by one worker.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Run {
    pub id: String,
    pub task: String,
    pub attempt: i64,
    pub worker: String,
    pub state: RunState,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub heartbeat_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Until when the worker holds it without a heartbeat.
    pub lease_expires_at: i64,
    pub error: Option<String>,
    pub result: Option<serde_json::Value>,
}

/// One recorded transition.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct HistoryEntry {
    pub from: Option<TaskState>,
    pub event: String,
    pub to: TaskState,
    pub actor: String,
    pub reason: Option<String>,
    /// Database time, Unix milliseconds.
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Worker {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub capacity: i64,
    pub online: bool,
    pub last_seen: i64,
}

/// The deployment's defaults, read once in `main`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Concurrency per role when a tenant has not set one; 0 is unlimited.
    pub role_limits: BTreeMap<String, i64>,
    pub timeouts: Timeouts,
    pub max_retries: i64,
    pub rework_limit: i64,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// A worker silent this long is offline and its claims are released.
    pub worker_offline_after: Duration,
    /// The longest a claim may long-poll.
    pub max_claim_wait: Duration,
}

impl Settings {
    /// A retry's delay after `attempt`: exponential from the base, capped,
    /// with full jitter. The scheduler and completions both use it.
    pub fn backoff(&self) -> impl Fn(i64) -> Duration + Send + Sync + 'static {
        let (base, cap) = (self.backoff_base, self.backoff_cap);
        move |attempt| orchestrator_engine::backoff(attempt.max(1) as u32, base, cap, rand::random::<f64>())
    }

    /// `HIVE_TASKS_ROLE_LIMITS=backend=2,frontend=2,infra=1` (0 unlimited),
    /// `HIVE_TASKS_ZOMBIE_AFTER`, `HIVE_TASKS_START_TO_CLOSE`,
    /// `HIVE_TASKS_SCHEDULE_TO_START`, `HIVE_TASKS_WORKER_OFFLINE_AFTER`
    /// (durations like `3s`, `5m`); each error names its variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, Error> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let role_limits = match var("HIVE_TASKS_ROLE_LIMITS") {
            None => BTreeMap::from([("backend".into(), 2), ("frontend".into(), 2), ("infra".into(), 1)]),
            Some(text) => parse_limits(&text).ok_or_else(|| {
                Error::Config("HIVE_TASKS_ROLE_LIMITS must be a list like backend=2,frontend=2,infra=1 (0 is unlimited)".into())
            })?,
        };
        let seconds = |name: &str, default: u64| -> Result<i64, Error> {
            match var(name) {
                None => Ok(default as i64),
                Some(text) => infra::config::parse_duration(&text)
                    .filter(|d| d.as_secs() >= 1)
                    .map(|d| d.as_secs() as i64)
                    .ok_or_else(|| Error::Config(format!("{name} must be a duration of at least 1s, like 3s or 5m"))),
            }
        };
        Ok(Settings {
            role_limits,
            timeouts: Timeouts {
                schedule_to_start_s: seconds("HIVE_TASKS_SCHEDULE_TO_START", 10 * 60)?,
                start_to_close_s: seconds("HIVE_TASKS_START_TO_CLOSE", 30 * 60)?,
                heartbeat_s: seconds("HIVE_TASKS_ZOMBIE_AFTER", 5 * 60)?,
            },
            max_retries: 2,
            rework_limit: 3,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(5 * 60),
            worker_offline_after: Duration::from_secs(seconds("HIVE_TASKS_WORKER_OFFLINE_AFTER", 2 * 60)? as u64),
            max_claim_wait: Duration::from_secs(20),
        })
    }

    pub fn from_env() -> Result<Settings, Error> {
        Settings::from_vars(|name| std::env::var(name).ok())
    }
}

fn parse_limits(text: &str) -> Option<BTreeMap<String, i64>> {
    text.split(',')
        .map(|pair| {
            let (role, n) = pair.trim().split_once('=')?;
            let n: i64 = n.trim().parse().ok().filter(|n| *n >= 0)?;
            valid_role(role.trim()).then(|| (role.trim().to_owned(), n))
        })
        .collect()
}

/// A role is a short lowercase name: `backend`, `data-eng`, `qa_2`.
pub fn valid_role(role: &str) -> bool {
    !role.is_empty()
        && role.len() <= 40
        && role.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_and_read_the_environment() {
        let settings = Settings::from_vars(|_| None).unwrap();
        assert_eq!(settings.role_limits["backend"], 2);
        assert_eq!(settings.role_limits["infra"], 1);
        assert_eq!(settings.timeouts.heartbeat_s, 300);
        let vars = |name: &str| match name {
            "HIVE_TASKS_ROLE_LIMITS" => Some("backend=0, ml=4".to_owned()),
            "HIVE_TASKS_ZOMBIE_AFTER" => Some("3s".to_owned()),
            _ => None,
        };
        let settings = Settings::from_vars(vars).unwrap();
        assert_eq!(settings.role_limits, BTreeMap::from([("backend".into(), 0), ("ml".into(), 4)]));
        assert_eq!(settings.timeouts.heartbeat_s, 3);
        for (name, value) in [
            ("HIVE_TASKS_ROLE_LIMITS", "backend=-1"),
            ("HIVE_TASKS_ROLE_LIMITS", "Back End=1"),
            ("HIVE_TASKS_ZOMBIE_AFTER", "0s"),
            ("HIVE_TASKS_START_TO_CLOSE", "soon"),
        ] {
            let error = Settings::from_vars(|n| (n == name).then(|| value.to_owned())).unwrap_err();
            assert!(error.to_string().contains(name), "{error}");
        }
    }
}
