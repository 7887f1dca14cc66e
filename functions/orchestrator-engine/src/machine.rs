//! The task and run state machines, as data.
//!
//! [`TASK_TRANSITIONS`] and [`RUN_TRANSITIONS`] are the whole truth: every
//! change of state the Orchestrator makes goes through [`task_transition`]
//! or [`run_transition`], and a (state, event) pair that is not in the table
//! is [`Refused`], which the API answers as a 409 naming both. The tables
//! are printed in ARCHITECTURE.md, and a test checks that the printed copy
//! is this one.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! names {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(text: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|value| value.as_str() == text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names! {
    /// Where a task is in its life.
    pub enum TaskState {
        Blocked => "blocked",
        Queued => "queued",
        Assigned => "assigned",
        InProgress => "in_progress",
        ReviewPending => "review_pending",
        Approved => "approved",
        ReworkNeeded => "rework_needed",
        Escalated => "escalated",
        Rejected => "rejected",
        Completed => "completed",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

names! {
    /// What can happen to a task.
    pub enum TaskEvent {
        Release => "release",
        Claim => "claim",
        Start => "start",
        Succeed => "succeed",
        Submit => "submit",
        Retry => "retry",
        Fail => "fail",
        Approve => "approve",
        Complete => "complete",
        RequestRework => "request_rework",
        Rework => "rework",
        Escalate => "escalate",
        Reject => "reject",
        ResolveApprove => "resolve_approve",
        ResolveRework => "resolve_rework",
        ResolveReject => "resolve_reject",
        Cancel => "cancel",
        UpstreamFailed => "upstream_failed",
        ManualRetry => "manual_retry",
    }
}

names! {
    /// Where one attempt (a run) is.
    pub enum RunState {
        Pending => "pending",
        Running => "running",
        Success => "success",
        Failure => "failure",
        Timeout => "timeout",
        Cancelled => "cancelled",
    }
}

names! {
    /// What can happen to a run.
    pub enum RunEvent {
        Start => "start",
        Succeed => "succeed",
        Fail => "fail",
        TimeOut => "time_out",
        Cancel => "cancel",
    }
}

use RunEvent as R;
use RunState as RS;
use TaskEvent as E;
use TaskState as S;

/// Every allowed task transition: (from, event, to).
pub const TASK_TRANSITIONS: &[(TaskState, TaskEvent, TaskState)] = &[
    // The last parent completed.
    (S::Blocked, E::Release, S::Queued),
    (S::Blocked, E::Cancel, S::Cancelled),
    // A parent failed or was cancelled.
    (S::Blocked, E::UpstreamFailed, S::Cancelled),
    (S::Queued, E::Claim, S::Assigned),
    (S::Queued, E::Cancel, S::Cancelled),
    // The run's first heartbeat.
    (S::Assigned, E::Start, S::InProgress),
    // Never started in time, or its worker went silent: within the retry
    // budget it is queued again, else it fails.
    (S::Assigned, E::Retry, S::Queued),
    (S::Assigned, E::Fail, S::Failed),
    (S::Assigned, E::Cancel, S::Cancelled),
    (S::InProgress, E::Succeed, S::Completed),
    // A task that needs review.
    (S::InProgress, E::Submit, S::ReviewPending),
    (S::InProgress, E::Retry, S::Queued),
    (S::InProgress, E::Fail, S::Failed),
    (S::InProgress, E::Cancel, S::Cancelled),
    // The Reviewer's decision.
    (S::ReviewPending, E::Approve, S::Approved),
    (S::ReviewPending, E::RequestRework, S::ReworkNeeded),
    (S::ReviewPending, E::Escalate, S::Escalated),
    (S::ReviewPending, E::Reject, S::Rejected),
    (S::ReviewPending, E::Cancel, S::Cancelled),
    (S::Approved, E::Complete, S::Completed),
    // Back to the queue with the feedback, or past the rework limit, up.
    (S::ReworkNeeded, E::Rework, S::Queued),
    (S::ReworkNeeded, E::Escalate, S::Escalated),
    (S::ReworkNeeded, E::Cancel, S::Cancelled),
    // A person decides.
    (S::Escalated, E::ResolveApprove, S::Approved),
    (S::Escalated, E::ResolveRework, S::Queued),
    (S::Escalated, E::ResolveReject, S::Rejected),
    (S::Escalated, E::Cancel, S::Cancelled),
    // A person tries again.
    (S::Failed, E::ManualRetry, S::Queued),
    (S::Cancelled, E::ManualRetry, S::Queued),
];

/// Every allowed run transition. A run completed before its first
/// heartbeat goes straight from `pending` to its outcome.
pub const RUN_TRANSITIONS: &[(RunState, RunEvent, RunState)] = &[
    (RS::Pending, R::Start, RS::Running),
    (RS::Pending, R::Succeed, RS::Success),
    (RS::Pending, R::Fail, RS::Failure),
    (RS::Pending, R::TimeOut, RS::Timeout),
    (RS::Pending, R::Cancel, RS::Cancelled),
    (RS::Running, R::Succeed, RS::Success),
    (RS::Running, R::Fail, RS::Failure),
    (RS::Running, R::TimeOut, RS::Timeout),
    (RS::Running, R::Cancel, RS::Cancelled),
];

/// A transition the table does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a {entity} in state {state} cannot {event}")]
pub struct Refused {
    pub entity: &'static str,
    pub state: &'static str,
    pub event: &'static str,
}

pub fn task_transition(from: TaskState, event: TaskEvent) -> Result<TaskState, Refused> {
    TASK_TRANSITIONS
        .iter()
        .find(|(state, on, _)| *state == from && *on == event)
        .map(|(_, _, to)| *to)
        .ok_or(Refused { entity: "task", state: from.as_str(), event: event.as_str() })
}

pub fn run_transition(from: RunState, event: RunEvent) -> Result<RunState, Refused> {
    RUN_TRANSITIONS
        .iter()
        .find(|(state, on, _)| *state == from && *on == event)
        .map(|(_, _, to)| *to)
        .ok_or(Refused { entity: "run", state: from.as_str(), event: event.as_str() })
}

/// The states from which `event` moves a task, for `WHERE state IN (…)`.
pub fn task_sources(event: TaskEvent) -> Vec<TaskState> {
    TASK_TRANSITIONS.iter().filter(|(_, on, _)| *on == event).map(|(from, _, _)| *from).collect()
}

pub fn run_sources(event: RunEvent) -> Vec<RunState> {
    RUN_TRANSITIONS.iter().filter(|(_, on, _)| *on == event).map(|(from, _, _)| *from).collect()
}

impl TaskState {
    /// No event leaves a final state except a person's retry.
    pub fn is_final(self) -> bool {
        matches!(self, S::Completed | S::Failed | S::Cancelled | S::Rejected)
    }
}

impl RunState {
    pub fn is_final(self) -> bool {
        !matches!(self, RS::Pending | RS::Running)
    }
}

/// The tables as Markdown, as ARCHITECTURE.md prints them.
pub fn tables_markdown() -> String {
    let mut out = String::from("| task state | event | next state |\n| --- | --- | --- |\n");
    for (from, event, to) in TASK_TRANSITIONS {
        out.push_str(&format!("| `{from}` | `{event}` | `{to}` |\n"));
    }
    out.push_str("\n| run state | event | next state |\n| --- | --- | --- |\n");
    for (from, event, to) in RUN_TRANSITIONS {
        out.push_str(&format!("| `{from}` | `{event}` | `{to}` |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_pair_outside_the_table_is_refused_and_every_pair_inside_is_taken() {
        let mut allowed = 0;
        for &state in TaskState::ALL {
            for &event in TaskEvent::ALL {
                let listed = TASK_TRANSITIONS.iter().find(|(s, e, _)| *s == state && *e == event);
                match (listed, task_transition(state, event)) {
                    (Some((_, _, to)), Ok(next)) => {
                        assert_eq!(*to, next);
                        allowed += 1;
                    }
                    (None, Err(refused)) => {
                        assert_eq!(refused, Refused { entity: "task", state: state.as_str(), event: event.as_str() });
                        assert_eq!(refused.to_string(), format!("a task in state {state} cannot {event}"));
                    }
                    (listed, result) => panic!("{state} + {event}: table {listed:?}, machine {result:?}"),
                }
            }
        }
        assert_eq!(allowed, TASK_TRANSITIONS.len());
        for &state in RunState::ALL {
            for &event in RunEvent::ALL {
                let listed = RUN_TRANSITIONS.iter().any(|(s, e, _)| *s == state && *e == event);
                assert_eq!(listed, run_transition(state, event).is_ok(), "{state} + {event}");
            }
        }
    }

    #[test]
    fn the_table_is_a_function_with_no_exit_from_final_states_but_a_retry() {
        let pairs: BTreeSet<(TaskState, TaskEvent)> = TASK_TRANSITIONS.iter().map(|(s, e, _)| (*s, *e)).collect();
        assert_eq!(pairs.len(), TASK_TRANSITIONS.len(), "one next state per pair");
        for (from, event, _) in TASK_TRANSITIONS {
            if from.is_final() {
                assert_eq!(*event, TaskEvent::ManualRetry, "{from} + {event}");
            }
        }
        for (from, _, _) in RUN_TRANSITIONS {
            assert!(!from.is_final());
        }
    }

    #[test]
    fn every_state_is_reachable_from_a_new_task_and_every_event_is_used() {
        let mut reached = BTreeSet::from([TaskState::Blocked, TaskState::Queued]);
        loop {
            let before = reached.len();
            for (from, _, to) in TASK_TRANSITIONS {
                if reached.contains(from) {
                    reached.insert(*to);
                }
            }
            if reached.len() == before {
                break;
            }
        }
        assert_eq!(reached.len(), TaskState::ALL.len());
        let used: BTreeSet<TaskEvent> = TASK_TRANSITIONS.iter().map(|(_, e, _)| *e).collect();
        assert_eq!(used.len(), TaskEvent::ALL.len());
    }

    #[test]
    fn names_round_trip() {
        for &state in TaskState::ALL {
            assert_eq!(TaskState::parse(state.as_str()), Some(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        for &state in RunState::ALL {
            assert_eq!(RunState::parse(state.as_str()), Some(state));
        }
        assert_eq!(TaskState::parse("done"), None);
    }

    #[test]
    fn sources_list_the_states_an_event_leaves() {
        assert_eq!(task_sources(TaskEvent::Claim), [TaskState::Queued]);
        assert_eq!(task_sources(TaskEvent::Retry), [TaskState::Assigned, TaskState::InProgress]);
        assert_eq!(run_sources(RunEvent::Start), [RunState::Pending]);
    }
}

#[cfg(test)]
mod printed {
    /// ARCHITECTURE.md prints the tables; this keeps the copy true.
    #[test]
    fn architecture_md_prints_these_tables() {
        let document = include_str!("../../../ARCHITECTURE.md");
        assert!(
            document.contains(&super::tables_markdown()),
            "ARCHITECTURE.md's transition tables differ from the engine's; paste this:\n{}",
            super::tables_markdown()
        );
    }
}
