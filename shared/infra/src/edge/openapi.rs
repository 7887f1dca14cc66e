//! OpenAPI 3.0 documents built from the request, response and query types.
//!
//! An app describes each route as an [`Operation`]: its parameters, body and
//! responses take their schemas from Rust types through `schemars`
//! ([`Document::schema`]), so a document cannot drift from the types the
//! handlers read and write. The builder adds what every Hive route shares:
//! bearer security with the route's scope (and its 401 and 403), the JSON
//! error shape of [`ApiError`](crate::edge::ApiError), and the platform's
//! own answers (413 for an oversized body, 415 and 422 for a JSON body of
//! the wrong type or shape). OpenAPI links say which response feeds which
//! request, so a stateful client (schemathesis) can follow a resource from
//! its creation.
//!
//! Each app builds its own [`Document`]; [`merge`] joins several into the one
//! that `hive serve` answers at [`OPENAPI_PATH`], and [`route`] serves one.

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::get;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/v1/openapi.json";
/// The OpenAPI version of every document.
pub const OPENAPI_VERSION: &str = "3.0.3";
/// The name of the bearer security scheme.
pub const BEARER: &str = "bearer";

/// States the range of a fixed-width integer (`format: uint32` and the
/// like), which schemars leaves open above: without it a client may send a
/// value the server cannot read, and that the schema admits.
fn bound_integers(schema: &mut schemars::Schema) {
    let Some(object) = schema.as_object_mut() else { return };
    let range: (i128, i128) = match object.get("format").and_then(Value::as_str) {
        Some("uint8") => (0, u8::MAX.into()),
        Some("uint16") => (0, u16::MAX.into()),
        Some("uint32") => (0, u32::MAX.into()),
        Some("uint64" | "uint") => (0, i64::MAX.into()),
        Some("int8") => (i8::MIN.into(), i8::MAX.into()),
        Some("int16") => (i16::MIN.into(), i16::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        Some("int64" | "int") => (i64::MIN.into(), i64::MAX.into()),
        _ => return,
    };
    object.entry("minimum").or_insert_with(|| json!(range.0 as i64));
    object.entry("maximum").or_insert_with(|| json!(range.1 as i64));
}

/// The schema of `T` written out in full, with no `$ref` into the
/// components: for a type whose parts have names too plain to share a
/// merged document's components (`Weights`, `GradePoints`), or a schema the
/// caller reshapes.
pub fn inline_schema<T: JsonSchema>() -> Value {
    let mut schema = SchemaSettings::openapi3()
        .with(|settings| settings.inline_subschemas = true)
        .with_transform(schemars::transform::RecursiveTransform(bound_integers))
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
    }
    schema
}

/// One app's document under construction.
pub struct Document {
    title: String,
    description: String,
    operations: Vec<Operation>,
    generator: SchemaGenerator,
}

impl Document {
    pub fn new(title: &str, description: &str) -> Document {
        let mut generator = SchemaSettings::openapi3()
            .with_transform(schemars::transform::RecursiveTransform(bound_integers))
            .into_generator();
        // The platform's error shape is a component of every document.
        let _ = generator.subschema_for::<ErrorResponse>();
        Document { title: title.to_owned(), description: description.to_owned(), operations: Vec::new(), generator }
    }

    /// The schema of `T` for a parameter, body or response: a `$ref` into
    /// the document's components, or the schema itself for a simple type.
    pub fn schema<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    pub fn operation(&mut self, operation: Operation) -> &mut Document {
        self.operations.push(operation);
        self
    }

    /// The finished OpenAPI document.
    pub fn to_json(&mut self) -> Value {
        let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for operation in &self.operations {
            let item = paths.entry(operation.path.clone()).or_default();
            assert!(
                item.insert(operation.method.to_owned(), operation.to_json()).is_none(),
                "{} {} is documented twice",
                operation.method,
                operation.path
            );
        }
        let schemas = self.generator.take_definitions(true);
        // Taking the definitions empties the generator; put them back so the
        // document can be rendered again.
        self.generator.definitions_mut().extend(schemas.clone());
        json!({
            "openapi": OPENAPI_VERSION,
            "info": {"title": self.title, "version": env!("CARGO_PKG_VERSION"), "description": self.description},
            "servers": [{"url": "/"}],
            "paths": paths,
            "components": {
                "securitySchemes": {BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
                "schemas": schemas,
            },
        })
    }
}

/// One method on one path.
pub struct Operation {
    method: &'static str,
    path: String,
    id: String,
    summary: String,
    /// `None`: open to anyone; `Some(scope)`: a bearer token with the scope.
    scope: Option<Option<String>>,
    parameters: Vec<Value>,
    request_body: Option<Value>,
    responses: BTreeMap<u16, Value>,
}

impl Operation {
    pub fn get(path: &str, id: &str) -> Operation {
        Operation::new("get", path, id)
    }

    pub fn post(path: &str, id: &str) -> Operation {
        Operation::new("post", path, id)
    }

    pub fn put(path: &str, id: &str) -> Operation {
        Operation::new("put", path, id)
    }

    pub fn delete(path: &str, id: &str) -> Operation {
        Operation::new("delete", path, id)
    }

    fn new(method: &'static str, path: &str, id: &str) -> Operation {
        Operation {
            method,
            path: path.to_owned(),
            id: id.to_owned(),
            summary: String::new(),
            scope: None,
            parameters: Vec::new(),
            request_body: None,
            responses: BTreeMap::new(),
        }
    }

    pub fn summary(mut self, summary: &str) -> Operation {
        self.summary = summary.to_owned();
        self
    }

    /// Requires a bearer token carrying `scope`: documents the security
    /// requirement and the 401 and 403 answers.
    pub fn scope(mut self, scope: &str) -> Operation {
        self.scope = Some(Some(scope.to_owned()));
        self
    }

    /// Requires a valid bearer token, whatever its scopes.
    pub fn authenticated(mut self) -> Operation {
        self.scope = Some(None);
        self
    }

    /// A path parameter; every `{name}` in the path needs one.
    pub fn path_parameter(self, name: &str, schema: Value, description: &str) -> Operation {
        self.parameter("path", name, true, schema, description)
    }

    pub fn query(self, name: &str, schema: Value, description: &str) -> Operation {
        self.parameter("query", name, false, schema, description)
    }

    pub fn header(self, name: &str, required: bool, schema: Value, description: &str) -> Operation {
        self.parameter("header", name, required, schema, description)
    }

    /// The query parameters of a flat query type, one per property, from
    /// its schema (`T` must be a struct whose fields are strings, numbers or
    /// string enums, as `axum::extract::Query` reads them).
    pub fn query_of<T: JsonSchema>(mut self, document: &mut Document) -> Operation {
        let schema = document.generator.root_schema_for::<T>().to_value();
        let required: Vec<&str> =
            schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let properties = schema["properties"].as_object().cloned().unwrap_or_default();
        for (name, mut property) in properties {
            let description = property.as_object_mut().and_then(|p| p.remove("description"));
            let mut parameter = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": property});
            if let Some(description) = description {
                parameter["description"] = description;
            }
            self.parameters.push(parameter);
        }
        self
    }

    fn parameter(mut self, location: &str, name: &str, required: bool, schema: Value, description: &str) -> Operation {
        let mut parameter = json!({"name": name, "in": location, "required": required, "schema": schema});
        if !description.is_empty() {
            parameter["description"] = description.into();
        }
        self.parameters.push(parameter);
        self
    }

    /// A required JSON body: also documents the platform's 400 (malformed
    /// JSON), 413, 415 and 422, unless the operation documents its own.
    pub fn json_body(mut self, schema: Value) -> Operation {
        self.request_body = Some(json!({"required": true, "content": {"application/json": {"schema": schema}}}));
        self.platform_error(400, "malformed JSON");
        self.platform_error(413, "the body is over the size limit");
        self.platform_error(415, "the body is not application/json");
        self.platform_error(422, "the body is JSON of the wrong shape; `field` names where");
        self
    }

    /// A required body of another media type: also documents the 413.
    pub fn body(mut self, media_type: &str, schema: Value) -> Operation {
        self.request_body = Some(json!({"required": true, "content": {media_type: {"schema": schema}}}));
        self.platform_error(413, "the body is over the size limit");
        self
    }

    /// An error the platform answers before the handler runs; an answer the
    /// operation documents itself (before or after) takes precedence.
    fn platform_error(&mut self, status: u16, description: &str) {
        self.responses.entry(status).or_insert_with(|| {
            json!({"description": description, "content": {"application/json": {"schema": error_schema()}}})
        });
    }

    /// A JSON response.
    pub fn json_response(self, status: u16, description: &str, schema: Value) -> Operation {
        self.response(status, description, "application/json", schema)
    }

    /// A response with a body of `media_type`.
    pub fn response(mut self, status: u16, description: &str, media_type: &str, schema: Value) -> Operation {
        self.responses
            .insert(status, json!({"description": description, "content": {media_type: {"schema": schema}}}));
        self
    }

    /// A response without a body.
    pub fn empty_response(mut self, status: u16, description: &str) -> Operation {
        self.responses.insert(status, json!({"description": description}));
        self
    }

    /// An error answer in the platform's JSON error shape.
    pub fn error(self, status: u16, description: &str) -> Operation {
        self.json_response(status, description, error_schema())
    }

    /// A header the `status` response carries.
    pub fn response_header(mut self, status: u16, name: &str, schema: Value, description: &str) -> Operation {
        let response = self.responses.get_mut(&status).expect("declare the response before its headers");
        response["headers"][name] = json!({"description": description, "schema": schema});
        self
    }

    /// An OpenAPI link from the `status` response to `operation_id`, whose
    /// `parameters` are runtime expressions (`$response.body#/id`).
    pub fn link(mut self, status: u16, name: &str, operation_id: &str, parameters: Value) -> Operation {
        let response = self.responses.get_mut(&status).expect("declare the response before its links");
        response["links"][name] = json!({"operationId": operation_id, "parameters": parameters});
        self
    }

    fn to_json(&self) -> Value {
        let mut responses: BTreeMap<u16, Value> = self.responses.clone();
        let security = match &self.scope {
            None => json!([]),
            Some(scope) => {
                let fallback = |description: &str| json!({"description": description, "content": {"application/json": {"schema": error_schema()}}});
                responses.entry(401).or_insert_with(|| fallback("missing, expired or invalid bearer token"));
                if scope.is_some() {
                    responses.entry(403).or_insert_with(|| fallback("the token lacks the scope"));
                }
                json!([{BEARER: scope.iter().collect::<Vec<_>>()}])
            }
        };
        let mut operation = json!({
            "operationId": self.id,
            "summary": self.summary,
            "security": security,
            "responses": responses.into_iter().map(|(status, r)| (status.to_string(), r)).collect::<Map<_, _>>(),
        });
        if !self.parameters.is_empty() {
            operation["parameters"] = self.parameters.clone().into();
        }
        if let Some(body) = &self.request_body {
            operation["requestBody"] = body.clone();
        }
        operation
    }
}

/// The platform's error body, as [`ApiError`](crate::edge::ApiError) writes it.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Serialize, JsonSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code, such as `invalid_query`.
    pub code: String,
    pub message: String,
    /// The input at fault, when one is: a body path, parameter or header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub field: Option<String>,
}

/// A `$ref` to the platform's error shape, for composing response schemas.
pub fn error_schema() -> Value {
    json!({"$ref": "#/components/schemas/Error"})
}

/// One document from several apps' documents: their paths (a path and
/// method documented twice is an error) and their component schemas (one
/// name must mean one schema), plus the document's own route.
pub fn merge(title: &str, description: &str, documents: &[Value]) -> Result<Value, String> {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for document in documents {
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            let merged = paths.entry(path.clone()).or_insert_with(|| json!({}));
            for (method, operation) in item.as_object().into_iter().flatten() {
                if merged.get(method).is_some() {
                    return Err(format!("{method} {path} is documented by two apps"));
                }
                merged[method] = operation.clone();
            }
        }
        for (name, schema) in document["components"]["schemas"].as_object().into_iter().flatten() {
            match schemas.get(name) {
                Some(existing) if existing != schema => {
                    return Err(format!("two apps define the schema `{name}` differently"));
                }
                _ => {
                    schemas.insert(name.clone(), schema.clone());
                }
            }
        }
    }
    let mut merged = json!({
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": env!("CARGO_PKG_VERSION"), "description": description},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas,
        },
    });
    document_itself(&mut merged);
    Ok(merged)
}

/// Adds `GET /v1/openapi.json` to a document that is about to be served.
fn document_itself(document: &mut Value) {
    document["paths"][OPENAPI_PATH] = json!({"get": {
        "operationId": "openapi",
        "summary": "This document.",
        "security": [],
        "responses": {"200": {"description": "OpenAPI 3.0", "content": {"application/json": {"schema": {"type": "object"}}}}},
    }});
}

/// A router serving `document` (with its own route added) at [`OPENAPI_PATH`], without a token.
pub fn route(mut document: Value) -> Router {
    if document["paths"].get(OPENAPI_PATH).is_none() {
        document_itself(&mut document);
    }
    let document = std::sync::Arc::new(document);
    Router::new().route(OPENAPI_PATH, get(move || async move { axum::Json((*document).clone()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Thing {
        id: String,
        size: Option<u32>,
    }

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Page {
        /// How many.
        limit: Option<u32>,
        cursor: Option<String>,
    }

    fn app(prefix: &str) -> Value {
        let mut document = Document::new(prefix, "test");
        let thing = document.schema::<Thing>();
        let created = Operation::post(&format!("/v1/{prefix}"), &format!("create_{prefix}"))
            .scope(&format!("{prefix}:write"))
            .json_body(thing.clone())
            .json_response(201, "created", thing.clone())
            .link(201, "get", &format!("get_{prefix}"), json!({"id": "$response.body#/id"}));
        let read = Operation::get(&format!("/v1/{prefix}/{{id}}"), &format!("get_{prefix}"))
            .authenticated()
            .path_parameter("id", json!({"type": "string"}), "")
            .query_of::<Page>(&mut document)
            .json_response(200, "the thing", thing)
            .error(404, "none");
        document.operation(created).operation(read);
        document.to_json()
    }

    #[test]
    fn operations_carry_security_errors_links_and_components() {
        let document = app("a");
        let post = &document["paths"]["/v1/a"]["post"];
        assert_eq!(post["security"], json!([{"bearer": ["a:write"]}]));
        for status in ["201", "400", "401", "403", "413", "415", "422"] {
            assert!(post["responses"].get(status).is_some(), "{status}");
        }
        assert_eq!(post["responses"]["201"]["links"]["get"]["operationId"], "get_a");
        let get = &document["paths"]["/v1/a/{id}"]["get"];
        assert_eq!(get["security"], json!([{"bearer": []}]));
        assert!(get["responses"].get("403").is_none(), "no scope, no 403");
        let names: Vec<&str> = get["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["id", "cursor", "limit"]);
        assert_eq!(get["parameters"][2]["description"], "How many.");
        assert_eq!(get["parameters"][2]["required"], false);
        let schemas = document["components"]["schemas"].as_object().unwrap();
        assert!(schemas.contains_key("Thing") && schemas.contains_key("Error"), "{schemas:?}");
        assert_eq!(schemas["Thing"]["required"], json!(["id"]));
    }

    #[test]
    fn documents_merge_and_collisions_are_errors() {
        let merged = merge("all", "every app", &[app("a"), app("b")]).unwrap();
        let paths: Vec<&String> = merged["paths"].as_object().unwrap().keys().collect();
        assert_eq!(paths, ["/v1/a", "/v1/a/{id}", "/v1/b", "/v1/b/{id}", OPENAPI_PATH]);
        assert_eq!(merged["openapi"], OPENAPI_VERSION);
        let error = merge("all", "", &[app("a"), app("a")]).unwrap_err();
        assert!(error.contains("post /v1/a"), "{error}");
        let mut other = app("b");
        other["components"]["schemas"]["Thing"] = json!({"type": "string"});
        assert!(merge("all", "", &[app("a"), other]).unwrap_err().contains("Thing"));
    }
}
