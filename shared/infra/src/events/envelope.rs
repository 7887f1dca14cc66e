//! The CloudEvents 1.0 envelope (structured JSON mode) every event travels
//! in, on every bus, and as the outbox stores it.
//!
//! Besides the required attributes (`id`, `source`, `type`, `specversion`)
//! Hive always sets `time`, `subject` (the entity id) and
//! `datacontenttype`, and three extensions: `tenant`, `correlationid` and
//! `dataversion` (the payload's version; CloudEvents leaves versioning to
//! the producer). Extension names are lowercase alphanumerics, as the spec
//! requires.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Event, EventName};
use crate::Error;
use crate::queue::{Attributes, Message};
use crate::time::rfc3339;

pub const SPEC_VERSION: &str = "1.0";
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    pub specversion: String,
    /// Unique per event and kept across redeliveries and republishing: the
    /// consumers' idempotency key.
    pub id: String,
    /// The publishing function, e.g. `/hive/ecosystemiser`.
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    pub subject: String,
    pub datacontenttype: String,
    pub dataversion: u32,
    /// The tenant the event belongs to; `None` for platform events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub correlationid: String,
    pub data: serde_json::Value,
}

impl Envelope {
    /// Wraps a typed payload. `source` names the publishing function.
    pub fn new<E: Event>(
        source: &str,
        tenant: Option<&str>,
        correlation_id: &str,
        event: &E,
        now_ms: i64,
    ) -> Result<Envelope, Error> {
        let data = serde_json::to_value(event).map_err(|error| Error::invalid("data", error.to_string()))?;
        Ok(Envelope {
            specversion: SPEC_VERSION.to_owned(),
            id: uuid::Uuid::new_v4().to_string(),
            source: source.to_owned(),
            event_type: E::NAME.as_str().to_owned(),
            time: rfc3339(now_ms),
            subject: event.subject(),
            datacontenttype: "application/json".to_owned(),
            dataversion: E::VERSION,
            tenant: tenant.map(str::to_owned),
            correlationid: correlation_id.to_owned(),
            data,
        })
    }

    /// Reads an envelope off the wire. Anything that is not a CloudEvents
    /// 1.0 envelope of a registered type is `Invalid`: the consumer edge
    /// fails it permanently and it ends in the dead-letter queue.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, Error> {
        let envelope: Envelope = serde_json::from_slice(bytes)
            .map_err(|error| Error::invalid("envelope", format!("not a CloudEvents envelope: {error}")))?;
        if envelope.specversion != SPEC_VERSION {
            return Err(Error::invalid("specversion", format!("{:?} is not 1.0", envelope.specversion)));
        }
        envelope.name()?;
        Ok(envelope)
    }

    pub fn name(&self) -> Result<EventName, Error> {
        self.event_type.parse()
    }

    /// The typed payload. A different type, or a version this build does
    /// not know, is `Invalid` (permanent), never a panic.
    pub fn decode<E: Event>(&self) -> Result<E, Error> {
        if self.event_type != E::NAME.as_str() {
            return Err(Error::invalid("type", format!("expected {}, got {}", E::NAME, self.event_type)));
        }
        if self.dataversion != E::VERSION {
            return Err(Error::invalid(
                "dataversion",
                format!("{} version {} is unknown here (this build reads version {})", self.event_type, self.dataversion, E::VERSION),
            ));
        }
        serde_json::from_value(self.data.clone()).map_err(|error| Error::invalid("data", error.to_string()))
    }

    /// The message a bus carries: the envelope as its body, the type,
    /// correlation id and tenant as attributes (what filters select on),
    /// and the event id as the message id.
    pub fn to_message(&self) -> Result<Message, Error> {
        let body = serde_json::to_vec(self).map_err(|error| Error::invalid("envelope", error.to_string()))?;
        Ok(Message {
            id: self.id.clone(),
            body,
            attributes: Attributes {
                event_type: self.event_type.clone(),
                correlation_id: self.correlationid.clone(),
                tenant: self.tenant.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{StudyJobRequested, StudySubmitted};

    fn job() -> StudyJobRequested {
        StudyJobRequested { tenant: "acme".into(), study: "s1".into(), job: "optimize".into() }
    }

    #[test]
    fn an_envelope_carries_the_cloudevents_attributes_and_round_trips() {
        let envelope = Envelope::new("/hive/ecosystemiser", Some("acme"), "corr-1", &job(), 0).unwrap();
        let json = serde_json::to_value(&envelope).unwrap();
        for attribute in ["id", "source", "type", "specversion", "time", "subject", "tenant", "correlationid"] {
            assert!(json.get(attribute).is_some(), "{attribute} missing: {json}");
        }
        assert_eq!(json["type"], "study.job_requested");
        assert_eq!(json["subject"], "s1");
        let message = envelope.to_message().unwrap();
        assert_eq!(message.id, envelope.id);
        assert_eq!(message.attributes.event_type, "study.job_requested");
        assert_eq!(message.attributes.tenant.as_deref(), Some("acme"));
        assert_eq!(message.attributes.correlation_id, "corr-1");
        let back = Envelope::parse(&message.body).unwrap();
        assert_eq!(back.decode::<StudyJobRequested>().unwrap(), job());
    }

    #[test]
    fn unknown_types_versions_and_shapes_are_invalid_not_panics() {
        let envelope = Envelope::new("/t", None, "c", &job(), 0).unwrap();
        let mut unknown_type = serde_json::to_value(&envelope).unwrap();
        unknown_type["type"] = "study.exploded".into();
        let bytes = serde_json::to_vec(&unknown_type).unwrap();
        assert!(matches!(Envelope::parse(&bytes), Err(Error::Invalid { field, .. }) if field == "type"));

        let mut future = envelope.clone();
        future.dataversion = 2;
        let error = future.decode::<StudyJobRequested>().unwrap_err();
        assert!(error.to_string().contains("version 2 is unknown"), "{error}");

        assert!(matches!(envelope.decode::<StudySubmitted>(), Err(Error::Invalid { field, .. }) if field == "type"));
        for garbage in [&b"{not json"[..], b"{}", br#"{"specversion":"0.3"}"#] {
            assert!(Envelope::parse(garbage).is_err());
        }
    }
}
