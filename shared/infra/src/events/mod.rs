//! The registry of events: every event Hive publishes or consumes is named
//! here, once, with a typed payload, so a typo or an unknown type in a
//! publish call is a compile error rather than a message nobody consumes.
//!
//! - [`EventName`]: the names. On the wire a name is its dotted string
//!   (`study.completed`): the CloudEvents `type`, the message attribute the
//!   SNS filter policies and RabbitMQ bindings select on, and serde's form.
//! - [`Event`]: a payload struct per name, with its version; its JSON Schema
//!   is derived ([`schemars`]) for the AsyncAPI document.
//! - [`envelope`]: the CloudEvents 1.0 envelope every event travels in.
//! - [`outbox`]: publishing inside a database transaction, the relay and
//!   the sweep; and the consumers' inbox.
//! - [`asyncapi`]: the AsyncAPI 3.0 document, derived from this registry.
//!
//! Adding an event is one line in the `registry!` list below and one
//! payload struct implementing [`Event`]; a test checks that each payload
//! names the event it is declared with.

pub mod asyncapi;
pub mod envelope;
pub mod outbox;

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

pub use envelope::Envelope;
pub use outbox::{Inbox, Outbox, OutboxSettings, Staged};

/// Declares every event once: its variant, its wire name, its payload type
/// and one line on what it means. The enum, [`EventName::ALL`], the names,
/// the versions, the summaries and [`payload_schema`] all come from this
/// one list, so they cannot disagree.
macro_rules! registry {
    ($($variant:ident => $name:literal, $payload:ty, $summary:literal;)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventName {
            $(#[doc = $summary] $variant,)*
        }

        const COUNT: usize = [$($name),*].len();

        impl EventName {
            pub const ALL: [EventName; COUNT] = [$(EventName::$variant),*];

            pub const fn as_str(self) -> &'static str {
                match self { $(EventName::$variant => $name),* }
            }

            /// The payload version a publisher of this build writes, and
            /// the only one its consumers read.
            pub fn version(self) -> u32 {
                match self { $(EventName::$variant => <$payload as Event>::VERSION),* }
            }

            /// One line on what the event means, for the AsyncAPI document.
            pub fn summary(self) -> &'static str {
                match self { $(EventName::$variant => $summary),* }
            }
        }

        /// The JSON Schema of an event's payload.
        pub fn payload_schema(name: EventName, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
            match name { $(EventName::$variant => generator.subschema_for::<$payload>()),* }
        }

        #[cfg(test)]
        mod declared {
            use super::*;

            /// Each payload type names the variant it is declared with.
            #[test]
            fn each_payload_type_is_declared_with_its_own_name() {
                $(assert_eq!(<$payload as Event>::NAME, EventName::$variant);)*
            }
        }
    };
}

registry! {
    StudySubmitted => "study.submitted", StudySubmitted, "A study was accepted and its first jobs planned.";
    StudyJobRequested => "study.job_requested", StudyJobRequested, "One job of a study waits for a worker.";
    StudyJobCompleted => "study.job_completed", StudyJobCompleted, "One job of a study finished, successfully or not.";
    StudyCompleted => "study.completed", StudyCompleted, "Every job of a study finished and its results are stored.";
    StudyFailed => "study.failed", StudyFailed, "A study cannot complete; `error` says why.";
    TaskCreated => "task.created", TaskCreated, "A task was created (blocked on its dependencies, or queued).";
    TaskQueued => "task.queued", TaskQueued, "A task waits for a worker: its dependencies completed, or it is retried or reworked.";
    TaskAssigned => "task.assigned", TaskAssigned, "A worker claimed the task; a run (attempt) exists.";
    TaskStarted => "task.started", TaskStarted, "The run's first heartbeat arrived.";
    TaskReviewRequested => "task.review_requested", TaskReviewRequested, "The run succeeded and the task needs review; `result` is the submission.";
    TaskApproved => "task.approved", TaskApproved, "The review approved the work.";
    TaskReworkRequested => "task.rework_requested", TaskReworkRequested, "The review asked for rework; `reason` is the feedback.";
    TaskEscalated => "task.escalated", TaskEscalated, "A person must decide: the review escalated it, or the rework limit was reached.";
    TaskRejected => "task.rejected", TaskRejected, "The review rejected the work.";
    TaskCompleted => "task.completed", TaskCompleted, "The task is done.";
    TaskFailed => "task.failed", TaskFailed, "The task failed for good: out of retries, or not retryable.";
    TaskCancelled => "task.cancelled", TaskCancelled, "The task was cancelled, by a person or because a dependency failed.";
    ReviewCompleted => "review.completed", ReviewCompleted, "The Reviewer decided on a task's submission.";
    CodeAnalysisRequested => "code.analysis_requested", CodeAnalysisRequested, "Code waits for Guardian's golden-rule analysis.";
    CodeAnalysisCompleted => "code.analysis_completed", CodeAnalysisCompleted, "Guardian analysed the code; findings, metrics and SARIF are stored.";
    PlanRequested => "plan.requested", PlanRequested, "A plan waits for the Planner: a goal to propose from, or a user plan to analyse.";
    PlanGenerated => "plan.generated", PlanGenerated, "The Planner stored a validated plan and its analysis; `planner` says which path produced it.";
    PlanFailed => "plan.failed", PlanFailed, "No plan could be made; `reason` says why.";
    PlanCreated => "plan.created", PlanCreated, "A plan was approved: the Orchestrator creates its tasks with their dependencies.";
    WorkflowBlocked => "workflow.blocked", WorkflowBlocked, "A plan's task failed for good; `blocked` names the tasks that now cannot run.";
    NotificationDue => "notification.due", NotificationDue, "A notification is due for one delivery attempt (the dispatcher's lane).";
    NotificationUrgentDue => "notification.urgent_due", NotificationUrgentDue, "An urgent notification is due for one delivery attempt (a lane of its own, so it never waits behind the others).";
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventName {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        EventName::ALL
            .into_iter()
            .find(|event| event.as_str() == name)
            .ok_or_else(|| Error::invalid("type", format!("unknown event type {name:?}")))
    }
}

impl Serialize for EventName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// An event type is one of the registry's names, as a string enum.
impl JsonSchema for EventName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventName".into()
    }

    fn json_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = EventName::ALL.iter().map(|e| e.as_str()).collect();
        schemars::json_schema!({ "type": "string", "enum": names })
    }
}

/// A typed event payload. Only these can be published, so an unknown event
/// type cannot even be written.
pub trait Event: Serialize + DeserializeOwned + JsonSchema + Send + Sync {
    const NAME: EventName;
    /// Raised when a field changes meaning or a required one is added; a
    /// consumer dead-letters a version it does not know.
    const VERSION: u32 = 1;
    /// The CloudEvents `subject`: the id of the entity the event is about.
    fn subject(&self) -> String;
}

/// How a finished job or study ended, as its events report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Done,
    Failed,
}

/// `study.submitted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StudySubmitted {
    pub study: String,
    /// `optimize`, `pareto` or `uncertainty`.
    pub kind: String,
    /// Jobs planned so far (a Pareto study adds its ε points later).
    pub jobs: i64,
}

/// `study.job_requested`: the work item of the studies worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyJobRequested {
    pub tenant: String,
    pub study: String,
    pub job: String,
}

/// A study's counters right after a job was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyProgress {
    pub done: i64,
    pub failed: i64,
    pub total: i64,
}

/// `study.job_completed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyJobCompleted {
    pub study: String,
    pub job: String,
    pub status: JobStatus,
    pub error: Option<String>,
    pub progress: StudyProgress,
}

/// The payload of `study.completed` and `study.failed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyFinished {
    pub study: String,
    pub kind: String,
    /// The study's final status: `succeeded`, `infeasible` or `failed`.
    pub status: String,
    pub error: Option<String>,
    pub objective: Option<f64>,
}

/// `study.completed`: the study succeeded, or is infeasible (a result).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct StudyCompleted(pub StudyFinished);

/// `study.failed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct StudyFailed(pub StudyFinished);

impl Event for StudySubmitted {
    const NAME: EventName = EventName::StudySubmitted;
    fn subject(&self) -> String {
        self.study.clone()
    }
}

impl Event for StudyJobRequested {
    const NAME: EventName = EventName::StudyJobRequested;
    fn subject(&self) -> String {
        self.study.clone()
    }
}

impl Event for StudyJobCompleted {
    const NAME: EventName = EventName::StudyJobCompleted;
    fn subject(&self) -> String {
        self.study.clone()
    }
}

impl Event for StudyCompleted {
    const NAME: EventName = EventName::StudyCompleted;
    fn subject(&self) -> String {
        self.0.study.clone()
    }
}

impl Event for StudyFailed {
    const NAME: EventName = EventName::StudyFailed;
    fn subject(&self) -> String {
        self.0.study.clone()
    }
}

/// The payload of every `task.*` event: one transition of one task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskTransition {
    pub task: String,
    pub title: String,
    pub role: String,
    /// The state before; `None` when the task was just created.
    pub from: Option<String>,
    pub to: String,
    /// The state machine's event (`claim`, `succeed`, …).
    pub event: String,
    /// Who caused it: a worker id, a user, `scheduler`, `reviewer`.
    pub actor: String,
    pub reason: Option<String>,
    /// The run's attempt number, when a run is involved.
    pub attempt: Option<i64>,
    /// The run's result (the submission, for a review).
    pub result: Option<serde_json::Value>,
    /// The task's acceptance criteria, for a review.
    pub acceptance_criteria: Vec<String>,
}

macro_rules! task_events {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "`: see [`TaskTransition`].")]
            #[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
            #[serde(transparent)]
            pub struct $name(pub TaskTransition);

            impl Event for $name {
                const NAME: EventName = EventName::$name;
                fn subject(&self) -> String {
                    self.0.task.clone()
                }
            }
        )*
    };
}

task_events!(
    TaskCreated,
    TaskQueued,
    TaskAssigned,
    TaskStarted,
    TaskReviewRequested,
    TaskApproved,
    TaskReworkRequested,
    TaskEscalated,
    TaskRejected,
    TaskCompleted,
    TaskFailed,
    TaskCancelled,
);

/// What the Reviewer decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Approve,
    Rework,
    Escalate,
    Reject,
}

/// `review.completed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewCompleted {
    pub review: String,
    /// The task reviewed; `null` for work submitted through `POST /v1/reviews`.
    #[serde(default)]
    pub task: Option<String>,
    pub decision: ReviewDecision,
    pub score: Option<f64>,
    /// What to change, for a rework; why, otherwise.
    pub feedback: Option<String>,
    /// Each area's sub-score (0–100), by name (`code_quality`, `tests`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_scores: Option<std::collections::BTreeMap<String, f64>>,
    /// The path of the full review (`/v1/reviews/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

impl Event for ReviewCompleted {
    const NAME: EventName = EventName::ReviewCompleted;
    fn subject(&self) -> String {
        self.task.clone().unwrap_or_else(|| self.review.clone())
    }
}

/// A pull request whose head Guardian reviews and reports on as a check run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullRequestTarget {
    /// `owner/name`.
    pub repository: String,
    pub number: u64,
    pub head_sha: String,
}

/// `code.analysis_requested`: what to analyse, by reference. `files` is
/// the object key of `{"files": [{"path", "content"}], "changed_lines"?}`;
/// for a pull request the worker reads the changed files from GitHub.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeAnalysisRequested {
    pub tenant: String,
    /// The analysis' id (Guardian's review id).
    pub analysis: String,
    pub files: Option<String>,
    pub pull_request: Option<PullRequestTarget>,
    /// `critical`, `error`, `warning` or `info`: the level a finding fails at.
    pub fail_level: String,
}

/// `code.analysis_completed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeAnalysisCompleted {
    pub analysis: String,
    /// `succeeded` or `failed`.
    pub status: String,
    /// Findings that count (neither suppressed nor in a baseline).
    pub findings: u64,
    /// Whether a finding is at or above the fail level.
    pub failed_gate: bool,
    /// Object keys of the review document (findings, metrics, summary) and the SARIF.
    pub results: Option<String>,
    pub sarif: Option<String>,
    pub error: Option<String>,
}

impl Event for CodeAnalysisRequested {
    const NAME: EventName = EventName::CodeAnalysisRequested;
    fn subject(&self) -> String {
        self.analysis.clone()
    }
}

impl Event for CodeAnalysisCompleted {
    const NAME: EventName = EventName::CodeAnalysisCompleted;
    fn subject(&self) -> String {
        self.analysis.clone()
    }
}

/// `plan.requested`: the Planner worker's work item. The plan's request
/// (goal or user plan) is stored with it; the tenant is the envelope's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequested {
    pub plan: String,
}

/// `plan.generated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanGenerated {
    pub plan: String,
    /// `llm`, `llm_repaired`, `heuristic`, `heuristic_fallback` or `user`.
    pub planner: String,
    /// Why the heuristic was used instead of the model, for `heuristic_fallback`.
    pub fallback_reason: Option<String>,
    pub tasks: u64,
    /// The resource-constrained makespan, in minutes.
    pub makespan_min: f64,
    pub critical_path: Vec<String>,
    /// P(finish by the deadline), when the plan has a deadline.
    pub probability_by_deadline: Option<f64>,
}

/// `plan.failed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanFailed {
    pub plan: String,
    pub reason: String,
}

/// One task of an approved plan, named like an item of the Orchestrator's
/// `POST /v1/tasks/batch` so the mapping is field for field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedTask {
    /// The plan's task id; `depends_on` names other keys of the same plan.
    pub key: String,
    /// The id the Orchestrator gives the task: fixed by the Planner so that
    /// a redelivered `plan.created` creates nothing twice and `task.*`
    /// events map back to the plan.
    pub task_id: String,
    pub title: String,
    pub role: String,
    pub depends_on: Vec<String>,
    pub description: Option<String>,
    pub acceptance_criteria: Vec<String>,
    /// The expected duration (the PERT mean for three-point estimates).
    pub estimate_min: f64,
    /// `low`, `normal`, `high` or `urgent`: tasks on the critical path are `high`.
    pub priority: Option<String>,
}

/// `plan.created`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanCreated {
    pub plan_id: String,
    pub goal: Option<String>,
    pub tasks: Vec<PlannedTask>,
}

/// `workflow.blocked`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowBlocked {
    pub plan_id: String,
    /// The key and the Orchestrator's id of the task that failed.
    pub failed_key: String,
    pub failed_task: String,
    /// Keys of the plan's tasks that depend on it, directly or not.
    pub blocked: Vec<String>,
    pub reason: Option<String>,
}

/// The payload of `notification.due` and `notification.urgent_due`: which
/// notification, and the due time the message was sent for. A notification
/// whose due time has moved on since (an attempt made, a retry scheduled)
/// no longer answers to this message, so copies of it are harmless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryDue {
    pub notification_id: String,
    /// Unix ms.
    pub due_at: i64,
}

/// `notification.due`: see [`DeliveryDue`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct NotificationDue(pub DeliveryDue);

/// `notification.urgent_due`: see [`DeliveryDue`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct NotificationUrgentDue(pub DeliveryDue);

impl Event for NotificationDue {
    const NAME: EventName = EventName::NotificationDue;
    fn subject(&self) -> String {
        self.0.notification_id.clone()
    }
}

impl Event for NotificationUrgentDue {
    const NAME: EventName = EventName::NotificationUrgentDue;
    fn subject(&self) -> String {
        self.0.notification_id.clone()
    }
}

impl Event for PlanRequested {
    const NAME: EventName = EventName::PlanRequested;
    fn subject(&self) -> String {
        self.plan.clone()
    }
}

impl Event for PlanGenerated {
    const NAME: EventName = EventName::PlanGenerated;
    fn subject(&self) -> String {
        self.plan.clone()
    }
}

impl Event for PlanFailed {
    const NAME: EventName = EventName::PlanFailed;
    fn subject(&self) -> String {
        self.plan.clone()
    }
}

impl Event for PlanCreated {
    const NAME: EventName = EventName::PlanCreated;
    fn subject(&self) -> String {
        self.plan_id.clone()
    }
}

impl Event for WorkflowBlocked {
    const NAME: EventName = EventName::WorkflowBlocked;
    fn subject(&self) -> String {
        self.plan_id.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_name_round_trips_and_is_unique() {
        let names: BTreeSet<_> = EventName::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), EventName::ALL.len());
        for event in EventName::ALL {
            assert_eq!(event.as_str().parse::<EventName>().unwrap(), event);
            assert_eq!(event.to_string(), event.as_str());
            let json = serde_json::to_string(&event).unwrap();
            assert_eq!(json, format!("\"{}\"", event.as_str()));
            assert_eq!(serde_json::from_str::<EventName>(&json).unwrap(), event);
        }
    }

    #[test]
    fn names_are_lowercase_dotted_with_a_known_prefix() {
        for event in EventName::ALL {
            let (entity, action) = event.as_str().split_once('.').unwrap();
            assert!(["study", "task", "review", "code", "plan", "workflow", "notification"].contains(&entity), "{event}");
            assert!(action.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{event}");
        }
    }

    #[test]
    fn each_payload_type_names_its_own_event() {
        let named = [
            StudySubmitted::NAME,
            StudyJobRequested::NAME,
            StudyJobCompleted::NAME,
            StudyCompleted::NAME,
            StudyFailed::NAME,
            TaskCreated::NAME,
            TaskQueued::NAME,
            TaskAssigned::NAME,
            TaskStarted::NAME,
            TaskReviewRequested::NAME,
            TaskApproved::NAME,
            TaskReworkRequested::NAME,
            TaskEscalated::NAME,
            TaskRejected::NAME,
            TaskCompleted::NAME,
            TaskFailed::NAME,
            TaskCancelled::NAME,
            ReviewCompleted::NAME,
            CodeAnalysisRequested::NAME,
            CodeAnalysisCompleted::NAME,
            PlanRequested::NAME,
            NotificationDue::NAME,
            NotificationUrgentDue::NAME,
            PlanGenerated::NAME,
            PlanFailed::NAME,
            PlanCreated::NAME,
            WorkflowBlocked::NAME,
        ];
        assert_eq!(BTreeSet::from(named), BTreeSet::from(EventName::ALL));
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(
            matches!("study.Submitted".parse::<EventName>(), Err(Error::Invalid { field, .. }) if field == "type")
        );
        assert!(serde_json::from_str::<EventName>("\"nope\"").is_err());
    }
}
