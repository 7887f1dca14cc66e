//! What the app's tests and the end-to-end tests share: the routes as the
//! platform serves them, tokens, requests without a socket, and a worker
//! loop that drains the queue the way the local runner does.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::Request;
use infra::auth::{self, Verifier};
use infra::config::JwtConfig;
use infra::edge::{Message, platform_router};
use infra::queue::Queue;
use tower::ServiceExt;

use crate::{Studies, WORKER, api};

/// The HS256 secret test tokens are signed with.
pub const SECRET: &str = "studies-test-secret-studies-test-secret";

/// The app's router behind the platform layers, and a way to mint tokens.
#[derive(Clone)]
pub struct Client {
    pub router: Router,
    jwt: JwtConfig,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{} is not JSON ({error}): {}", self.status, self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    pub fn new(studies: Studies, jwt: &JwtConfig) -> Client {
        let verifier = Arc::new(Verifier::hs256(SECRET.as_bytes(), jwt));
        Client { router: platform_router(api::routes(studies, verifier)), jwt: jwt.clone() }
    }

    /// A token for `tenant` with read and write scopes.
    pub fn token(&self, tenant: &str) -> String {
        self.token_with(tenant, &["studies:read", "studies:write"])
    }

    pub fn token_with(&self, tenant: &str, scopes: &[&str]) -> String {
        auth::mint_dev_token(SECRET.as_bytes(), &self.jwt, tenant, "test", scopes, Duration::from_secs(600))
            .expect("token")
    }

    /// Sends a request; `json` bodies get `content-type: application/json`.
    pub async fn send(&self, method: &str, uri: &str, token: Option<&str>, json: Option<&serde_json::Value>) -> Reply {
        let mut builder = Request::builder().method(method).uri(uri).header("host", "127.0.0.1:8080");
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match json {
            Some(json) => {
                builder = builder.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.raw(builder.body(body).expect("request")).await
    }

    pub async fn raw(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec();
        Reply { status, content_type, body }
    }
}

/// Feeds every message on `queue` to the worker until the queue stays empty
/// for `quiet`, acknowledging successes and releasing failures, as the local
/// runner does. Returns how many deliveries it handled.
pub async fn drain(studies: &Studies, queue: &Arc<dyn Queue>, quiet: Duration) -> usize {
    let mut handled = 0;
    loop {
        let deliveries = queue.receive(10, quiet).await.expect("receive");
        if deliveries.is_empty() {
            return handled;
        }
        for delivery in deliveries {
            handled += 1;
            let message = Message::from_delivery(WORKER.name, &delivery);
            match studies.handle_message(message).await {
                Ok(()) => queue.ack(&delivery).await.expect("ack"),
                Err(error) => {
                    tracing::warn!(%error, "test worker: message failed");
                    queue.nack(&delivery).await.expect("nack");
                }
            }
        }
    }
}

/// Three hours of a house on the grid: the smallest study worth solving.
pub fn tiny_system() -> serde_json::Value {
    serde_json::json!({
        "name": "tiny", "timesteps": 3, "timestep_hours": 1.0,
        "profiles": {"inline": {"load": [1.0, 2.0, 3.0]}},
        "components": [
            {"name": "grid", "type": "grid", "import_price": 0.2, "import_max_kw": 10},
            {"name": "house", "type": "electric_demand", "profile": "load"}
        ]
    })
}

/// A small system with a cost–CO2 trade-off: `steps` hours of a house on a
/// dirty grid, with PV and a battery to size.
pub fn tradeoff_system(steps: usize) -> serde_json::Value {
    let sun: Vec<f64> =
        (0..steps).map(|t| (((t % 24) as f64 - 6.0) / 12.0 * std::f64::consts::PI).sin().max(0.0)).collect();
    let load: Vec<f64> = (0..steps).map(|t| 0.6 + 0.4 * (((t % 24) as f64 - 18.0).abs() < 3.0) as u8 as f64).collect();
    let price: Vec<f64> = (0..steps).map(|t| if (t % 24) >= 17 && (t % 24) < 21 { 0.35 } else { 0.2 }).collect();
    serde_json::json!({
        "name": "tradeoff", "timesteps": steps, "timestep_hours": 1.0, "objective": "cost",
        "profiles": {"inline": {"sun": sun, "load": load, "price": price}},
        "components": [
            {"name": "grid", "type": "grid", "import_price": "price", "import_max_kw": 10, "import_co2_kg_per_kwh": 0.4},
            {"name": "pv", "type": "solar_pv", "capacity": {"min": 0, "max": 20, "cost_per_unit_year": 120}, "profile": "sun"},
            {"name": "battery", "type": "battery", "energy_kwh": {"min": 0, "max": 40, "cost_per_unit_year": 60},
             "power_kw": {"min": 0, "max": 10, "cost_per_unit_year": 20}, "efficiency_charge": 0.95, "efficiency_discharge": 0.95},
            {"name": "house", "type": "electric_demand", "profile": "load"}
        ]
    })
}
