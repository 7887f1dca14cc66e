//! A loopback model server that replays recorded responses, for the tests
//! of the port and of its callers (no test needs the internet).
//!
//! A fixture is a JSON file `{"note", "status", "headers", "body",
//! "delay_ms"?}`: the provider's documented response, served as it is.
//! The server answers the fixtures in order, whatever the path, and keeps
//! every request it received.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::Error;

#[derive(Clone, Debug, Deserialize)]
pub struct Fixture {
    pub status: u16,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: serde_json::Value,
    #[serde(default)]
    pub delay_ms: u64,
}

impl Fixture {
    pub fn read(path: &Path) -> Result<Fixture, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

#[derive(Clone, Default)]
struct Shared {
    fixtures: Arc<Mutex<VecDeque<Fixture>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

/// The running server; it stops when dropped.
pub struct Replay {
    /// `http://127.0.0.1:PORT`, the base URL to configure.
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Replay {
    pub async fn start(fixtures: Vec<Fixture>) -> Result<Replay, Error> {
        let shared = Shared { fixtures: Arc::new(Mutex::new(fixtures.into())), received: Arc::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Unavailable { service: "replay", message: e.to_string() })?;
        let address = listener.local_addr().map_err(|e| Error::Unavailable { service: "replay", message: e.to_string() })?;
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Replay { url: format!("http://{address}"), shared, task })
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Fixtures not served yet.
    pub fn remaining(&self) -> usize {
        self.shared.fixtures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(shared): State<Shared>, request: axum::extract::Request) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let bytes = axum::body::to_bytes(request.into_body(), 16 << 20).await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    shared.received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Received { path, headers, body });
    let next = shared.fixtures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop_front();
    let Some(fixture) = next else {
        return (http::StatusCode::BAD_REQUEST, "the replay has no more fixtures").into_response();
    };
    if fixture.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fixture.delay_ms)).await;
    }
    let status = http::StatusCode::from_u16(fixture.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, fixture.body.to_string()).into_response();
    for (name, value) in &fixture.headers {
        if let (Ok(name), Ok(value)) = (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
