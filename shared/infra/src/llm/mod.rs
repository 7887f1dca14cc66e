//! The `llm` port: ask a language model for one JSON value that follows a
//! JSON Schema.
//!
//! The model only proposes; callers parse and check what it answers. Every
//! call reports its tokens, latency and [`Outcome`], whatever happened, so
//! callers can meter usage and fall back on their own deterministic path.
//!
//! Adapters: [`HttpLlm`] speaks the OpenAI-compatible chat completions API
//! (`response_format: json_schema`, strict), served by OpenAI, vLLM,
//! llama.cpp and Ollama, or the Anthropic Messages API (one forced tool whose
//! `input_schema` is the schema); [`NoLlm`] is `HIVE_LLM_PROVIDER=none`.
//! Calls time out, retry on 429 and 5xx honouring `Retry-After` (bounded by
//! the policy's `max_delay`) and sit behind a circuit breaker.

mod anthropic;
mod openai;
pub mod replay;

use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::Error;
use crate::config::{LlmConfig, LlmProvider};
use crate::resilience::{CircuitBreaker, RetryPolicy};

/// One question: answer `user` as a JSON value that follows `schema`.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmRequest {
    pub system: String,
    pub user: String,
    /// The JSON Schema of the answer. For OpenAI's strict mode every
    /// object must list all its properties as required and forbid others.
    pub schema: serde_json::Value,
    /// `^[a-zA-Z0-9_-]{1,64}$`: the response format's or the tool's name.
    pub schema_name: String,
    pub max_tokens: u32,
}

/// How a call ended. Only `Answered` carries an answer; the others say why
/// there is none, so the caller can fall back and record it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The answer: the JSON value as text (perhaps in code fences; see
    /// [`json_text`]). It is not checked against the schema here.
    Answered { text: String },
    /// The model declined to answer.
    Refused { reason: String },
    /// No answer within the timeout.
    TimedOut,
    /// Still 429 after the retries.
    RateLimited,
    /// 5xx after the retries, a transport error or the circuit is open.
    Unavailable { message: String },
    /// The provider answered something this adapter cannot read: another
    /// 4xx, a truncated answer, a body in neither wire format.
    Invalid { message: String },
    /// `HIVE_LLM_PROVIDER=none`.
    Disabled,
}

impl Outcome {
    /// The outcome as a stored word.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Answered { .. } => "answered",
            Outcome::Refused { .. } => "refused",
            Outcome::TimedOut => "timeout",
            Outcome::RateLimited => "rate_limited",
            Outcome::Unavailable { .. } => "unavailable",
            Outcome::Invalid { .. } => "invalid",
            Outcome::Disabled => "disabled",
        }
    }
}

/// What one call did: its outcome and what it consumed, summed over retries.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub outcome: Outcome,
    /// The model the provider reports, else the configured one.
    pub model: String,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub latency: Duration,
    /// HTTP attempts made (0 when nothing was sent).
    pub attempts: u32,
}

/// The port.
#[async_trait]
pub trait Llm: Send + Sync {
    async fn complete(&self, request: &LlmRequest) -> Completion;
    /// Whether calls can answer at all (false for [`NoLlm`]).
    fn enabled(&self) -> bool;
}

/// `HIVE_LLM_PROVIDER=none`.
pub struct NoLlm;

#[async_trait]
impl Llm for NoLlm {
    async fn complete(&self, _request: &LlmRequest) -> Completion {
        Completion { outcome: Outcome::Disabled, model: String::new(), tokens_in: 0, tokens_out: 0, latency: Duration::ZERO, attempts: 0 }
    }

    fn enabled(&self) -> bool {
        false
    }
}

/// The adapter for the configured provider.
pub fn from_config(config: &LlmConfig) -> Result<std::sync::Arc<dyn Llm>, Error> {
    Ok(match config.provider {
        LlmProvider::None => std::sync::Arc::new(NoLlm),
        _ => std::sync::Arc::new(HttpLlm::new(config.clone(), HttpLlm::standard_retry())?),
    })
}

/// The OpenAI-compatible and the Anthropic adapters.
pub struct HttpLlm {
    config: LlmConfig,
    retry: RetryPolicy,
    client: reqwest::Client,
    breaker: CircuitBreaker,
}

/// One provider answer, read from its wire format.
pub(crate) struct Reply {
    pub outcome: Outcome,
    pub model: Option<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

/// One HTTP exchange.
struct Exchange {
    status: u16,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

impl HttpLlm {
    /// Three attempts, waits from 1 s up to 30 s (a longer `Retry-After`
    /// is cut to 30 s).
    pub fn standard_retry() -> RetryPolicy {
        RetryPolicy { max_attempts: 3, base_delay: Duration::from_secs(1), max_delay: Duration::from_secs(30) }
    }

    pub fn new(config: LlmConfig, retry: RetryPolicy) -> Result<HttpLlm, Error> {
        let client = reqwest::Client::builder()
            .user_agent("hive")
            // The model's endpoint is configured, never taken from a request;
            // redirects are not followed so it cannot send calls elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Backend { service: "llm", message: e.to_string() })?;
        let breaker = CircuitBreaker::new("llm", 5, Duration::from_secs(30))?;
        Ok(HttpLlm { config, retry, client, breaker })
    }

    fn build(&self, request: &LlmRequest) -> reqwest::RequestBuilder {
        let base = &self.config.base_url;
        let key = self.config.api_key.as_ref().map(|k| k.expose());
        match self.config.provider {
            LlmProvider::Anthropic => {
                let builder = self
                    .client
                    .post(format!("{base}/v1/messages"))
                    .header("anthropic-version", anthropic::VERSION)
                    .json(&anthropic::body(&self.config.model, request));
                match key {
                    Some(key) => builder.header("x-api-key", key),
                    None => builder,
                }
            }
            _ => {
                let builder = self.client.post(format!("{base}/v1/chat/completions")).json(&openai::body(&self.config.model, request));
                match key {
                    Some(key) => builder.bearer_auth(key),
                    None => builder,
                }
            }
        }
    }

    fn read(&self, request: &LlmRequest, body: &[u8]) -> Reply {
        match self.config.provider {
            LlmProvider::Anthropic => anthropic::read(&request.schema_name, body),
            _ => openai::read(body),
        }
    }

    /// One attempt through the breaker. 429, 5xx and timeouts count as
    /// failures of the dependency; other answers do not.
    async fn attempt(&self, request: &LlmRequest) -> Result<Exchange, Error> {
        let mut busy: Option<Exchange> = None;
        let result = self
            .breaker
            .call(|| async {
                let send = self.build(request).send();
                let response = match tokio::time::timeout(self.config.timeout, send).await {
                    Err(_) => return Err(Error::Timeout { operation: "llm call".into(), after: self.config.timeout }),
                    Ok(Err(error)) if error.is_timeout() => {
                        return Err(Error::Timeout { operation: "llm call".into(), after: self.config.timeout });
                    }
                    Ok(Err(error)) => return Err(Error::Unavailable { service: "llm", message: transport(&error) }),
                    Ok(Ok(response)) => response,
                };
                let status = response.status().as_u16();
                let retry_after = retry_after(response.headers());
                let body = match tokio::time::timeout(self.config.timeout, response.bytes()).await {
                    Err(_) => return Err(Error::Timeout { operation: "llm call".into(), after: self.config.timeout }),
                    Ok(Err(error)) => return Err(Error::Unavailable { service: "llm", message: transport(&error) }),
                    Ok(Ok(bytes)) => bytes.to_vec(),
                };
                let exchange = Exchange { status, retry_after, body };
                if status == 429 || status >= 500 {
                    busy = Some(exchange);
                    return Err(Error::Unavailable { service: "llm", message: format!("the model answered {status}") });
                }
                Ok(exchange)
            })
            .await;
        match (result, busy) {
            (Err(_), Some(exchange)) => Ok(exchange),
            (result, _) => result,
        }
    }
}

#[async_trait]
impl Llm for HttpLlm {
    async fn complete(&self, request: &LlmRequest) -> Completion {
        let started = Instant::now();
        let mut completion = Completion {
            outcome: Outcome::Disabled,
            model: self.config.model.clone(),
            tokens_in: 0,
            tokens_out: 0,
            latency: Duration::ZERO,
            attempts: 0,
        };
        for attempt in 1..=self.retry.max_attempts {
            completion.attempts = attempt;
            let (outcome, wait) = match self.attempt(request).await {
                Err(Error::Timeout { .. }) => (Outcome::TimedOut, None),
                Err(error) => (Outcome::Unavailable { message: error.to_string() }, Some(self.retry.ceiling(attempt))),
                Ok(exchange) if exchange.status == 429 || exchange.status >= 500 => {
                    let outcome = if exchange.status == 429 {
                        Outcome::RateLimited
                    } else {
                        Outcome::Unavailable { message: format!("the model answered {}", exchange.status) }
                    };
                    let wait = exchange.retry_after.unwrap_or_else(|| self.retry.ceiling(attempt)).min(self.retry.max_delay);
                    (outcome, Some(wait))
                }
                Ok(exchange) if exchange.status >= 400 => {
                    let outcome = Outcome::Invalid { message: format!("the model answered {}: {}", exchange.status, excerpt(&exchange.body)) };
                    (outcome, None)
                }
                Ok(exchange) => {
                    let reply = self.read(request, &exchange.body);
                    completion.tokens_in += reply.tokens_in;
                    completion.tokens_out += reply.tokens_out;
                    if let Some(model) = reply.model {
                        completion.model = model;
                    }
                    (reply.outcome, None)
                }
            };
            completion.outcome = outcome;
            match wait {
                Some(wait) if attempt < self.retry.max_attempts => {
                    tracing::warn!(attempt, ?wait, outcome = completion.outcome.as_str(), "retrying the model");
                    tokio::time::sleep(wait).await;
                }
                _ => break,
            }
        }
        completion.latency = started.elapsed();
        completion
    }

    fn enabled(&self) -> bool {
        true
    }
}

/// `Retry-After` in seconds (`retry-after-ms` too, which OpenAI sends);
/// an HTTP date is ignored and the backoff applies.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0);
    number("retry-after-ms").map(|ms| Duration::from_secs_f64(ms / 1000.0)).or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// A transport error without the URL (it may name an internal host).
fn transport(error: &reqwest::Error) -> String {
    if error.is_connect() { "cannot connect to the model".into() } else { "the connection to the model failed".into() }
}

fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

/// The JSON inside an answer: the text between the first code fence and
/// the last, if there are fences (models add them against instructions),
/// else the trimmed text.
pub fn json_text(text: &str) -> &str {
    let text = text.trim();
    let Some(open) = text.find("```") else { return text };
    let after = &text[open + 3..];
    // The fence's info string (`json`) runs to the end of its line.
    let body = after.find('\n').map_or(after, |newline| &after[newline + 1..]);
    match body.rfind("```") {
        Some(close) => body[..close].trim(),
        None => body.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_are_stripped_and_plain_json_kept() {
        assert_eq!(json_text("  {\"a\": 1}\n"), "{\"a\": 1}");
        assert_eq!(json_text("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(json_text("Here it is:\n```\n[1, 2]\n```\nDone."), "[1, 2]");
        assert_eq!(json_text("```json\n{\"a\": 1}"), "{\"a\": 1}");
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        let mut dated = reqwest::header::HeaderMap::new();
        dated.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&dated), None);
    }
}
