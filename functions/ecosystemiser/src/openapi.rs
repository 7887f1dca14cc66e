//! The OpenAPI 3 document of the studies API, served at
//! `/v1/openapi.json`. A test checks that its paths and methods are exactly
//! the router's.

use serde_json::{Value, json};

/// The whole document.
pub fn document() -> Value {
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let read = json!([{"bearer": ["studies:read"]}]);
    let write = json!([{"bearer": ["studies:write"]}]);
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    let standard_errors = |mut responses: Value| {
        responses["401"] = error("missing or invalid bearer token");
        responses["403"] = error("the token lacks the scope");
        responses
    };
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Hive studies (EcoSystemiser)",
            "version": "1.0.0",
            "description": "Submit energy-system studies (optimisation, Pareto front, uncertainty), poll them, and fetch their results and reports. Every study belongs to the tenant of the token that submitted it; another tenant's study answers 404."
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string", "nullable": true},
                        "details": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
                    }}}
                },
                "ValidationError": {
                    "type": "object",
                    "required": ["path", "message"],
                    "properties": {
                        "path": {"type": "string", "example": "system.components[2].power_kw"},
                        "line": {"type": "integer", "nullable": true},
                        "message": {"type": "string"}
                    }
                },
                "SubmitStudy": {
                    "type": "object",
                    "required": ["kind", "system"],
                    "additionalProperties": false,
                    "properties": {
                        "kind": {"type": "string", "enum": ["optimize", "pareto", "uncertainty"]},
                        "system": {"type": "object", "description": "An energy-model v1 system document as JSON. Profiles inline (`profiles.inline`), as a file in `files` (`profiles.csv: <name>`), or an upload (`profiles.csv: uploads/<id>`)."},
                        "options": {"oneOf": [
                            {"$ref": "#/components/schemas/OptimizeOptions"},
                            {"$ref": "#/components/schemas/ParetoOptions"},
                            {"$ref": "#/components/schemas/UncertaintyOptions"}
                        ]},
                        "files": {"type": "object", "additionalProperties": {"type": "string"}, "description": "File name to CSV text, for files the system names."}
                    }
                },
                "OptimizeOptions": {"type": "object", "additionalProperties": false, "properties": {
                    "solver": {"type": "string", "enum": ["lp", "rule-based", "rolling"], "default": "lp"},
                    "window": {"type": "integer", "minimum": 1, "description": "rolling only"},
                    "overlap": {"type": "integer", "minimum": 0, "description": "rolling only"},
                    "objective": {"type": "string", "enum": ["cost", "co2"]},
                    "time_limit_s": {"type": "number", "exclusiveMinimum": true, "minimum": 0}
                }},
                "ParetoOptions": {"type": "object", "additionalProperties": false, "properties": {
                    "points": {"type": "integer", "minimum": 2, "maximum": 200, "default": 10},
                    "time_limit_s": {"type": "number"}
                }},
                "UncertaintyOptions": {"type": "object", "additionalProperties": false, "required": ["samples", "parameters"], "properties": {
                    "samples": {"type": "integer", "minimum": 1, "maximum": 2000},
                    "seed": {"type": "integer", "minimum": 0, "default": 0},
                    "sampling": {"type": "string", "enum": ["latin_hypercube", "sobol"], "default": "latin_hypercube"},
                    "parameters": {"type": "array", "items": {"type": "object", "required": ["target", "distribution"], "properties": {
                        "target": {"type": "string", "example": "house.scale"},
                        "distribution": {"type": "object", "required": ["type"], "properties": {
                            "type": {"type": "string", "enum": ["uniform", "normal", "triangular"]},
                            "low": {"type": "number"}, "high": {"type": "number"}, "mode": {"type": "number"},
                            "mean": {"type": "number"}, "std": {"type": "number"}
                        }}
                    }}},
                    "objective": {"type": "string", "enum": ["cost", "co2"]},
                    "time_limit_s": {"type": "number"}
                }},
                "Accepted": {"type": "object", "required": ["id", "status"], "properties": {
                    "id": {"type": "string"}, "status": {"type": "string"}, "links": {"type": "object"}
                }},
                "Study": {"type": "object", "required": ["id", "kind", "status", "progress", "timings"], "properties": {
                    "id": {"type": "string"},
                    "kind": {"type": "string", "enum": ["optimize", "pareto", "uncertainty"]},
                    "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "infeasible"]},
                    "progress": {"type": "object", "properties": {"done": {"type": "integer"}, "failed": {"type": "integer"}, "total": {"type": "integer"}}},
                    "timings": {"type": "object", "properties": {
                        "created_at": {"type": "string", "format": "date-time"},
                        "started_at": {"type": "string", "format": "date-time", "nullable": true},
                        "finished_at": {"type": "string", "format": "date-time", "nullable": true},
                        "queued_s": {"type": "number", "nullable": true},
                        "running_s": {"type": "number", "nullable": true}
                    }},
                    "error": {"type": "string", "nullable": true},
                    "objective": {"type": "number", "nullable": true},
                    "links": {"type": "object"}
                }},
                "Results": {"type": "object", "required": ["study", "kind", "status", "objective"], "description": "optimize: the engine's results document without series (they are at links.series); pareto: `front`; uncertainty: `summary`.", "properties": {
                    "study": {"type": "string"},
                    "kind": {"type": "string"},
                    "status": {"type": "string", "nullable": true},
                    "objective": {"type": "number", "nullable": true},
                    "links": {"type": "object"}
                }},
                "Upload": {"type": "object", "required": ["id", "reference", "upload"], "properties": {
                    "id": {"type": "string"},
                    "reference": {"type": "string", "description": "what to put in the system's profiles.csv"},
                    "upload": {"type": "object", "properties": {"url": {"type": "string"}, "method": {"type": "string"}, "headers": {"type": "object", "additionalProperties": {"type": "string"}}}},
                    "expires_in_s": {"type": "integer"}
                }}
            }
        },
        "paths": {
            "/v1/studies": {
                "post": {
                    "operationId": "submitStudy",
                    "summary": "Submit a study; validated synchronously, solved asynchronously.",
                    "security": write,
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255}, "description": "Retries with the same key return the first study."}],
                    "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SubmitStudy"}}}},
                    "responses": standard_errors(json!({
                        "202": {"description": "queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
                        "400": error("invalid system or options; `details` names each bad path"),
                        "413": error("body over the limit"),
                        "415": error("not application/json"),
                        "422": error("body of the wrong shape, or an Idempotency-Key reused for another request"),
                        "429": error("the tenant's submissions per minute are used up; see Retry-After")
                    }))
                },
                "get": {
                    "operationId": "listStudies",
                    "summary": "The tenant's studies, newest first (keyset pagination).",
                    "security": read,
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "infeasible"]}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page"}
                    ],
                    "responses": standard_errors(json!({
                        "200": {"description": "a page", "content": {"application/json": {"schema": {"type": "object", "properties": {
                            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Study"}},
                            "next_cursor": {"type": "string", "nullable": true}
                        }}}}},
                        "400": error("bad status, limit or cursor")
                    }))
                }
            },
            "/v1/studies/{id}": {
                "parameters": [id],
                "get": {
                    "operationId": "getStudy",
                    "summary": "Status, progress, timings and error.",
                    "security": read,
                    "responses": standard_errors(json!({
                        "200": {"description": "the study", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Study"}}}},
                        "404": error("no such study for this tenant")
                    }))
                },
                "delete": {
                    "operationId": "deleteStudy",
                    "summary": "Cancels (pending jobs are dropped) or removes a study and its stored objects.",
                    "security": write,
                    "responses": standard_errors(json!({
                        "204": {"description": "deleted"},
                        "404": error("no such study for this tenant")
                    }))
                }
            },
            "/v1/studies/{id}/results": {
                "parameters": [id],
                "get": {
                    "operationId": "getResults",
                    "summary": "The results document of a finished study.",
                    "security": read,
                    "responses": standard_errors(json!({
                        "200": {"description": "results", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Results"}}}},
                        "404": error("no such study, or it failed without results"),
                        "409": error("not finished yet")
                    }))
                }
            },
            "/v1/studies/{id}/series.csv": {
                "parameters": [id],
                "get": {
                    "operationId": "getSeries",
                    "summary": "Every series of an optimisation, one column per variable.",
                    "security": read,
                    "responses": standard_errors(json!({
                        "200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
                        "404": error("no such study, or it has no series"),
                        "409": error("not finished yet")
                    }))
                }
            },
            "/v1/studies/{id}/report": {
                "parameters": [id],
                "get": {
                    "operationId": "getReport",
                    "summary": "The HTML report of a finished study.",
                    "security": read,
                    "responses": standard_errors(json!({
                        "200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
                        "404": error("no such study, or it failed without a report"),
                        "409": error("not finished yet")
                    }))
                }
            },
            "/v1/uploads": {
                "post": {
                    "operationId": "createUpload",
                    "summary": "An upload target for a large profiles file: a presigned S3 URL, or this API's PUT route where the store is local.",
                    "security": write,
                    "responses": standard_errors(json!({
                        "201": {"description": "target", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Upload"}}}}
                    }))
                }
            },
            "/v1/uploads/{id}": {
                "parameters": [id],
                "put": {
                    "operationId": "putUpload",
                    "summary": "Direct upload of the file's bytes (at most 1 MiB).",
                    "security": write,
                    "requestBody": {"required": true, "content": {"text/csv": {"schema": {"type": "string"}}}},
                    "responses": standard_errors(json!({
                        "201": {"description": "stored", "content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}, "reference": {"type": "string"}}}}}},
                        "400": error("empty body"),
                        "404": error("not an upload id"),
                        "413": error("body over the limit")
                    }))
                }
            },
            "/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}
                }
            }
        }
    })
}
