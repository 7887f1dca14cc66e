//! The Anthropic Messages API wire format: the schema is the input schema
//! of one tool the model is forced to call, and the answer is that call's
//! `input`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{LlmRequest, Outcome, Reply};

/// The `anthropic-version` header.
pub(crate) const VERSION: &str = "2023-06-01";

pub(crate) fn body(model: &str, request: &LlmRequest) -> Value {
    json!({
        "model": model,
        "max_tokens": request.max_tokens,
        "system": request.system,
        "messages": [{"role": "user", "content": request.user}],
        "tools": [{
            "name": request.schema_name,
            "description": "Record the answer. Call this exactly once with the complete answer.",
            "input_schema": request.schema,
        }],
        "tool_choice": {"type": "tool", "name": request.schema_name},
    })
}

#[derive(Deserialize)]
struct Response {
    model: Option<String>,
    #[serde(default)]
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text { text: String },
    ToolUse { name: String, input: Value },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

pub(crate) fn read(tool: &str, body: &[u8]) -> Reply {
    let response: Response = match serde_json::from_slice(body) {
        Ok(response) => response,
        Err(error) => {
            return Reply { outcome: Outcome::Invalid { message: format!("not a message: {error}") }, model: None, tokens_in: 0, tokens_out: 0 };
        }
    };
    let (tokens_in, tokens_out) = response.usage.map_or((0, 0), |u| (u.input_tokens, u.output_tokens));
    let text = || {
        response.content.iter().filter_map(|b| if let Block::Text { text } = b { Some(text.as_str()) } else { None }).collect::<Vec<_>>().join("\n")
    };
    let called = response.content.iter().find_map(|b| match b {
        Block::ToolUse { name, input } if name == tool => Some(input),
        _ => None,
    });
    let outcome = match (response.stop_reason.as_deref(), called) {
        (Some("refusal"), _) => Outcome::Refused { reason: Some(text()).filter(|t| !t.is_empty()).unwrap_or_else(|| "the model refused".into()) },
        (Some("max_tokens"), _) => Outcome::Invalid { message: "the answer was cut off at max_tokens".into() },
        (_, Some(input)) => Outcome::Answered { text: input.to_string() },
        // A server that ignores the forced tool may still answer in text.
        (_, None) if !text().trim().is_empty() => Outcome::Answered { text: text() },
        (_, None) => Outcome::Invalid { message: "the message has neither the tool call nor text".into() },
    };
    Reply { outcome, model: response.model, tokens_in, tokens_out }
}
