//! What Notifications stores, as the API shows it.

use notifications_engine::{Priority, QuietHours};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "NotificationChannel")]
pub enum Kind {
    Webhook,
    Slack,
    Email,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::Slack => "slack",
            Kind::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        [Kind::Webhook, Kind::Slack, Kind::Email].into_iter().find(|kind| kind.as_str() == text)
    }

    /// The provider a message of this kind is billed by, for the cost estimate.
    pub fn provider(self) -> &'static str {
        match self {
            Kind::Webhook => "http",
            Kind::Slack => "slack",
            Kind::Email => "smtp",
        }
    }
}

/// A notification's state.
///
/// `held` waits for quiet hours to end, `digest` for its endpoint's digest
/// window; `pending` is due at `due_at`; `delivering` is leased by a
/// dispatcher; `delivered` and `dead` are final until a replay; `digested`
/// went out inside a digest message.
pub const STATUSES: &[&str] = &["held", "digest", "pending", "delivering", "delivered", "dead", "digested"];

#[derive(Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "NotificationEndpoint")]
pub struct Endpoint {
    pub id: String,
    pub kind: Kind,
    /// The webhook or Slack URL, or the email address.
    pub target: String,
    #[schemars(range(min = 1, max = 1000))]
    pub rate_limit_per_s: Option<i64>,
    pub quiet_hours: Option<QuietHours>,
    /// Low-priority messages are gathered into one message per window.
    #[schemars(range(min = 60, max = 86400))]
    pub digest_window_s: Option<i64>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    #[schemars(range(min = 0))]
    pub consecutive_failures: i64,
    /// Unix milliseconds.
    #[schemars(range(min = 0))]
    pub created_at: i64,
    #[schemars(range(min = 0))]
    pub updated_at: i64,
    /// The signing secrets, newest first; never shown.
    #[serde(skip)]
    pub secrets: Vec<String>,
}

/// Without the secrets, so that a logged endpoint cannot leak them.
impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("id", &self.id).field("kind", &self.kind).field("target", &self.target).finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[schemars(rename = "NotificationTemplate")]
pub struct TemplateRecord {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    #[schemars(range(min = 0))]
    pub created_at: i64,
    #[schemars(range(min = 0))]
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "NotificationSubscription")]
pub struct SubscriptionRecord {
    pub id: String,
    pub event_type: String,
    /// Dot-separated payload paths and the values they must equal.
    pub filter: serde_json::Map<String, serde_json::Value>,
    /// The tenant's template; without one, the event's built-in template.
    pub template_id: Option<String>,
    pub endpoint_id: String,
    pub priority: Priority,
    #[schemars(range(min = 0))]
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Notification")]
pub struct Notification {
    pub id: String,
    pub endpoint_id: String,
    pub channel: Kind,
    pub priority: Priority,
    pub status: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub template_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// The platform event it came from.
    pub source_event: Option<String>,
    #[schemars(range(min = 0))]
    pub attempts: i64,
    /// When it is (or was) next due, Unix ms.
    #[schemars(range(min = 0))]
    pub due_at: i64,
    #[schemars(range(min = 0))]
    pub created_at: i64,
    #[schemars(range(min = 0))]
    pub delivered_at: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "NotificationAttempt")]
pub struct Attempt {
    #[schemars(range(min = 1))]
    pub n: i64,
    /// Unix ms.
    #[schemars(range(min = 0))]
    pub at: i64,
    /// The HTTP status or SMTP reply code; none for a timeout or a refused connection.
    #[schemars(range(min = 0, max = 999))]
    pub status_code: Option<i64>,
    /// `delivered`, `retry`, `permanent` or `disabled`.
    pub outcome: String,
    #[schemars(range(min = 0))]
    pub latency_ms: i64,
    /// The first bytes of the answer.
    pub response: String,
    pub error: Option<String>,
}
