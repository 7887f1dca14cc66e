//! The OpenAPI document of the studies API, built from the types the
//! handlers read and write ([`crate::api`], [`crate::model`],
//! [`crate::system_schema`]) with the platform's builder
//! ([`infra::edge::openapi`]). A test checks that its paths and methods are
//! exactly the router's; `schemathesis` checks the server against it.

use ecosystemiser_engine::results::Status;
use infra::edge::openapi::{Document, Operation, error_schema};
use schemars::JsonSchema;
use serde_json::{Value, json};

use crate::api::{
    Accepted, CSV, CSV_PATTERN, IDEMPOTENCY_KEY, InvalidStudy, ListQuery, Stored, StudyPage, StudyView, Upload,
};
use crate::model::{Kind, SubmitStudy};
use crate::{READ_SCOPE, WRITE_SCOPE};

/// The whole document (without its own route, which whoever serves it adds).
pub fn document() -> Value {
    let mut doc = Document::new(
        "Hive studies (EcoSystemiser)",
        "Submit energy-system studies (optimisation, Pareto front, uncertainty), poll them, and fetch their \
         results and reports. Every study belongs to the tenant of the token that submitted it; another tenant's \
         study answers 404.",
    );
    let submit = doc.schema::<SubmitStudy>();
    let accepted = doc.schema::<Accepted>();
    let invalid = doc.schema::<InvalidStudy>();
    let study = doc.schema::<StudyView>();
    let page = doc.schema::<StudyPage>();
    let results = doc.schema::<ResultsDocument>();
    let upload = doc.schema::<Upload>();
    let stored = doc.schema::<Stored>();
    let uuid = json!({"type": "string", "format": "uuid"});
    let study_id = |operation: Operation| operation.path_parameter("id", uuid.clone(), "the study's id");
    let from_study = json!({"id": "$response.body#/id"});

    let operations = [
        Operation::post("/v1/studies", "submitStudy")
            .summary("Submit a study; validated at once, solved asynchronously.")
            .scope(WRITE_SCOPE)
            .header(
                IDEMPOTENCY_KEY,
                false,
                json!({"type": "string", "pattern": "^[!-~]{1,255}$"}),
                "Retries with the same key return the first study (1 to 255 visible ASCII characters).",
            )
            .json_body(submit)
            .json_response(202, "queued", accepted)
            .response_header(202, "Location", json!({"type": "string"}), "the study")
            .link(202, "GetStudy", "getStudy", from_study.clone())
            .link(202, "DeleteStudy", "deleteStudy", from_study.clone())
            .link(202, "GetResults", "getResults", from_study.clone())
            .link(202, "GetReport", "getReport", from_study.clone())
            .json_response(
                400,
                "an invalid system or options (`details` names each bad path), malformed JSON, or a bad header",
                json!({"anyOf": [invalid, error_schema()]}),
            )
            .error(429, "the tenant's submissions per minute are used up; see Retry-After")
            .response_header(429, "Retry-After", json!({"type": "integer"}), "seconds to wait"),
        Operation::get("/v1/studies", "listStudies")
            .summary("The tenant's studies, newest first, a page at a time.")
            .scope(READ_SCOPE)
            .query_of::<ListQuery>(&mut doc)
            .json_response(200, "a page", page)
            .error(400, "a bad status, limit or cursor; `field` names it"),
        study_id(Operation::get("/v1/studies/{id}", "getStudy"))
            .summary("Status, progress, timings and error.")
            .scope(READ_SCOPE)
            .json_response(200, "the study", study)
            .error(404, "no such study for this tenant"),
        study_id(Operation::delete("/v1/studies/{id}", "deleteStudy"))
            .summary("Cancels (pending jobs are dropped) or removes a study and its stored objects.")
            .scope(WRITE_SCOPE)
            .empty_response(204, "deleted")
            .error(404, "no such study for this tenant"),
        study_id(Operation::get("/v1/studies/{id}/results", "getResults"))
            .summary("The results document of a finished study.")
            .scope(READ_SCOPE)
            .json_response(200, "results", results)
            .error(404, "no such study, or it failed without results")
            .error(409, "not finished yet"),
        study_id(Operation::get("/v1/studies/{id}/series.csv", "getSeries"))
            .summary("Every series of an optimisation, one column per variable.")
            .scope(READ_SCOPE)
            .response(200, "CSV", CSV, json!({"type": "string"}))
            .error(404, "no such study, or it has no series")
            .error(409, "not finished yet"),
        study_id(Operation::get("/v1/studies/{id}/report", "getReport"))
            .summary("The HTML report of a finished study.")
            .scope(READ_SCOPE)
            .response(200, "HTML", "text/html", json!({"type": "string"}))
            .error(404, "no such study, or it failed without a report")
            .error(409, "not finished yet"),
        Operation::post("/v1/uploads", "createUpload")
            .summary(
                "An upload target for a large profiles file: a presigned S3 URL, or this API's PUT route where \
                 the store is local.",
            )
            .scope(WRITE_SCOPE)
            .json_response(201, "target", upload)
            .link(201, "PutUpload", "putUpload", json!({"id": "$response.body#/id"})),
        Operation::put("/v1/uploads/{id}", "putUpload")
            .summary("Direct upload of the file: UTF-8 CSV text, at most 1 MiB.")
            .scope(WRITE_SCOPE)
            .path_parameter("id", uuid.clone(), "the id `POST /v1/uploads` gave")
            .body(CSV, json!({"type": "string", "pattern": CSV_PATTERN, "description":
                "A header row of column names, then a row per step; the rows are checked when a study names the upload."}))
            .json_response(201, "stored", stored)
            .error(400, "not a header row followed by data rows, or not UTF-8")
            .error(404, "not an upload id")
            .error(415, "not text/csv"),
    ];
    for operation in operations {
        doc.operation(operation);
    }
    doc.to_json()
}

/// What `GET /v1/studies/{id}/results` answers: for an optimisation the
/// engine's results document without its series (they are at
/// `links.series`), for a Pareto study its `front`, for an uncertainty
/// study its `summary`; `status` and `objective` always at the top.
#[derive(JsonSchema)]
#[schemars(rename = "Results")]
#[allow(dead_code)]
struct ResultsDocument {
    #[schemars(extend("format" = "uuid"))]
    study: String,
    kind: Kind,
    status: Option<ResultStatus>,
    objective: Option<f64>,
    links: ResultLinks,
}

/// How the solve ended, as the engine's [`Status`] is written.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ResultStatus {
    Optimal,
    Infeasible,
    Unbounded,
    Unreliable,
    TimeLimit,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct ResultLinks {
    study: String,
    report: String,
    /// Optimisations only.
    #[serde(default)]
    series: Option<String>,
}

/// The engine's statuses, as JSON; the schema's enum must list each.
pub fn engine_statuses() -> Vec<Value> {
    [Status::Optimal, Status::Infeasible, Status::Unbounded, Status::Unreliable, Status::TimeLimit]
        .iter()
        .map(|status| serde_json::to_value(status).expect("a status is a string"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_status_enum_is_the_engines() {
        let document = document();
        let schema = &document["components"]["schemas"]["ResultStatus"];
        assert_eq!(schema["enum"], Value::from(engine_statuses()), "{schema}");
    }

    #[test]
    fn options_are_discriminated_by_kind() {
        let document = document();
        let submit = &document["components"]["schemas"]["SubmitStudy"];
        let variants = submit["oneOf"].as_array().unwrap();
        let by_kind: Vec<(&str, &str)> = variants
            .iter()
            .map(|v| {
                let kind = v["properties"]["kind"]["enum"][0].as_str().unwrap();
                let options = v["properties"]["options"]["$ref"].as_str().unwrap().rsplit('/').next().unwrap();
                (kind, options)
            })
            .collect();
        assert_eq!(
            by_kind,
            [("optimize", "OptimizeOptions"), ("pareto", "ParetoOptions"), ("uncertainty", "UncertaintyOptions")]
        );
        for variant in variants {
            assert_eq!(variant["additionalProperties"], false, "{variant}");
            assert!(variant["properties"]["options"].get("nullable").is_none(), "{variant}");
        }
    }
}
