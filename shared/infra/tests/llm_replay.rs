//! The `llm` port against a loopback server replaying the providers'
//! documented responses, in both wire formats.

use std::path::PathBuf;
use std::time::Duration;

use infra::config::{LlmConfig, LlmProvider, Secret};
use infra::llm::replay::{Fixture, Replay};
use infra::llm::{HttpLlm, Llm, LlmRequest, NoLlm, Outcome, json_text};
use infra::resilience::RetryPolicy;
use serde_json::{Value, json};

const WIRES: [(LlmProvider, &str); 2] = [(LlmProvider::OpenAi, "openai"), (LlmProvider::Anthropic, "anthropic")];

fn fixture(wire: &str, name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llm").join(wire).join(format!("{name}.json"));
    Fixture::read(&path).unwrap()
}

/// The plan every "good" fixture carries, read from the OpenAI one.
fn good_plan() -> Value {
    let body = fixture("openai", "good_plan").body;
    serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap()
}

fn request() -> LlmRequest {
    LlmRequest {
        system: "You plan software work.".into(),
        user: "Goal: add OAuth login to the customer portal".into(),
        schema: json!({"type": "object", "properties": {"tasks": {"type": "array"}}, "required": ["tasks"], "additionalProperties": false}),
        schema_name: "plan".into(),
        max_tokens: 4096,
    }
}

fn client(provider: LlmProvider, url: &str, timeout: Duration) -> HttpLlm {
    let config = LlmConfig {
        provider,
        base_url: url.into(),
        model: "test-model".into(),
        api_key: Some(Secret::new("sk-test-key")),
        timeout,
        ..LlmConfig::none()
    };
    HttpLlm::new(config, RetryPolicy::new(3, Duration::from_millis(10), Duration::from_secs(2)).unwrap()).unwrap()
}

async fn replay(wire: &str, names: &[&str]) -> Replay {
    Replay::start(names.iter().map(|name| fixture(wire, name)).collect()).await.unwrap()
}

fn answer(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Answered { text } => serde_json::from_str(json_text(text)).unwrap(),
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[tokio::test]
async fn a_good_plan_comes_back_with_its_usage_and_the_request_carries_the_schema() {
    for (provider, wire) in WIRES {
        let server = replay(wire, &["good_plan"]).await;
        let completion = client(provider, &server.url, Duration::from_secs(10)).complete(&request()).await;
        assert_eq!(answer(&completion.outcome), good_plan(), "{wire}");
        assert_eq!(completion.attempts, 1);
        let sent = &server.received()[0];
        match provider {
            LlmProvider::OpenAi => {
                assert_eq!((completion.tokens_in, completion.tokens_out), (812, 640));
                assert_eq!(completion.model, "gpt-4o-2024-08-06");
                assert_eq!(sent.path, "/v1/chat/completions");
                assert_eq!(sent.headers["authorization"], "Bearer sk-test-key");
                let format = &sent.body["response_format"];
                assert_eq!(format["type"], "json_schema");
                assert_eq!(format["json_schema"]["name"], "plan");
                assert_eq!(format["json_schema"]["strict"], true);
                assert_eq!(format["json_schema"]["schema"], request().schema);
                assert_eq!(sent.body["messages"][0]["role"], "system");
                assert_eq!(sent.body["messages"][1]["content"], request().user);
            }
            _ => {
                assert_eq!((completion.tokens_in, completion.tokens_out), (1024, 712));
                assert_eq!(completion.model, "claude-sonnet-4-5-20250929");
                assert_eq!(sent.path, "/v1/messages");
                assert_eq!(sent.headers["x-api-key"], "sk-test-key");
                assert_eq!(sent.headers["anthropic-version"], "2023-06-01");
                assert_eq!(sent.body["tool_choice"], json!({"type": "tool", "name": "plan"}));
                assert_eq!(sent.body["tools"][0]["input_schema"], request().schema);
                assert_eq!(sent.body["system"], request().system);
            }
        }
    }
}

#[tokio::test]
async fn fenced_cyclic_and_dangling_answers_come_through_for_the_caller_to_judge() {
    for (provider, wire) in WIRES {
        let server = replay(wire, &["fenced_plan", "cycle", "unknown_dependency", "not_json"]).await;
        let llm = client(provider, &server.url, Duration::from_secs(10));
        assert_eq!(answer(&llm.complete(&request()).await.outcome), good_plan(), "{wire}: fences are stripped");
        let cycle = answer(&llm.complete(&request()).await.outcome);
        assert_eq!(cycle["tasks"][0]["depends_on"], json!(["deploy"]), "{wire}");
        let dangling = answer(&llm.complete(&request()).await.outcome);
        assert_eq!(dangling["tasks"][4]["depends_on"], json!(["tests", "security-signoff"]), "{wire}");
        let prose = llm.complete(&request()).await.outcome;
        let Outcome::Answered { text } = prose else { panic!("{wire}: prose is still an answer") };
        assert!(serde_json::from_str::<Value>(json_text(&text)).is_err());
    }
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_then_succeeds() {
    for (provider, wire) in WIRES {
        let server = replay(wire, &["rate_limited", "good_plan"]).await;
        let completion = client(provider, &server.url, Duration::from_secs(10)).complete(&request()).await;
        assert_eq!(answer(&completion.outcome), good_plan(), "{wire}");
        assert_eq!(completion.attempts, 2);
        assert_eq!(server.received().len(), 2);
        // The fixture says Retry-After: 1, longer than the policy's 10 ms backoff.
        assert!(completion.latency >= Duration::from_secs(1), "{wire}: waited {:?}", completion.latency);
    }
}

#[tokio::test]
async fn rate_limits_and_5xx_that_persist_are_outcomes_after_the_bounded_retries() {
    for (provider, wire) in WIRES {
        let server = replay(wire, &["overloaded", "overloaded", "overloaded", "good_plan"]).await;
        let completion = client(provider, &server.url, Duration::from_secs(10)).complete(&request()).await;
        assert!(matches!(completion.outcome, Outcome::Unavailable { .. }), "{wire}: {:?}", completion.outcome);
        assert_eq!(completion.attempts, 3);
        assert_eq!(server.remaining(), 1, "{wire}: a fourth attempt was made");
    }
}

#[tokio::test]
async fn a_slow_model_times_out() {
    for (provider, wire) in WIRES {
        let server = replay(wire, &["slow"]).await;
        let completion = client(provider, &server.url, Duration::from_millis(300)).complete(&request()).await;
        assert_eq!(completion.outcome, Outcome::TimedOut, "{wire}");
        assert_eq!(completion.attempts, 1, "{wire}: a timeout is not retried");
    }
}

#[tokio::test]
async fn a_refusal_is_an_outcome_with_the_reason() {
    for (provider, wire) in WIRES {
        let server = replay(wire, &["refusal"]).await;
        let completion = client(provider, &server.url, Duration::from_secs(10)).complete(&request()).await;
        let Outcome::Refused { reason } = completion.outcome else { panic!("{wire}: {:?}", completion.outcome) };
        assert!(reason.contains("can't help"), "{wire}: {reason}");
    }
}

#[tokio::test]
async fn the_breaker_opens_after_five_failing_attempts_and_stops_calling() {
    let server = replay("openai", &["overloaded"; 6]).await;
    let config = LlmConfig {
        provider: LlmProvider::OpenAi,
        base_url: server.url.clone(),
        model: "m".into(),
        ..LlmConfig::none()
    };
    let llm = HttpLlm::new(config, RetryPolicy::new(1, Duration::from_millis(1), Duration::from_millis(1)).unwrap()).unwrap();
    for _ in 0..5 {
        assert!(matches!(llm.complete(&request()).await.outcome, Outcome::Unavailable { .. }));
    }
    let Outcome::Unavailable { message } = llm.complete(&request()).await.outcome else { panic!("expected unavailable") };
    assert!(message.contains("circuit open"), "{message}");
    assert_eq!(server.received().len(), 5);
}

#[tokio::test]
async fn no_provider_is_disabled_and_sends_nothing() {
    let completion = NoLlm.complete(&request()).await;
    assert_eq!(completion.outcome, Outcome::Disabled);
    assert_eq!(completion.attempts, 0);
    assert!(!NoLlm.enabled());
}
