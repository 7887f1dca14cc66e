//! The registry of event names: every event Hive publishes or consumes is
//! named here, once, so a typo is a compile error rather than a message
//! nobody consumes.
//!
//! On the wire an event name is its dotted string (`study.submitted`): the
//! queue message attribute, the EventBridge `detail-type`, and the JSON
//! produced by serde all use [`EventName::as_str`]. Adding an event is one
//! variant plus one line in [`EventName::ALL`] and in `as_str`; the tests
//! check that the three agree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventName {
    /// A user submitted a study; the orchestrator splits it into jobs.
    StudySubmitted,
    /// One job of a study (an optimisation, a Pareto point, a sample) is
    /// waiting for a worker.
    StudyJobRequested,
    /// One job of a study finished (successfully or not).
    StudyJobCompleted,
    /// Every job of a study finished and the results are aggregated.
    StudyCompleted,
    /// A study cannot complete.
    StudyFailed,
    TaskCreated,
    TaskCompleted,
    TaskFailed,
}

impl EventName {
    pub const ALL: [EventName; 8] = [
        EventName::StudySubmitted,
        EventName::StudyJobRequested,
        EventName::StudyJobCompleted,
        EventName::StudyCompleted,
        EventName::StudyFailed,
        EventName::TaskCreated,
        EventName::TaskCompleted,
        EventName::TaskFailed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventName::StudySubmitted => "study.submitted",
            EventName::StudyJobRequested => "study.job_requested",
            EventName::StudyJobCompleted => "study.job_completed",
            EventName::StudyCompleted => "study.completed",
            EventName::StudyFailed => "study.failed",
            EventName::TaskCreated => "task.created",
            EventName::TaskCompleted => "task.completed",
            EventName::TaskFailed => "task.failed",
        }
    }
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
            .ok_or_else(|| Error::invalid("event", format!("unknown event name {name:?}")))
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
            assert!(["study", "task"].contains(&entity), "{event}");
            assert!(action.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{event}");
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        assert!(
            matches!("study.Submitted".parse::<EventName>(), Err(Error::Invalid { field, .. }) if field == "event")
        );
        assert!(serde_json::from_str::<EventName>("\"nope\"").is_err());
    }
}
