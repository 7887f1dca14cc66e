//! Logging and the ids that tie one piece of work together across functions.
//!
//! Two ids travel with every piece of work:
//! - the request id names one HTTP request or one message delivery;
//! - the correlation id names the whole chain of work a user action started,
//!   so it is copied from the incoming request into every message the
//!   handler publishes, and from a message into the messages its consumer
//!   publishes in turn.
//!
//! Over HTTP they are the `x-request-id` and `x-correlation-id` headers
//! (generated when absent, echoed in the response). On a queue the
//! correlation id is the [`CORRELATION_ID_ATTRIBUTE`] message attribute; the
//! request id of a delivery is the queue's message id.

use http::{HeaderMap, HeaderValue};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";
/// The message attribute that carries the correlation id on a queue (the
/// queue port's wire name, so SQS, RabbitMQ and Lambda triggers agree).
pub const CORRELATION_ID_ATTRIBUTE: &str = crate::queue::wire::CORRELATION_ID;

/// Longest id accepted from a caller; anything longer, or with characters
/// outside `[A-Za-z0-9._:-]`, is replaced by a generated one so that a
/// client cannot inject text into logs.
const MAX_ID_LEN: usize = 128;

/// Installs the process's `tracing` subscriber: JSON lines for Lambda
/// (CloudWatch parses them), readable lines locally. The level comes from
/// `RUST_LOG` and defaults to `info`. Calling it twice keeps the first
/// subscriber, so tests may call it freely.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal; a log file or pipe gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    // An error only means a subscriber is already installed.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// The ids of one HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIds {
    pub request_id: String,
    pub correlation_id: String,
}

impl RequestIds {
    /// Takes the ids from the request headers, generating what is missing. A
    /// request that starts a chain of work has no correlation id yet; it gets
    /// its own request id as one.
    pub fn from_headers(headers: &HeaderMap) -> RequestIds {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).and_then(accept_id);
        let request_id = header(REQUEST_ID_HEADER).unwrap_or_else(new_id);
        let correlation_id = header(CORRELATION_ID_HEADER).unwrap_or_else(|| request_id.clone());
        RequestIds { request_id, correlation_id }
    }

    /// Writes both ids into response (or outgoing request) headers.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        // Both ids are ASCII by construction (`accept_id` or a UUID).
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            headers.insert(REQUEST_ID_HEADER, value);
        }
        if let Ok(value) = HeaderValue::from_str(&self.correlation_id) {
            headers.insert(CORRELATION_ID_HEADER, value);
        }
    }

    /// The span an HTTP request runs in.
    pub fn http_span(&self, method: &http::Method, path: &str) -> tracing::Span {
        tracing::info_span!(
            "http",
            method = %method,
            path = %path,
            request_id = %self.request_id,
            correlation_id = %self.correlation_id,
        )
    }
}

/// The correlation id of a message, from its attribute value, or a new one
/// when the publisher did not set it (the message then starts a chain).
pub fn correlation_id_from_attribute(value: Option<&str>) -> String {
    value.and_then(accept_id).unwrap_or_else(new_id)
}

/// The span one message delivery runs in.
pub fn message_span(queue: &str, message_id: &str, correlation_id: &str) -> tracing::Span {
    tracing::info_span!("message", queue = %queue, message_id = %message_id, correlation_id = %correlation_id)
}

/// The span one scheduled run executes in.
pub fn schedule_span(schedule: &str, run_id: &str) -> tracing::Span {
    tracing::info_span!("schedule", schedule = %schedule, run_id = %run_id, correlation_id = %run_id)
}

/// A fresh id: a random UUID.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn accept_id(value: &str) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    ok.then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn ids_are_kept_when_given() {
        let ids = RequestIds::from_headers(&headers(&[("x-request-id", "req-1"), ("x-correlation-id", "corr-1")]));
        assert_eq!(ids, RequestIds { request_id: "req-1".into(), correlation_id: "corr-1".into() });
    }

    #[test]
    fn missing_ids_are_generated_and_a_new_chain_correlates_to_its_request() {
        let ids = RequestIds::from_headers(&HeaderMap::new());
        assert_eq!(ids.request_id.len(), 36);
        assert_eq!(ids.correlation_id, ids.request_id);
    }

    #[test]
    fn hostile_ids_are_replaced() {
        let long = "a".repeat(MAX_ID_LEN + 1);
        for bad in ["has space", "line\tbreak", "quote\"", long.as_str()] {
            let ids = RequestIds::from_headers(&headers(&[("x-request-id", bad)]));
            assert_ne!(ids.request_id, bad);
        }
    }

    #[test]
    fn ids_round_trip_through_headers() {
        let ids = RequestIds { request_id: "r".into(), correlation_id: "c".into() };
        let mut map = HeaderMap::new();
        ids.write_headers(&mut map);
        assert_eq!(RequestIds::from_headers(&map), ids);
    }

    #[test]
    fn message_correlation() {
        assert_eq!(correlation_id_from_attribute(Some("abc")), "abc");
        assert_eq!(correlation_id_from_attribute(None).len(), 36);
        assert_eq!(correlation_id_from_attribute(Some("bad value")).len(), 36);
    }
}
