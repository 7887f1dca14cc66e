//! The OpenAI-compatible chat completions wire format.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{LlmRequest, Outcome, Reply};

pub(crate) fn body(model: &str, request: &LlmRequest) -> Value {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.user},
        ],
        "max_tokens": request.max_tokens,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "strict": true, "schema": request.schema},
        },
    })
}

#[derive(Deserialize)]
struct Response {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

pub(crate) fn read(body: &[u8]) -> Reply {
    let response: Response = match serde_json::from_slice(body) {
        Ok(response) => response,
        Err(error) => {
            return Reply { outcome: Outcome::Invalid { message: format!("not a chat completion: {error}") }, model: None, tokens_in: 0, tokens_out: 0 };
        }
    };
    let (tokens_in, tokens_out) = response.usage.map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
    let outcome = match response.choices.into_iter().next() {
        None => Outcome::Invalid { message: "the completion has no choices".into() },
        Some(Choice { message: Message { refusal: Some(reason), .. }, .. }) => Outcome::Refused { reason },
        Some(Choice { finish_reason: Some(reason), .. }) if reason == "content_filter" => {
            Outcome::Refused { reason: "the provider's content filter stopped the answer".into() }
        }
        Some(Choice { finish_reason: Some(reason), .. }) if reason == "length" => {
            Outcome::Invalid { message: "the answer was cut off at max_tokens".into() }
        }
        Some(Choice { message: Message { content: Some(text), .. }, .. }) => Outcome::Answered { text },
        Some(_) => Outcome::Invalid { message: "the completion has no content".into() },
    };
    Reply { outcome, model: response.model, tokens_in, tokens_out }
}
