//! The OpenAPI document of Guardian's routes, from the request and
//! response types the handlers use.

use serde_json::json;

use crate::api::{Accepted, REVIEW_PATH, REVIEWS_PATH, ReviewView, SARIF_PATH, SubmitBody};
use crate::{READ_SCOPE, WRITE_SCOPE, webhook};
use infra::edge::openapi::{Document, Operation};

pub fn document() -> serde_json::Value {
    let mut document = Document::new("Hive Guardian", "Golden-rule review of Python and Rust code: reviews, their SARIF, and the GitHub webhook.");
    let body = document.schema::<SubmitBody>();
    let accepted = document.schema::<Accepted>();
    let view = document.schema::<ReviewView>();
    let id = json!({"type": "string", "minLength": 1});
    let submit = Operation::post(REVIEWS_PATH, "submitReview")
        .summary("Queues files for review; answers 202 with the review's id.")
        .scope(WRITE_SCOPE)
        .json_body(body)
        .json_response(202, "queued", accepted)
        .link(202, "GetReview", "getReview", json!({"id": "$response.body#/id"}))
        .link(202, "GetReviewSarif", "getReviewSarif", json!({"id": "$response.body#/id"}));
    let show = Operation::get(REVIEW_PATH, "getReview")
        .summary("A review: its status, and once it succeeded its findings, metrics and summary.")
        .scope(READ_SCOPE)
        .path_parameter("id", id.clone(), "The review's id.")
        .json_response(200, "the review", view)
        .error(404, "no such review for this tenant");
    let sarif = Operation::get(SARIF_PATH, "getReviewSarif")
        .summary("The review's findings as SARIF 2.1.0.")
        .scope(READ_SCOPE)
        .path_parameter("id", id, "The review's id.")
        .response(200, "the SARIF log", "application/sarif+json", json!({"type": "object"}))
        .error(404, "no such review for this tenant")
        .error(409, "the review has not succeeded (yet)");
    let hook = Operation::post(webhook::PATH, "githubWebhook")
        .summary("GitHub's webhook: no token; the body's HMAC-SHA256 in X-Hub-Signature-256. Pull requests are queued.")
        .header("X-Hub-Signature-256", false, json!({"type": "string"}), "`sha256=` and the hex HMAC-SHA256 of the body.")
        .header("X-GitHub-Event", false, json!({"type": "string"}), "The event: `ping`, `pull_request`, …")
        .header("X-GitHub-Delivery", false, json!({"type": "string"}), "The delivery's id; a replay is answered once.")
        .body("application/json", json!({"type": "object"}))
        .json_response(200, "ping answered, a duplicate or an ignored event", json!({"type": "object"}))
        .json_response(202, "a pull request queued for review", json!({"type": "object"}))
        .error(400, "a signed payload that is not a usable event")
        .error(401, "the signature is missing or wrong, or no secret is configured");
    document.operation(submit).operation(show).operation(sarif).operation(hook);
    document.to_json()
}
