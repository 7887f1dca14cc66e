//! What the SQS and S3 adapters share: building an SDK config from explicit
//! settings, and sorting SDK errors into retryable and permanent.

use crate::Error;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: String,
    /// LocalStack or s3s-fs; `None` means the real AWS endpoints.
    pub endpoint_url: Option<String>,
    /// Static keys for local stand-ins. `None` uses the SDK's default chain
    /// (environment, then the Lambda execution role).
    pub credentials: Option<StaticCredentials>,
}

#[derive(Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    /// Never prints the secret, since settings end up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    // A short connect timeout makes an absent endpoint fail fast; there is
    // no operation timeout because SQS long polls legitimately take 20 s.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .timeout_config(timeouts);
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(keys) = &settings.credentials {
        loader = loader.credentials_provider(Credentials::new(
            keys.access_key_id.clone(),
            keys.secret_access_key.clone(),
            None,
            None,
            "hive-static",
        ));
    }
    loader.load().await
}

/// Transport failures, timeouts, throttling and 5xx answers are retryable;
/// a 404-ish code is NotFound; any other service answer is permanent.
pub(crate) fn map_sdk_error<E, R>(service: &'static str, error: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&error));
    match &error {
        SdkError::TimeoutError(_) => Error::Timeout {
            operation: format!("{service} request"),
            after: CONNECT_TIMEOUT,
        },
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Error::Unavailable { service, message }
        }
        SdkError::ServiceError(context) => {
            classify_service_error(service, context.err().code(), message)
        }
        _ => Error::Backend { service, message },
    }
}

fn classify_service_error(service: &'static str, code: Option<&str>, message: String) -> Error {
    let code = code.unwrap_or_default();
    let retryable = [
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        "KmsThrottled",
    ];
    if retryable.contains(&code) {
        Error::Unavailable { service, message }
    } else if code.contains("NonExistentQueue")
        || code.contains("QueueDoesNotExist")
        || code == "NoSuchKey"
        || code == "NoSuchBucket"
        || code == "NotFound"
    {
        Error::NotFound(message)
    } else {
        Error::Backend { service, message }
    }
}
