//! The three channels: a signed webhook, a Slack incoming webhook and an
//! email over SMTP. Each makes one attempt and reports what came back;
//! [`notifications_engine::outcome`] decides what that means.

use std::time::{Duration, Instant};

use infra::Error;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use notifications_engine::signature::{self, Secret};
use notifications_engine::{Outcome, outcome, slack};

use crate::model::{Endpoint, Kind, Notification};
use crate::settings::Settings;

/// The first bytes of an answer kept in the attempt log.
pub const RESPONSE_BYTES: usize = 512;

/// What one attempt got back.
#[derive(Clone, Debug)]
pub struct Sent {
    pub status_code: Option<u16>,
    pub outcome: Outcome,
    pub latency: Duration,
    pub response: String,
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct Channels {
    http: reqwest::Client,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    allow_private: bool,
}

impl Channels {
    pub fn new(settings: &Settings) -> Result<Channels, Error> {
        let builder = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64);
        let http = infra::ssrf::guard(builder, settings.allow_private_targets)
            .build()
            .map_err(|error| Error::Config(format!("the notifications HTTP client: {error}")))?;
        let smtp = match &settings.smtp {
            None => None,
            Some(smtp) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url).map_err(|error| Error::Config(format!("HIVE_SMTP_URL: {error}")))?;
                let mut transport = transport.timeout(Some(settings.timeout));
                if let Some((user, password)) = &smtp.credentials {
                    transport = transport.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
                }
                let from: Mailbox = smtp.from.parse().map_err(|error| Error::Config(format!("HIVE_SMTP_FROM: {error}")))?;
                Some((transport.build(), from))
            }
        };
        Ok(Channels { http, smtp, allow_private: settings.allow_private_targets })
    }

    pub async fn send(&self, endpoint: &Endpoint, notification: &Notification, now_ms: i64) -> Sent {
        match endpoint.kind {
            Kind::Webhook => self.webhook(endpoint, notification, now_ms).await,
            Kind::Slack => {
                let body = slack::payload(&notification.subject, &notification.text).to_string().into_bytes();
                self.post(&endpoint.target, body, Vec::new()).await
            }
            Kind::Email => self.email(endpoint, notification).await,
        }
    }

    async fn webhook(&self, endpoint: &Endpoint, notification: &Notification, now_ms: i64) -> Sent {
        let body = webhook_body(notification, now_ms);
        let secrets: Vec<Secret> = endpoint.secrets.iter().filter_map(|s| Secret::parse(s).ok()).collect();
        let timestamp = now_ms / 1000;
        let headers = vec![
            ("webhook-id", notification.id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature::header(&secrets, &notification.id, timestamp, &body)),
        ];
        self.post(&endpoint.target, body, headers).await
    }

    async fn post(&self, url: &str, body: Vec<u8>, headers: Vec<(&'static str, String)>) -> Sent {
        let started = Instant::now();
        // An IP literal skips the resolver's guard, so the URL is checked too.
        if let Err(refused) = infra::ssrf::check_url(url, self.allow_private).await {
            return failed(started, Outcome::Permanent, format!("refused target: {refused}"));
        }
        let mut request = self.http.post(url).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Err(error) => failed(started, Outcome::Retry { after: None }, if error.is_timeout() { "timed out".into() } else { format!("{error}") }),
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let bytes = response.bytes().await.unwrap_or_default();
                Sent {
                    status_code: Some(status),
                    outcome: outcome::classify(Some(status), retry_after.as_deref(), infra::time::now_ms()),
                    latency: started.elapsed(),
                    response: first_bytes(&bytes),
                    error: None,
                }
            }
        }
    }

    async fn email(&self, endpoint: &Endpoint, notification: &Notification) -> Sent {
        let started = Instant::now();
        let Some((transport, from)) = &self.smtp else {
            return failed(started, Outcome::Retry { after: None }, "no SMTP relay is configured (HIVE_SMTP_URL)".into());
        };
        let to: Mailbox = match endpoint.target.parse() {
            Ok(to) => to,
            Err(error) => return failed(started, Outcome::Permanent, format!("bad address: {error}")),
        };
        let html = notification.html.clone().unwrap_or_else(|| format!("<pre>{}</pre>", escape(&notification.text)));
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(notification.subject.clone())
            .message_id(Some(format!("<{}@hive>", notification.id)))
            .multipart(MultiPart::alternative_plain_html(notification.text.clone(), html));
        let message = match message {
            Ok(message) => message,
            Err(error) => return failed(started, Outcome::Permanent, format!("cannot build the message: {error}")),
        };
        match transport.send(message).await {
            Ok(response) => Sent {
                status_code: Some(code(&response.code().to_string())),
                outcome: Outcome::Delivered,
                latency: started.elapsed(),
                response: first_bytes(response.message().collect::<Vec<_>>().join(" ").as_bytes()),
                error: None,
            },
            Err(error) => {
                let status = error.status().map(|c| code(&c.to_string()));
                let outcome = match status {
                    Some(_) => outcome::classify_smtp(status),
                    None => Outcome::Retry { after: None },
                };
                Sent { status_code: status, outcome, latency: started.elapsed(), response: String::new(), error: Some(first_bytes(error.to_string().as_bytes())) }
            }
        }
    }
}

/// The Standard Webhooks payload: `type`, `timestamp` and `data`.
pub fn webhook_body(notification: &Notification, now_ms: i64) -> Vec<u8> {
    let body = serde_json::json!({
        "type": "notification",
        "timestamp": infra::time::rfc3339(now_ms),
        "data": {
            "id": notification.id,
            "priority": notification.priority,
            "subject": notification.subject,
            "text": notification.text,
            "html": notification.html,
            "source_event": notification.source_event,
        },
    });
    body.to_string().into_bytes()
}

fn failed(started: Instant, outcome: Outcome, error: String) -> Sent {
    Sent { status_code: None, outcome, latency: started.elapsed(), response: String::new(), error: Some(error) }
}

fn code(text: &str) -> u16 {
    text.parse().unwrap_or(0)
}

fn first_bytes(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(RESPONSE_BYTES)];
    String::from_utf8_lossy(cut).into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
