//! The plan: tasks with roles, estimates, resources and dependencies, the
//! capacities they share, and the errors a plan can have.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// A plan as proposed (by the LLM, the heuristic or a user): not yet checked.
/// [`crate::validate`] turns it into a [`crate::ValidPlan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub tasks: Vec<PlanTask>,
    /// Workers per role; a task with a role needs one of them while it runs.
    #[serde(default)]
    pub roles: BTreeMap<String, u32>,
    /// Capacity of each renewable resource beyond the roles.
    #[serde(default)]
    pub resources: BTreeMap<String, u32>,
    /// The deadline, in minutes from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PlanTask {
    pub id: String,
    #[serde(default)]
    pub title: String,
    /// The role that does the task; empty for a task that needs no worker
    /// (PSPLIB activities use only `resources`).
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Written as `duration: N` or `estimate: {optimistic, most_likely, pessimistic}`.
    #[serde(flatten)]
    pub estimate: Estimate,
    /// Units of each extra resource held while the task runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<Complexity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance_criteria: Vec<String>,
}

/// How long a task takes, in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Estimate {
    /// A single, certain duration.
    Duration { duration: f64 },
    /// A three-point (PERT) estimate.
    ThreePoint { estimate: ThreePoint },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThreePoint {
    pub optimistic: f64,
    pub most_likely: f64,
    pub pessimistic: f64,
}

impl Estimate {
    pub fn fixed(duration: f64) -> Estimate {
        Estimate::Duration { duration }
    }

    /// (optimistic, most likely, pessimistic); all three equal for a fixed duration.
    pub fn points(&self) -> (f64, f64, f64) {
        match *self {
            Estimate::Duration { duration } => (duration, duration, duration),
            Estimate::ThreePoint { estimate: e } => (e.optimistic, e.most_likely, e.pessimistic),
        }
    }

    /// The PERT mean, (o + 4m + p) / 6.
    pub fn mean(&self) -> f64 {
        let (o, m, p) = self.points();
        (o + 4.0 * m + p) / 6.0
    }

    /// The PERT variance, ((p − o) / 6)².
    pub fn variance(&self) -> f64 {
        let (o, _, p) = self.points();
        ((p - o) / 6.0).powi(2)
    }
}

/// Either key, but not both: serde's untagged enums would only say "did not
/// match any variant", which names neither key.
impl<'de> Deserialize<'de> for Estimate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Keys {
            duration: Option<f64>,
            estimate: Option<ThreePoint>,
        }
        let keys = Keys::deserialize(deserializer)?;
        match (keys.duration, keys.estimate) {
            (Some(duration), None) => Ok(Estimate::Duration { duration }),
            (None, Some(estimate)) => Ok(Estimate::ThreePoint { estimate }),
            (Some(_), Some(_)) => Err(serde::de::Error::custom("give either `duration` or `estimate`, not both")),
            (None, None) => Err(serde::de::Error::custom("a task needs `duration` or `estimate`")),
        }
    }
}

/// The heuristic's task sizes: 15, 60 and 180 minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Complexity {
    Small,
    Medium,
    Large,
}

impl Complexity {
    pub fn minutes(self) -> f64 {
        match self {
            Complexity::Small => 15.0,
            Complexity::Medium => 60.0,
            Complexity::Large => 180.0,
        }
    }
}

/// What validation allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_tasks: usize,
    /// A plan made from a goal (LLM or heuristic): every duration must be
    /// within 1..=480 minutes. User plans only need positive durations.
    pub goal_plan: bool,
}

/// One problem in a plan, at a path such as `tasks[3].depends_on[0]`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema, thiserror::Error)]
pub struct PlanError {
    pub path: String,
    /// 1-based source line, when the plan was read from YAML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    pub kind: PlanErrorKind,
}

impl PlanError {
    pub fn new(path: impl Into<String>, kind: PlanErrorKind) -> PlanError {
        PlanError { path: path.into(), line: None, kind }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "plan" } else { &self.path };
        match self.line {
            Some(line) => write!(f, "{path} (line {line}): {}", self.kind),
            None => write!(f, "{path}: {}", self.kind),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanErrorKind {
    /// The text is not a plan: bad YAML, JSON or `.sm`, or a value of the wrong shape.
    #[error("{message}")]
    Syntax { message: String },
    #[error("the plan has no tasks")]
    Empty,
    #[error("{count} tasks is more than the maximum of {max}")]
    TooManyTasks { count: usize, max: usize },
    #[error("a task id must not be empty")]
    EmptyId,
    #[error("duplicate task id `{id}` (first used by tasks[{first}])")]
    DuplicateId { id: String, first: usize },
    #[error("`{id}` depends on `{dependency}`, which is not a task")]
    UnknownDependency { id: String, dependency: String },
    #[error("`{id}` depends on itself")]
    SelfLoop { id: String },
    #[error("dependency cycle: {}", cycle_text(.cycle))]
    Cycle { cycle: Vec<String> },
    #[error("`{id}` has duration {value}, outside {min}..={max} minutes")]
    DurationOutOfRange { id: String, value: f64, min: f64, max: f64 },
    #[error("`{id}` has duration {value}; durations must be positive")]
    NonPositiveDuration { id: String, value: f64 },
    #[error("`{id}` has an estimate that is not optimistic ≤ most likely ≤ pessimistic")]
    UnorderedEstimate { id: String },
    #[error("`{id}` needs role `{role}`, which the plan's roles do not list")]
    UnknownRole { id: String, role: String },
    #[error("`{id}` needs resource `{resource}`, which the plan's resources do not list")]
    UnknownResource { id: String, resource: String },
    #[error("`{id}` needs {demand} of `{resource}` but only {capacity} exist")]
    OverCapacity { id: String, resource: String, demand: u32, capacity: u32 },
}

fn cycle_text(cycle: &[String]) -> String {
    let mut text = cycle.join(" -> ");
    if let Some(first) = cycle.first() {
        text.push_str(" -> ");
        text.push_str(first);
    }
    text
}
