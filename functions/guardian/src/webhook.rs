//! `POST /v1/guardian/webhooks/github`: GitHub's webhook. No bearer token:
//! the body's HMAC-SHA256 under `HIVE_GITHUB_WEBHOOK_SECRET`, sent as
//! `X-Hub-Signature-256: sha256=<hex>`, is checked in constant time, and a
//! bad or missing one is a 401. Each `X-GitHub-Delivery` is handled once.
//! `ping` is answered; `pull_request` `opened`, `synchronize` and
//! `reopened` are queued as reviews and answered 202 at once.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use http::{HeaderMap, StatusCode};
use infra::edge::ApiError;
use infra::events::{CodeAnalysisRequested, PullRequestTarget};
use serde_json::{Value, json};

use crate::{Guardian, now_ms};

pub const PATH: &str = "/v1/guardian/webhooks/github";
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const EVENT_HEADER: &str = "x-github-event";
pub const DELIVERY_HEADER: &str = "x-github-delivery";
const ACTIONS: &[&str] = &["opened", "synchronize", "reopened"];

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// `secret`. The comparison is `Mac::verify_slice`'s, in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_digest) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else { return false };
    let Ok(expected) = hex::decode(hex_digest) else { return false };
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(secret) else { return false };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The header GitHub would send for `body`, for tests and tools.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails.
    let Ok(mut mac) = <HmacSha256 as KeyInit>::new_from_slice(secret) else { return String::new() };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
}

pub async fn receive(State(guardian): State<Guardian>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let Some(secret) = guardian.settings.webhook_secret.as_ref() else {
        return Err(unauthorized("no webhook secret is configured (HIVE_GITHUB_WEBHOOK_SECRET)"));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if !verify_signature(secret.expose().as_bytes(), &body, header(SIGNATURE_HEADER)) {
        return Err(unauthorized("X-Hub-Signature-256 is missing or does not match the body"));
    }
    let delivery = header(DELIVERY_HEADER)
        .filter(|d| !d.is_empty() && d.len() <= 100)
        .ok_or_else(|| ApiError::bad_request("missing_delivery", "X-GitHub-Delivery is required").with_field(DELIVERY_HEADER))?
        .to_owned();
    let event = header(EVENT_HEADER).unwrap_or_default().to_owned();
    let now = now_ms();
    if !guardian.repo.first_delivery(&delivery, now).await? {
        return Ok((StatusCode::OK, axum::Json(json!({"status": "duplicate", "delivery": delivery}))).into_response());
    }
    match event.as_str() {
        "ping" => Ok((StatusCode::OK, axum::Json(json!({"status": "pong"}))).into_response()),
        "pull_request" => pull_request(&guardian, &delivery, &body, now).await,
        _ => Ok((StatusCode::OK, axum::Json(json!({"status": "ignored", "event": event}))).into_response()),
    }
}

async fn pull_request(guardian: &Guardian, delivery: &str, body: &[u8], now: i64) -> Result<Response, ApiError> {
    let payload: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_payload", format!("the payload is not JSON: {e}")))?;
    let action = payload["action"].as_str().unwrap_or_default();
    if !ACTIONS.contains(&action) {
        return Ok((StatusCode::OK, axum::Json(json!({"status": "ignored", "action": action}))).into_response());
    }
    let target = (|| {
        Some(PullRequestTarget {
            repository: payload["repository"]["full_name"].as_str()?.to_owned(),
            number: payload["pull_request"]["number"].as_u64().or_else(|| payload["number"].as_u64())?,
            head_sha: payload["pull_request"]["head"]["sha"].as_str()?.to_owned(),
        })
    })()
    .ok_or_else(|| ApiError::bad_request("invalid_payload", "a pull_request event needs repository.full_name, number and pull_request.head.sha"))?;
    let tenant = guardian.settings.github_tenant.clone();
    let id = uuid::Uuid::new_v4().to_string();
    let request = CodeAnalysisRequested {
        tenant: tenant.clone(),
        analysis: id.clone(),
        files: None,
        pull_request: Some(target.clone()),
        fail_level: "error".into(),
    };
    let envelope = guardian.event(&tenant, delivery, &request)?;
    let staged = guardian.repo.insert(&tenant, &id, "github", now, envelope).await?;
    guardian.outbox.relay(staged, now).await;
    tracing::info!(review = %id, repository = %target.repository, number = target.number, "pull request queued");
    Ok((StatusCode::ACCEPTED, axum::Json(json!({"status": "queued", "id": id}))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_the_same_body_and_secret() {
        // GitHub's documented example: secret "It's a Secret to Everybody",
        // payload "Hello, World!".
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(b"It's a Secret to Everybody", b"Hello, World!", Some(header)));
        assert_eq!(sign(b"It's a Secret to Everybody", b"Hello, World!"), header);
        assert!(!verify_signature(b"It's a Secret to Everybody", b"Hello, World?", Some(header)));
        assert!(!verify_signature(b"another secret", b"Hello, World!", Some(header)));
        assert!(!verify_signature(b"It's a Secret to Everybody", b"Hello, World!", None));
        assert!(!verify_signature(b"It's a Secret to Everybody", b"Hello, World!", Some("sha1=abc")));
        assert!(!verify_signature(b"It's a Secret to Everybody", b"Hello, World!", Some("sha256=zz")));
    }
}
