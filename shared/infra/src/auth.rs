//! JWT verification (HS256 or RS256) and dev-token minting.
//!
//! Token rules:
//! - The header's `alg` must be exactly the verifier's algorithm. This is
//!   checked before any signature work, so `alg=none` and algorithm confusion
//!   (an HS256 token "signed" with the RS256 public key, or the reverse) are
//!   refused up front.
//! - `exp`, `aud` and `iss` are required; `nbf` is checked when present. Clock
//!   skew of [`LEEWAY`] is tolerated.
//! - `sub` (the caller) and `tenant` (the tenant the caller acts for) are
//!   required.
//! - Scopes are the OAuth 2.0 `scope` claim: one string, scopes separated by
//!   single spaces (RFC 8693 §4.2, RFC 9068 §2.2.3). An absent claim means no
//!   scopes.
//!
//! A failure to authenticate is an [`AuthError`] whose
//! [`status`](AuthError::status) is 401; a valid token without a scope the
//! route needs is 403.

use std::collections::BTreeSet;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::config::{JwtConfig, JwtKey};

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Who is calling: the verified content of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Identity {
    pub tenant: String,
    pub subject: String,
    pub scopes: BTreeSet<String>,
}

impl Identity {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Succeeds when every scope in `required` was granted; otherwise names
    /// the first missing one.
    pub fn require_scopes<S: AsRef<str>>(&self, required: &[S]) -> Result<(), AuthError> {
        match required.iter().find(|scope| !self.has_scope(scope.as_ref())) {
            Some(missing) => Err(AuthError::MissingScope(missing.as_ref().to_owned())),
            None => Ok(()),
        }
    }
}

/// Why a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    MissingToken,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm {found} is not accepted (expected {expected})")]
    WrongAlgorithm { found: String, expected: &'static str },
    #[error("invalid token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token lacks the {0} claim")]
    MissingClaim(String),
    /// The only 403: the token is fine, the grant is not enough.
    #[error("token lacks the {0} scope")]
    MissingScope(String),
}

impl AuthError {
    /// 401 for every authentication failure, 403 for a missing scope.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MissingScope(_) => 403,
            _ => 401,
        }
    }

    /// A stable machine-readable code for error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::MissingScope(_) => "insufficient_scope",
            AuthError::Expired => "token_expired",
            _ => "invalid_token",
        }
    }
}

impl From<AuthError> for Error {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::MissingScope(_) => Error::Forbidden(error.to_string()),
            _ => Error::Unauthorized(error.to_string()),
        }
    }
}

/// The claims Hive issues and reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
}

impl Claims {
    /// Claims for `subject` acting for `tenant`, valid for `ttl` from now.
    pub fn new(config: &JwtConfig, tenant: &str, subject: &str, scopes: &[impl AsRef<str>], ttl: Duration) -> Claims {
        let now = jsonwebtoken::get_current_timestamp();
        Claims {
            sub: subject.to_owned(),
            tenant: tenant.to_owned(),
            scope: scopes.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" "),
            iss: config.issuer.clone(),
            aud: config.audience.clone(),
            exp: now + ttl.as_secs(),
            iat: now,
        }
    }
}

/// Verifies tokens with one key and one algorithm. Built once at start-up.
pub struct Verifier {
    algorithm: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for the configured key. Without a key (no `HIVE_JWT_SECRET`
    /// and no `HIVE_JWT_PUBLIC_KEY`) this is a configuration error; the local
    /// runner supplies a generated secret instead.
    pub fn from_config(config: &JwtConfig) -> Result<Verifier, Error> {
        match &config.key {
            Some(JwtKey::Hs256Secret(secret)) => Ok(Verifier::hs256(secret.expose().as_bytes(), config)),
            Some(JwtKey::Rs256PublicKeyPem(pem)) => Verifier::rs256(pem.as_bytes(), config),
            None => Err(Error::Config("HIVE_JWT_SECRET or HIVE_JWT_PUBLIC_KEY is required to verify tokens".into())),
        }
    }

    pub fn hs256(secret: &[u8], config: &JwtConfig) -> Verifier {
        Verifier::new(Algorithm::HS256, DecodingKey::from_secret(secret), config)
    }

    pub fn rs256(public_key_pem: &[u8], config: &JwtConfig) -> Result<Verifier, Error> {
        let key = DecodingKey::from_rsa_pem(public_key_pem)
            .map_err(|_| Error::Config("HIVE_JWT_PUBLIC_KEY must be an RSA public key in PEM form".into()))?;
        Ok(Verifier::new(Algorithm::RS256, key, config))
    }

    fn new(algorithm: Algorithm, key: DecodingKey, config: &JwtConfig) -> Verifier {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.set_audience(&[&config.audience]);
        validation.set_issuer(&[&config.issuer]);
        Verifier { algorithm, key, validation }
    }

    /// Verifies a bare token (no `Bearer ` prefix).
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        // Header first: an `alg` this verifier does not use is refused before
        // the key is touched. `none` is not an algorithm jsonwebtoken knows,
        // so such a header fails to parse and lands here as well.
        let header = jsonwebtoken::decode_header(token).map_err(|error| match error.kind() {
            ErrorKind::Json(_) => {
                AuthError::WrongAlgorithm { found: "unknown".into(), expected: self.algorithm_name() }
            }
            _ => AuthError::Malformed,
        })?;
        if header.alg != self.algorithm {
            return Err(AuthError::WrongAlgorithm {
                found: format!("{:?}", header.alg),
                expected: self.algorithm_name(),
            });
        }

        let data =
            jsonwebtoken::decode::<RawClaims>(token, &self.key, &self.validation).map_err(|error| {
                match error.into_kind() {
                    ErrorKind::InvalidSignature => AuthError::BadSignature,
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                    ErrorKind::InvalidAudience => AuthError::WrongAudience,
                    ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                    ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim),
                    ErrorKind::InvalidAlgorithm => {
                        AuthError::WrongAlgorithm { found: "unknown".into(), expected: self.algorithm_name() }
                    }
                    _ => AuthError::Malformed,
                }
            })?;

        let claims = data.claims;
        let subject = claims.sub.filter(|s| !s.is_empty()).ok_or_else(|| AuthError::MissingClaim("sub".into()))?;
        let tenant = claims.tenant.filter(|t| !t.is_empty()).ok_or_else(|| AuthError::MissingClaim("tenant".into()))?;
        let scopes = claims.scope.unwrap_or_default().split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        Ok(Identity { tenant, subject, scopes })
    }

    /// Verifies an `Authorization` header value (`Bearer <token>`).
    pub fn verify_authorization(&self, header: Option<&str>) -> Result<Identity, AuthError> {
        let value = header.ok_or(AuthError::MissingToken)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(AuthError::MissingToken)?;
        self.verify(token)
    }

    fn algorithm_name(&self) -> &'static str {
        match self.algorithm {
            Algorithm::RS256 => "RS256",
            _ => "HS256",
        }
    }
}

/// Claims as they come in: optional where Hive's rules (rather than
/// jsonwebtoken's) decide, so a missing one is named in the error.
#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    tenant: Option<String>,
    scope: Option<String>,
}

/// Signs claims with an HS256 secret.
pub fn sign_hs256(secret: &[u8], claims: &Claims) -> Result<String, Error> {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
        .map_err(|error| Error::invalid("token", error.to_string()))
}

/// Signs claims with an RSA private key (PEM). Hive never holds a private
/// key in production; this exists for tests and for an external issuer's
/// tooling.
pub fn sign_rs256(private_key_pem: &[u8], claims: &Claims) -> Result<String, Error> {
    let key =
        EncodingKey::from_rsa_pem(private_key_pem).map_err(|error| Error::invalid("private_key", error.to_string()))?;
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key)
        .map_err(|error| Error::invalid("token", error.to_string()))
}

/// A new random HS256 secret: 32 bytes from the thread-local CSPRNG, as
/// 64 hex characters.
pub fn generate_secret() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Mints a dev token: HS256 with the configured (or the local generated)
/// secret, for `subject` acting for `tenant` with `scopes`, valid for `ttl`.
pub fn mint_dev_token(
    secret: &[u8],
    config: &JwtConfig,
    tenant: &str,
    subject: &str,
    scopes: &[impl AsRef<str>],
    ttl: Duration,
) -> Result<String, Error> {
    if tenant.is_empty() {
        return Err(Error::invalid("tenant", "must not be empty"));
    }
    if let Some(bad) = scopes.iter().map(AsRef::as_ref).find(|s| s.is_empty() || s.contains(char::is_whitespace)) {
        return Err(Error::invalid("scopes", format!("{bad:?} is not a scope (no spaces, not empty)")));
    }
    sign_hs256(secret, &Claims::new(config, tenant, subject, scopes, ttl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
    const RS_PRIVATE: &str = include_str!("../tests/fixtures/jwt/rs256-private.pem");
    const RS_PUBLIC: &str = include_str!("../tests/fixtures/jwt/rs256-public.pem");
    const OTHER_RS_PRIVATE: &str = include_str!("../tests/fixtures/jwt/other-rs256-private.pem");
    const HOUR: Duration = Duration::from_secs(3600);

    fn jwt_config() -> JwtConfig {
        JwtConfig {
            key: Some(JwtKey::Hs256Secret(Secret::new("unused"))),
            issuer: "hive".into(),
            audience: "hive-api".into(),
        }
    }

    fn claims() -> Claims {
        Claims::new(&jwt_config(), "acme", "alice", &["hive:read", "studies:write"], HOUR)
    }

    fn hs() -> Verifier {
        Verifier::hs256(SECRET, &jwt_config())
    }

    fn rs() -> Verifier {
        Verifier::rs256(RS_PUBLIC.as_bytes(), &jwt_config()).unwrap()
    }

    /// A token with an arbitrary header and claims and a given signature,
    /// for the attacks jsonwebtoken refuses to build.
    fn forged(header: &str, claims: &Claims, signature: &str) -> String {
        let claims = serde_json::to_string(claims).unwrap();
        format!("{}.{}.{signature}", b64url(header.as_bytes()), b64url(claims.as_bytes()))
    }

    fn b64url(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn hs256_round_trip() {
        let token = sign_hs256(SECRET, &claims()).unwrap();
        let identity = hs().verify(&token).unwrap();
        assert_eq!(identity.tenant, "acme");
        assert_eq!(identity.subject, "alice");
        assert_eq!(identity.scopes, ["hive:read", "studies:write"].map(String::from).into());
    }

    #[test]
    fn rs256_round_trip() {
        let token = sign_rs256(RS_PRIVATE.as_bytes(), &claims()).unwrap();
        assert_eq!(rs().verify(&token).unwrap().subject, "alice");
    }

    #[test]
    fn mint_dev_token_verifies() {
        let token = mint_dev_token(SECRET, &jwt_config(), "acme", "dev", &["hive:read"], HOUR).unwrap();
        let identity = hs().verify(&token).unwrap();
        assert_eq!((identity.tenant.as_str(), identity.subject.as_str()), ("acme", "dev"));
        assert!(identity.has_scope("hive:read"));
        assert!(mint_dev_token(SECRET, &jwt_config(), "", "dev", &["x"], HOUR).is_err());
        assert!(mint_dev_token(SECRET, &jwt_config(), "acme", "dev", &["a b"], HOUR).is_err());
    }

    fn check(verifier: &Verifier, token: &str, expected: AuthError) {
        assert_eq!(verifier.verify(token), Err(expected.clone()));
        assert_eq!(expected.status(), 401);
    }

    #[test]
    fn expired_beyond_leeway_is_refused_but_within_leeway_is_fine() {
        let now = jsonwebtoken::get_current_timestamp();
        let stale = Claims { exp: now - LEEWAY.as_secs() - 5, ..claims() };
        check(&hs(), &sign_hs256(SECRET, &stale).unwrap(), AuthError::Expired);
        let skewed = Claims { exp: now - 5, ..claims() };
        assert!(hs().verify(&sign_hs256(SECRET, &skewed).unwrap()).is_ok());
    }

    #[test]
    fn wrong_audience_and_issuer() {
        let aud = Claims { aud: "someone-else".into(), ..claims() };
        check(&hs(), &sign_hs256(SECRET, &aud).unwrap(), AuthError::WrongAudience);
        let iss = Claims { iss: "evil".into(), ..claims() };
        check(&hs(), &sign_hs256(SECRET, &iss).unwrap(), AuthError::WrongIssuer);
    }

    #[test]
    fn wrong_signature() {
        check(&hs(), &sign_hs256(b"another-secret-another-secret-!!", &claims()).unwrap(), AuthError::BadSignature);
        check(&rs(), &sign_rs256(OTHER_RS_PRIVATE.as_bytes(), &claims()).unwrap(), AuthError::BadSignature);
        let token = sign_hs256(SECRET, &claims()).unwrap();
        let tampered = forged(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &Claims { tenant: "other".into(), ..claims() },
            token.rsplit('.').next().unwrap(),
        );
        check(&hs(), &tampered, AuthError::BadSignature);
    }

    #[test]
    fn alg_none_is_refused() {
        for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"None"}"#] {
            let expected = AuthError::WrongAlgorithm { found: "unknown".into(), expected: "HS256" };
            check(&hs(), &forged(header, &claims(), ""), expected);
            let expected = AuthError::WrongAlgorithm { found: "unknown".into(), expected: "RS256" };
            check(&rs(), &forged(header, &claims(), ""), expected);
        }
    }

    #[test]
    fn algorithm_confusion_is_refused() {
        // The classic attack: HMAC over the token with the RSA public key as the secret.
        let confused = sign_hs256(RS_PUBLIC.as_bytes(), &claims()).unwrap();
        check(&rs(), &confused, AuthError::WrongAlgorithm { found: "HS256".into(), expected: "RS256" });
        // And the reverse: an HS256 verifier handed a genuine RS256 token.
        let rs_token = sign_rs256(RS_PRIVATE.as_bytes(), &claims()).unwrap();
        check(&hs(), &rs_token, AuthError::WrongAlgorithm { found: "RS256".into(), expected: "HS256" });
        // Other algorithms of the same family are refused too.
        let hs512 =
            jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims(), &EncodingKey::from_secret(SECRET)).unwrap();
        check(&hs(), &hs512, AuthError::WrongAlgorithm { found: "HS512".into(), expected: "HS256" });
    }

    #[test]
    fn required_claims() {
        #[derive(Serialize)]
        struct Partial<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            sub: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            tenant: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            iss: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            aud: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            exp: Option<u64>,
        }
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let full =
            Partial { sub: Some("a"), tenant: Some("t"), iss: Some("hive"), aud: Some("hive-api"), exp: Some(exp) };
        let sign = |p: &Partial| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), p, &EncodingKey::from_secret(SECRET)).unwrap()
        };
        assert!(hs().verify(&sign(&full)).is_ok());
        let cases = [
            (Partial { exp: None, ..full }, "exp"),
            (Partial { aud: None, ..full }, "aud"),
            (Partial { iss: None, ..full }, "iss"),
            (Partial { sub: None, ..full }, "sub"),
            (Partial { tenant: None, ..full }, "tenant"),
        ];
        for (partial, claim) in cases {
            check(&hs(), &sign(&partial), AuthError::MissingClaim(claim.into()));
        }
    }

    #[test]
    fn garbage_and_missing_tokens() {
        check(&hs(), "not-a-token", AuthError::Malformed);
        check(&hs(), "a.b.c", AuthError::Malformed);
        assert_eq!(hs().verify_authorization(None), Err(AuthError::MissingToken));
        assert_eq!(hs().verify_authorization(Some("Basic dXNlcjpwYXNz")), Err(AuthError::MissingToken));
        assert_eq!(hs().verify_authorization(Some("Bearer ")), Err(AuthError::MissingToken));
        let token = sign_hs256(SECRET, &claims()).unwrap();
        assert!(hs().verify_authorization(Some(&format!("Bearer {token}"))).is_ok());
    }

    #[test]
    fn scopes_are_checked_and_a_missing_one_is_403() {
        let identity = hs().verify(&sign_hs256(SECRET, &claims()).unwrap()).unwrap();
        assert_eq!(identity.require_scopes(&["hive:read"]), Ok(()));
        assert_eq!(identity.require_scopes::<&str>(&[]), Ok(()));
        let error = identity.require_scopes(&["hive:read", "admin"]).unwrap_err();
        assert_eq!(error, AuthError::MissingScope("admin".into()));
        assert_eq!(error.status(), 403);
        assert!(matches!(Error::from(error), Error::Forbidden(_)));
        assert!(matches!(Error::from(AuthError::Expired), Error::Unauthorized(_)));
        // No scope claim at all: authenticated, but with no scopes.
        let bare = Claims { scope: String::new(), ..claims() };
        assert!(hs().verify(&sign_hs256(SECRET, &bare).unwrap()).unwrap().scopes.is_empty());
    }

    #[test]
    fn verifier_from_config() {
        assert!(Verifier::from_config(&JwtConfig { key: None, ..jwt_config() }).is_err());
        let rs_config = JwtConfig { key: Some(JwtKey::Rs256PublicKeyPem(RS_PUBLIC.into())), ..jwt_config() };
        assert_eq!(Verifier::from_config(&rs_config).unwrap().algorithm, Algorithm::RS256);
    }
}
