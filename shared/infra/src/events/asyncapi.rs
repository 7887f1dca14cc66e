//! The AsyncAPI 3.0 document of every Hive event, derived from the
//! registry: one channel, message and send operation per [`EventName`],
//! the CloudEvents envelope as the message payload, and each payload's
//! JSON Schema from its struct. Nothing here is written by hand per event,
//! so the document cannot drift from the code.

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::envelope::CONTENT_TYPE;
use super::{EventName, payload_schema};

/// Where the component schemas live, as `$ref`s point.
const SCHEMAS: &str = "#/components/schemas/";

pub fn document() -> Value {
    let mut generator = SchemaSettings::draft07().with(|s| s.definitions_path = SCHEMAS.into()).into_generator();
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for event in EventName::ALL {
        let name = event.as_str();
        let data = payload_schema(event, &mut generator);
        channels.insert(
            name.to_owned(),
            json!({
                "address": name,
                "description": event.summary(),
                "messages": { name: { "$ref": format!("#/components/messages/{name}") } },
            }),
        );
        operations.insert(
            format!("publish.{name}"),
            json!({
                "action": "send",
                "summary": format!("A Hive function publishes {name} on the bus."),
                "channel": { "$ref": format!("#/channels/{name}") },
                "messages": [{ "$ref": format!("#/channels/{name}/messages/{name}") }],
            }),
        );
        messages.insert(
            name.to_owned(),
            json!({
                "name": name,
                "title": name,
                "summary": event.summary(),
                "contentType": CONTENT_TYPE,
                "headers": headers(name),
                "payload": envelope_schema(name, event.version(), data.to_value()),
            }),
        );
    }
    let schemas = Value::Object(generator.take_definitions(true));
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Hive events",
            "version": "1.0.0",
            "description": "Every event Hive's functions publish on the bus. Each travels in a CloudEvents 1.0 envelope (structured JSON mode); `type` is the channel's address and `data` the payload. Consumers receive each event at least once on their own queue and are idempotent by `id`.",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": { "messages": messages, "schemas": schemas },
    })
}

/// The bus attributes each message carries beside its body, which SNS
/// filter policies and RabbitMQ bindings select on.
fn headers(name: &str) -> Value {
    use crate::queue::wire;
    json!({
        "type": "object",
        "required": [wire::MESSAGE_ID, wire::EVENT_TYPE, wire::CORRELATION_ID],
        "properties": {
            wire::MESSAGE_ID: { "type": "string", "description": "The event id." },
            wire::EVENT_TYPE: { "type": "string", "const": name },
            wire::CORRELATION_ID: { "type": "string" },
            wire::TENANT: { "type": "string" },
        },
    })
}

fn envelope_schema(name: &str, version: u32, data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataversion", "correlationid", "data"],
        "properties": {
            "specversion": { "type": "string", "const": "1.0" },
            "id": { "type": "string", "description": "Unique per event; the consumers' idempotency key." },
            "source": { "type": "string", "description": "The publishing function." },
            "type": { "type": "string", "const": name },
            "time": { "type": "string", "format": "date-time" },
            "subject": { "type": "string", "description": "The id of the entity the event is about." },
            "datacontenttype": { "type": "string", "const": "application/json" },
            "dataversion": { "type": "integer", "const": version },
            "tenant": { "type": "string" },
            "correlationid": { "type": "string" },
            "data": data,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every `$ref` in the document, as a JSON pointer below the root.
    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn the_document_and_the_registry_list_the_same_events_both_ways() {
        let document = document();
        let registry: BTreeSet<String> = EventName::ALL.iter().map(|e| e.as_str().to_owned()).collect();
        let keys = |pointer: &str| -> BTreeSet<String> {
            document.pointer(pointer).unwrap().as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(keys("/channels"), registry);
        assert_eq!(keys("/components/messages"), registry);
        let operations: BTreeSet<String> =
            keys("/operations").into_iter().map(|k| k.trim_start_matches("publish.").to_owned()).collect();
        assert_eq!(operations, registry);
        for name in &registry {
            let payload = &document["components"]["messages"][name]["payload"];
            assert_eq!(payload["properties"]["type"]["const"], name.as_str());
        }
    }

    #[test]
    fn every_reference_resolves() {
        let document = document();
        let mut found = Vec::new();
        refs(&document, &mut found);
        assert!(found.len() > EventName::ALL.len() * 2);
        for target in found {
            let pointer = target.strip_prefix('#').unwrap().replace("~1", "/");
            assert!(document.pointer(&pointer).is_some(), "dangling $ref {target}");
        }
    }

    #[test]
    fn payload_schemas_describe_the_payload_fields() {
        let document = document();
        let schema = &document["components"]["schemas"]["StudyJobRequested"];
        let required: BTreeSet<&str> =
            schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(required, BTreeSet::from(["tenant", "study", "job"]));
        assert_eq!(document["asyncapi"], "3.0.0");
    }
}
