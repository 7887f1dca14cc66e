//! Runtime configuration, read once from the environment (12-factor).
//!
//! `main` calls [`Config::from_env`] once and passes the struct (or the parts
//! an adapter needs) down explicitly. There is no global and no `Default`: a
//! value that is absent gets its documented default here, in one place, and a
//! value that is present but invalid is an [`Error::Config`] naming the
//! variable. An empty variable counts as absent, so `HIVE_QUEUE=` in a shell
//! or a template means "use the default".
//!
//! Tests use [`Config::from_vars`] with a closure over a map, so they never
//! touch the process environment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::Error;

/// Everything a function or the local runner needs to know about its
/// environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the embedded adapters keep their files (`HIVE_DATA_DIR`).
    pub data_dir: PathBuf,
    pub database: DatabaseConfig,
    pub cache: CacheConfig,
    pub bus: BusConfig,
    /// Names subscription queues (`<prefix>-<subscription>`) and the local
    /// SNS topic (`HIVE_BUS_PREFIX`, default `hive`).
    pub bus_prefix: String,
    /// How long published events stay listed (`HIVE_EVENTS_RETENTION`,
    /// default 7d).
    pub events_retention: Duration,
    /// How long one event stream stays open before the client reconnects
    /// with `Last-Event-ID` (`HIVE_EVENTS_STREAM_FOR`); `None` leaves it to
    /// the platform (unlimited locally, 20 s on Lambda).
    pub events_stream_for: Option<Duration>,
    /// Per-subscription concurrency of the local runner
    /// (`HIVE_CONCURRENCY=studies-worker=2,…`); unlisted ones keep the
    /// default their app declares.
    pub concurrency: BTreeMap<String, usize>,
    pub objects: ObjectStoreConfig,
    pub aws: AwsConfig,
    pub jwt: JwtConfig,
    pub log_format: LogFormat,
    /// Requests of one kind a tenant may make per minute where an app limits
    /// them (`HIVE_RATE_LIMIT_PER_MINUTE`, default 600); 0 turns limits off.
    pub rate_limit_per_minute: u64,
    /// `AWS_LAMBDA_FUNCTION_NAME`, set by the Lambda runtime and nowhere else.
    pub lambda_function_name: Option<String>,
    pub llm: LlmConfig,
}

/// `HIVE_LLM_PROVIDER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LlmProvider {
    /// No model (the default): callers use their deterministic path.
    None,
    /// `POST /v1/chat/completions` with a strict JSON Schema response
    /// format: OpenAI, vLLM, llama.cpp's server, Ollama.
    OpenAi,
    /// The Anthropic Messages API with one forced tool.
    Anthropic,
}

/// The language model the `llm` port calls.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmConfig {
    pub provider: LlmProvider,
    /// `HIVE_LLM_BASE_URL`, without the `/v1/...` path; by default the
    /// provider's public API.
    pub base_url: String,
    /// `HIVE_LLM_MODEL`; required with a provider.
    pub model: String,
    /// `HIVE_LLM_API_KEY`; local servers need none.
    pub api_key: Option<Secret>,
    /// `HIVE_LLM_TIMEOUT` per attempt (default 60s).
    pub timeout: Duration,
    /// `HIVE_LLM_PRICE_IN_PER_MTOK` and `HIVE_LLM_PRICE_OUT_PER_MTOK`: US
    /// dollars per million input and output tokens (default 0).
    pub price_in_per_mtok: f64,
    pub price_out_per_mtok: f64,
    /// `HIVE_LLM_MONTHLY_BUDGET_USD` per tenant; `None` is no limit.
    pub monthly_budget_usd: Option<f64>,
}

impl LlmConfig {
    /// No model, for tests and for deployments without one.
    pub fn none() -> LlmConfig {
        LlmConfig {
            provider: LlmProvider::None,
            base_url: String::new(),
            model: String::new(),
            api_key: None,
            timeout: Duration::from_secs(60),
            price_in_per_mtok: 0.0,
            price_out_per_mtok: 0.0,
            monthly_budget_usd: None,
        }
    }

    /// What a call with these token counts costs, in US dollars.
    pub fn cost_usd(&self, tokens_in: u64, tokens_out: u64) -> f64 {
        (tokens_in as f64 * self.price_in_per_mtok + tokens_out as f64 * self.price_out_per_mtok) / 1e6
    }

    fn from_vars(var: &impl Fn(&str) -> Option<String>) -> Result<LlmConfig, Error> {
        let (provider, default_base) = match var("HIVE_LLM_PROVIDER").as_deref() {
            None | Some("none") => (LlmProvider::None, ""),
            Some("openai") => (LlmProvider::OpenAi, "https://api.openai.com"),
            Some("anthropic") => (LlmProvider::Anthropic, "https://api.anthropic.com"),
            Some(_) => return Err(invalid("HIVE_LLM_PROVIDER", "must be one of openai, anthropic, none")),
        };
        let base_url = var("HIVE_LLM_BASE_URL").unwrap_or_else(|| default_base.to_owned());
        let base_url = base_url.trim_end_matches('/').trim_end_matches("/v1").to_owned();
        if provider != LlmProvider::None && !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(invalid("HIVE_LLM_BASE_URL", "must be an http:// or https:// URL"));
        }
        let authority = base_url.split("://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or("");
        if authority.contains('@') {
            return Err(invalid("HIVE_LLM_BASE_URL", "must not carry credentials (use HIVE_LLM_API_KEY)"));
        }
        // The cloud's instance metadata endpoints hand out credentials; a
        // model server is never there.
        let host = match authority.find(']') {
            Some(end) if authority.starts_with('[') => &authority[..=end],
            _ => authority.split(':').next().unwrap_or(authority),
        };
        if host.starts_with("169.254.") || host == "[fd00:ec2::254]" || host == "metadata.google.internal" {
            return Err(invalid("HIVE_LLM_BASE_URL", "must not point at the instance metadata service"));
        }
        let model = match (provider, var("HIVE_LLM_MODEL")) {
            (LlmProvider::None, model) => model.unwrap_or_default(),
            (_, Some(model)) => model,
            (_, None) => return Err(Error::Config("HIVE_LLM_MODEL is required when HIVE_LLM_PROVIDER is set".into())),
        };
        let timeout = match var("HIVE_LLM_TIMEOUT") {
            None => Duration::from_secs(60),
            Some(text) => parse_duration(&text)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| invalid("HIVE_LLM_TIMEOUT", "must be a duration like 30s or 2m"))?,
        };
        let price = |name: &str| -> Result<f64, Error> {
            match var(name) {
                None => Ok(0.0),
                Some(text) => text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| invalid(name, "must be a non-negative number of US dollars")),
            }
        };
        Ok(LlmConfig {
            provider,
            base_url,
            model,
            api_key: var("HIVE_LLM_API_KEY").map(Secret),
            timeout,
            price_in_per_mtok: price("HIVE_LLM_PRICE_IN_PER_MTOK")?,
            price_out_per_mtok: price("HIVE_LLM_PRICE_OUT_PER_MTOK")?,
            monthly_budget_usd: var("HIVE_LLM_MONTHLY_BUDGET_USD").map(|_| price("HIVE_LLM_MONTHLY_BUDGET_USD")).transpose()?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseConfig {
    /// No `HIVE_DATABASE_URL`: a SQLite file in the data directory.
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        url: Secret,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheConfig {
    /// No `HIVE_REDIS_URL`: a cache inside the process.
    InProcess,
    Redis {
        url: Secret,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusConfig {
    /// `HIVE_BUS=memory` (the default): an in-process bus.
    Memory,
    /// `HIVE_BUS=sns`: publish to the SNS topic `HIVE_SNS_TOPIC_ARN`; its
    /// subscriptions are SQS queues. Unset, the local runner creates the
    /// topic `<prefix>-events` (LocalStack).
    Sns {
        topic_arn: Option<String>,
    },
    /// `HIVE_BUS=rabbitmq`: the topic exchange `<prefix>.events` on `HIVE_AMQP_URL`.
    RabbitMq {
        url: Secret,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObjectStoreConfig {
    /// `HIVE_OBJECT_STORE=fs` (the default): files under `root`.
    Fs {
        root: PathBuf,
    },
    S3 {
        bucket: String,
    },
}

/// Settings the AWS adapters (SQS, S3) share. Credentials stay optional: on
/// Lambda they come from the execution role through the SDK's default chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsConfig {
    /// `AWS_ENDPOINT_URL`: LocalStack or s3s-fs instead of AWS.
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtConfig {
    /// `None` when neither `HIVE_JWT_SECRET` nor `HIVE_JWT_PUBLIC_KEY` is set.
    /// A Lambda function then refuses tokens; `hive` generates a local secret.
    pub key: Option<JwtKey>,
    pub issuer: String,
    pub audience: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtKey {
    /// `HIVE_JWT_SECRET`: verify (and mint) HS256 tokens.
    Hs256Secret(Secret),
    /// `HIVE_JWT_PUBLIC_KEY`: verify RS256 tokens; the PEM text of the key.
    Rs256PublicKeyPem(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A string that must not end up in logs. `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Shortest secret `HIVE_JWT_SECRET` may be: HS256 with fewer bytes than the
/// hash output is guessable.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

impl Config {
    /// Reads the process environment. Call once, in `main`.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads configuration from any source of variables, for tests.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let var = |name: &str| var(name).filter(|value| !value.trim().is_empty());

        let data_dir = PathBuf::from(var("HIVE_DATA_DIR").unwrap_or_else(|| "./.hive".to_owned()));

        let database = match var("HIVE_DATABASE_URL") {
            None => DatabaseConfig::Sqlite { path: data_dir.join("hive.sqlite3") },
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                DatabaseConfig::Postgres { url: Secret(url) }
            }
            Some(_) => return Err(invalid("HIVE_DATABASE_URL", "must be a postgres:// or postgresql:// URL")),
        };

        let cache = match var("HIVE_REDIS_URL") {
            None => CacheConfig::InProcess,
            Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => {
                CacheConfig::Redis { url: Secret(url) }
            }
            Some(_) => return Err(invalid("HIVE_REDIS_URL", "must be a redis:// or rediss:// URL")),
        };

        let bus = match var("HIVE_BUS").as_deref() {
            None | Some("memory") => BusConfig::Memory,
            Some("sns") => BusConfig::Sns { topic_arn: var("HIVE_SNS_TOPIC_ARN") },
            Some("rabbitmq") => {
                let url = required(&var, "HIVE_AMQP_URL", "HIVE_BUS=rabbitmq")?;
                if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
                    return Err(invalid("HIVE_AMQP_URL", "must be an amqp:// or amqps:// URL"));
                }
                BusConfig::RabbitMq { url: Secret(url) }
            }
            Some(_) => return Err(invalid("HIVE_BUS", "must be one of memory, sns, rabbitmq")),
        };
        let bus_prefix = var("HIVE_BUS_PREFIX").unwrap_or_else(|| "hive".to_owned());
        if !bus_prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(invalid("HIVE_BUS_PREFIX", "must be lowercase letters, digits and dashes"));
        }
        let events_retention = match var("HIVE_EVENTS_RETENTION") {
            None => Duration::from_secs(7 * 86_400),
            Some(text) => parse_duration(&text).ok_or_else(|| invalid("HIVE_EVENTS_RETENTION", "must be a duration like 90s, 15m, 12h or 7d"))?,
        };
        let events_stream_for = var("HIVE_EVENTS_STREAM_FOR")
            .map(|text| {
                parse_duration(&text)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| invalid("HIVE_EVENTS_STREAM_FOR", "must be a duration like 30s or 5m"))
            })
            .transpose()?;
        let concurrency = match var("HIVE_CONCURRENCY") {
            None => BTreeMap::new(),
            Some(text) => parse_concurrency(&text)
                .ok_or_else(|| invalid("HIVE_CONCURRENCY", "must be a list like studies-worker=2,other=1 (each at least 1)"))?,
        };

        let objects = match var("HIVE_OBJECT_STORE").as_deref() {
            None | Some("fs") => ObjectStoreConfig::Fs { root: data_dir.join("objects") },
            Some("s3") => ObjectStoreConfig::S3 { bucket: required(&var, "HIVE_S3_BUCKET", "HIVE_OBJECT_STORE=s3")? },
            Some(_) => return Err(invalid("HIVE_OBJECT_STORE", "must be one of fs, s3")),
        };

        let endpoint_url = var("AWS_ENDPOINT_URL");
        if let Some(url) = &endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid("AWS_ENDPOINT_URL", "must be an http:// or https:// URL"));
        }
        let aws = AwsConfig {
            endpoint_url,
            region: var("AWS_REGION"),
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY").map(Secret),
        };

        let key = match (var("HIVE_JWT_SECRET"), var("HIVE_JWT_PUBLIC_KEY")) {
            (Some(_), Some(_)) => {
                return Err(invalid("HIVE_JWT_SECRET", "set either HIVE_JWT_SECRET or HIVE_JWT_PUBLIC_KEY, not both"));
            }
            (Some(secret), None) if secret.len() < MIN_JWT_SECRET_BYTES => {
                return Err(invalid("HIVE_JWT_SECRET", &format!("must be at least {MIN_JWT_SECRET_BYTES} bytes")));
            }
            (Some(secret), None) => Some(JwtKey::Hs256Secret(Secret(secret))),
            (None, Some(pem)) => {
                if jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).is_err() {
                    return Err(invalid("HIVE_JWT_PUBLIC_KEY", "must be an RSA public key in PEM form"));
                }
                Some(JwtKey::Rs256PublicKeyPem(pem))
            }
            (None, None) => None,
        };
        let jwt = JwtConfig {
            key,
            issuer: var("HIVE_JWT_ISSUER").unwrap_or_else(|| "hive".to_owned()),
            audience: var("HIVE_JWT_AUDIENCE").unwrap_or_else(|| "hive-api".to_owned()),
        };

        let lambda_function_name = var("AWS_LAMBDA_FUNCTION_NAME");
        let llm = LlmConfig::from_vars(&var)?;
        let log_format = match var("HIVE_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            None if lambda_function_name.is_some() => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(_) => return Err(invalid("HIVE_LOG_FORMAT", "must be one of json, pretty")),
        };

        let rate_limit_per_minute = match var("HIVE_RATE_LIMIT_PER_MINUTE") {
            None => DEFAULT_RATE_LIMIT_PER_MINUTE,
            Some(value) => value
                .trim()
                .parse()
                .map_err(|_| invalid("HIVE_RATE_LIMIT_PER_MINUTE", "must be a whole number (0 turns limits off)"))?,
        };

        Ok(Config {
            data_dir,
            database,
            cache,
            bus,
            bus_prefix,
            events_retention,
            events_stream_for,
            concurrency,
            objects,
            aws, jwt, log_format, rate_limit_per_minute, lambda_function_name, llm })
    }

    /// Whether this process is a Lambda function rather than the local runner.
    pub fn in_lambda(&self) -> bool {
        self.lambda_function_name.is_some()
    }
}

/// Ten requests a second per tenant: far above a person, well below a runaway script.
const DEFAULT_RATE_LIMIT_PER_MINUTE: u64 = 600;

/// `90`, `90s`, `15m`, `12h`, `7d`, or `250ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let millis = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(number.checked_mul(millis)?))
}

fn parse_concurrency(text: &str) -> Option<BTreeMap<String, usize>> {
    text.split(',')
        .map(|pair| {
            let (name, n) = pair.trim().split_once('=')?;
            let n: usize = n.trim().parse().ok().filter(|n| *n >= 1)?;
            Some((name.trim().to_owned(), n))
        })
        .collect()
}

fn invalid(name: &str, message: &str) -> Error {
    Error::Config(format!("{name} {message}"))
}

fn required(var: &impl Fn(&str) -> Option<String>, name: &str, because: &str) -> Result<String, Error> {
    var(name).ok_or_else(|| Error::Config(format!("{name} is required when {because}")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, Error> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(|name| vars.get(name).cloned())
    }

    fn config_error(vars: &[(&str, &str)]) -> String {
        match config(vars) {
            Err(Error::Config(message)) => message,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn no_environment_means_embedded_everything() {
        let config = config(&[]).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("./.hive"));
        assert_eq!(config.database, DatabaseConfig::Sqlite { path: PathBuf::from("./.hive/hive.sqlite3") });
        assert_eq!(config.cache, CacheConfig::InProcess);
        assert_eq!(config.bus, BusConfig::Memory);
        assert_eq!(config.bus_prefix, "hive");
        assert_eq!(config.events_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(config.objects, ObjectStoreConfig::Fs { root: PathBuf::from("./.hive/objects") });
        assert_eq!(config.jwt.key, None);
        assert_eq!(config.jwt.issuer, "hive");
        assert_eq!(config.jwt.audience, "hive-api");
        assert_eq!(config.log_format, LogFormat::Pretty);
        assert!(!config.in_lambda());
    }

    #[test]
    fn every_service_switched_on() {
        let config = config(&[
            ("HIVE_DATA_DIR", "/tmp/h"),
            ("HIVE_DATABASE_URL", "postgres://u@db/x"),
            ("HIVE_REDIS_URL", "redis://cache:6379"),
            ("HIVE_BUS", "sns"),
            ("HIVE_SNS_TOPIC_ARN", "arn:aws:sns:eu-west-1:1:hive-events"),
            ("HIVE_BUS_PREFIX", "hive-staging"),
            ("HIVE_EVENTS_RETENTION", "3d"),
            ("HIVE_EVENTS_STREAM_FOR", "250ms"),
            ("HIVE_CONCURRENCY", "studies-worker=2, other=1"),
            ("HIVE_OBJECT_STORE", "s3"),
            ("HIVE_S3_BUCKET", "b"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_REGION", "eu-west-1"),
            ("HIVE_JWT_SECRET", SECRET),
            ("HIVE_JWT_ISSUER", "iss"),
            ("HIVE_JWT_AUDIENCE", "aud"),
        ])
        .unwrap();
        assert_eq!(config.database, DatabaseConfig::Postgres { url: Secret::new("postgres://u@db/x") });
        assert_eq!(config.cache, CacheConfig::Redis { url: Secret::new("redis://cache:6379") });
        assert_eq!(config.bus, BusConfig::Sns { topic_arn: Some("arn:aws:sns:eu-west-1:1:hive-events".into()) });
        assert_eq!(config.bus_prefix, "hive-staging");
        assert_eq!(config.events_retention, Duration::from_secs(3 * 86_400));
        assert_eq!(config.events_stream_for, Some(Duration::from_millis(250)));
        assert_eq!(config.concurrency, BTreeMap::from([("studies-worker".into(), 2), ("other".into(), 1)]));
        assert_eq!(config.objects, ObjectStoreConfig::S3 { bucket: "b".into() });
        assert_eq!(config.aws.endpoint_url.as_deref(), Some("http://127.0.0.1:4566"));
        assert_eq!(config.jwt.key, Some(JwtKey::Hs256Secret(Secret::new(SECRET))));
        assert_eq!((config.jwt.issuer.as_str(), config.jwt.audience.as_str()), ("iss", "aud"));
    }

    #[test]
    fn llm_provider_model_and_prices() {
        assert_eq!(config(&[]).unwrap().llm, LlmConfig::none());
        let llm = config(&[
            ("HIVE_LLM_PROVIDER", "anthropic"),
            ("HIVE_LLM_MODEL", "claude-sonnet-4-5"),
            ("HIVE_LLM_API_KEY", "sk-ant-secret"),
            ("HIVE_LLM_TIMEOUT", "20s"),
            ("HIVE_LLM_PRICE_IN_PER_MTOK", "3"),
            ("HIVE_LLM_PRICE_OUT_PER_MTOK", "15"),
            ("HIVE_LLM_MONTHLY_BUDGET_USD", "2.5"),
        ])
        .unwrap()
        .llm;
        assert_eq!(llm.provider, LlmProvider::Anthropic);
        assert_eq!(llm.base_url, "https://api.anthropic.com");
        assert_eq!(llm.timeout, Duration::from_secs(20));
        assert_eq!(llm.monthly_budget_usd, Some(2.5));
        // 1000 in at $3/Mtok and 2000 out at $15/Mtok: 0.003 + 0.03.
        assert!((llm.cost_usd(1000, 2000) - 0.033).abs() < 1e-12);
        assert!(!format!("{llm:?}").contains("sk-ant-secret"));
        let local = config(&[("HIVE_LLM_PROVIDER", "openai"), ("HIVE_LLM_MODEL", "m"), ("HIVE_LLM_BASE_URL", "http://127.0.0.1:8000/v1/")]).unwrap();
        assert_eq!(local.llm.base_url, "http://127.0.0.1:8000");
        assert!(config_error(&[("HIVE_LLM_PROVIDER", "openai")]).contains("HIVE_LLM_MODEL"));
        assert!(config_error(&[("HIVE_LLM_PROVIDER", "gpt")]).contains("HIVE_LLM_PROVIDER"));
        assert!(config_error(&[("HIVE_LLM_PRICE_IN_PER_MTOK", "-1")]).contains("HIVE_LLM_PRICE_IN_PER_MTOK"));
        let with_user = [("HIVE_LLM_PROVIDER", "openai"), ("HIVE_LLM_MODEL", "m"), ("HIVE_LLM_BASE_URL", "https://u:p@h")];
        assert!(config_error(&with_user).contains("HIVE_LLM_BASE_URL"));
        let metadata = [("HIVE_LLM_PROVIDER", "openai"), ("HIVE_LLM_MODEL", "m"), ("HIVE_LLM_BASE_URL", "http://169.254.169.254:80")];
        assert!(config_error(&metadata).contains("metadata"));
    }

    #[test]
    fn rabbitmq_bus() {
        let config = config(&[("HIVE_BUS", "rabbitmq"), ("HIVE_AMQP_URL", "amqp://guest:guest@h/%2f")]).unwrap();
        assert_eq!(config.bus, BusConfig::RabbitMq { url: Secret::new("amqp://guest:guest@h/%2f") });
    }

    #[test]
    fn lambda_logs_json_unless_told_otherwise() {
        assert_eq!(config(&[("AWS_LAMBDA_FUNCTION_NAME", "f")]).unwrap().log_format, LogFormat::Json);
        assert_eq!(config(&[("HIVE_LOG_FORMAT", "json")]).unwrap().log_format, LogFormat::Json);
        let pretty = config(&[("AWS_LAMBDA_FUNCTION_NAME", "f"), ("HIVE_LOG_FORMAT", "pretty")]).unwrap();
        assert_eq!(pretty.log_format, LogFormat::Pretty);
        assert!(pretty.in_lambda());
    }

    #[test]
    fn empty_means_absent() {
        let config = config(&[("HIVE_BUS", ""), ("HIVE_DATABASE_URL", " ")]).unwrap();
        assert_eq!(config.bus, BusConfig::Memory);
        assert!(matches!(config.database, DatabaseConfig::Sqlite { .. }));
    }

    #[test]
    fn rs256_public_key() {
        let pem = include_str!("../tests/fixtures/jwt/rs256-public.pem");
        let config = config(&[("HIVE_JWT_PUBLIC_KEY", pem)]).unwrap();
        assert_eq!(config.jwt.key, Some(JwtKey::Rs256PublicKeyPem(pem.to_owned())));
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("HIVE_BUS", "kafka")], "HIVE_BUS must be one of memory, sns, rabbitmq"),
            (&[("HIVE_BUS", "rabbitmq")], "HIVE_AMQP_URL is required when HIVE_BUS=rabbitmq"),
            (&[("HIVE_BUS", "rabbitmq"), ("HIVE_AMQP_URL", "http://x")], "HIVE_AMQP_URL must be an amqp://"),
            (&[("HIVE_BUS_PREFIX", "Hive_X")], "HIVE_BUS_PREFIX must be lowercase"),
            (&[("HIVE_EVENTS_RETENTION", "1w")], "HIVE_EVENTS_RETENTION must be a duration"),
            (&[("HIVE_EVENTS_STREAM_FOR", "0s")], "HIVE_EVENTS_STREAM_FOR must be a duration"),
            (&[("HIVE_CONCURRENCY", "studies-worker=0")], "HIVE_CONCURRENCY must be a list"),
            (&[("HIVE_CONCURRENCY", "studies-worker")], "HIVE_CONCURRENCY must be a list"),
            (&[("HIVE_OBJECT_STORE", "s3")], "HIVE_S3_BUCKET is required when HIVE_OBJECT_STORE=s3"),
            (&[("HIVE_OBJECT_STORE", "gcs")], "HIVE_OBJECT_STORE must be one of fs, s3"),
            (&[("HIVE_DATABASE_URL", "mysql://x")], "HIVE_DATABASE_URL must be a postgres://"),
            (&[("HIVE_REDIS_URL", "localhost:6379")], "HIVE_REDIS_URL must be a redis://"),
            (&[("AWS_ENDPOINT_URL", "localhost:4566")], "AWS_ENDPOINT_URL must be an http://"),
            (&[("HIVE_JWT_SECRET", "short")], "HIVE_JWT_SECRET must be at least 32 bytes"),
            (&[("HIVE_JWT_SECRET", SECRET), ("HIVE_JWT_PUBLIC_KEY", "x")], "HIVE_JWT_SECRET set either"),
            (&[("HIVE_JWT_PUBLIC_KEY", "not a pem")], "HIVE_JWT_PUBLIC_KEY must be an RSA public key"),
            (&[("HIVE_LOG_FORMAT", "xml")], "HIVE_LOG_FORMAT must be one of json, pretty"),
        ];
        for (vars, expected) in cases {
            let message = config_error(vars);
            assert!(message.starts_with(expected), "{vars:?}: got {message:?}, expected {expected:?}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = config(&[("HIVE_JWT_SECRET", SECRET), ("HIVE_DATABASE_URL", "postgres://u:pw@db/x")]).unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains(SECRET) && !printed.contains("pw@db"), "{printed}");
    }
}
