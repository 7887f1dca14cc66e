//! The OpenAPI document of Guardian's routes, from the request and
//! response types the handlers use.

use serde_json::json;

use crate::api::{
    Accepted, REVIEW_PATH, REVIEWS_PATH, ReviewView, SARIF_PATH, SubmitBody, UPLOAD_FILES_PATH, UPLOADS_PATH, UploadPart,
};
use crate::{READ_SCOPE, WRITE_SCOPE, webhook};
use infra::edge::openapi::{Document, Operation};
use infra::uploads::{UploadRoutes, UploadView};

pub fn document() -> serde_json::Value {
    let mut document = Document::new("Hive Guardian", "Golden-rule review of Python and Rust code: reviews, their SARIF, and the GitHub webhook.");
    let body = document.schema::<SubmitBody>();
    let accepted = document.schema::<Accepted>();
    let view = document.schema::<ReviewView>();
    let part = document.schema::<UploadPart>();
    let upload = document.schema::<UploadView>();
    let id = json!({"type": "string", "minLength": 1});
    let submit = Operation::post(REVIEWS_PATH, "submitReview")
        .summary("Queues files, inline or an upload, for review; answers 202 with the review's id.")
        .scope(WRITE_SCOPE)
        .json_body(body)
        .json_response(202, "queued", accepted)
        .error(422, "a field is invalid: a path, neither or both of `files` and `upload`, or no such upload")
        .link(202, "GetReview", "getReview", json!({"id": "$response.body#/id"}))
        .link(202, "GetReviewSarif", "getReviewSarif", json!({"id": "$response.body#/id"}));
    let routes = UploadRoutes {
        uploads_path: UPLOADS_PATH,
        files_path: UPLOAD_FILES_PATH,
        create_id: "createUpload",
        add_id: "addUploadFiles",
        submit_id: "submitReview",
        scope: WRITE_SCOPE,
        also_refused: "",
    };
    let [create_upload, add_files] = routes.operations(part, upload, id.clone());
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
    document.operation(submit).operation(create_upload).operation(add_files).operation(show).operation(sarif).operation(hook);
    let mut document = document.to_json();
    // The review of an upload takes its id in the body, which the link
    // builder cannot say: the stateful phase chains upload and review.
    let link = format!("/paths/{}/post/responses/201/links/ReviewUpload", UPLOADS_PATH.replace('/', "~1"));
    if let Some(link) = document.pointer_mut(&link) {
        link["requestBody"] = json!({"upload": "$response.body#/id"});
    }
    document
}
