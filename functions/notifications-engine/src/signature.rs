//! Standard Webhooks signatures (`v1`, HMAC-SHA256 over `id.timestamp.body`).
//!
//! A secret is `whsec_` and the base64 of 24 to 64 random bytes. During a
//! rotation an endpoint has several secrets and every message carries one
//! signature per secret, space-separated; a receiver accepts any of them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const PREFIX: &str = "whsec_";
/// How far a receiver lets `webhook-timestamp` drift from its clock.
pub const TOLERANCE_S: i64 = 300;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("a secret is `whsec_` and the base64 of 24 to 64 bytes")]
    BadSecret,
    #[error("the webhook-timestamp is not a whole number of seconds")]
    BadTimestamp,
    #[error("the webhook-timestamp is more than {TOLERANCE_S} s from now")]
    Expired,
    #[error("no signature matches")]
    NoMatch,
}

impl Secret {
    /// Parses `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Secret, SignatureError> {
        let encoded = text.strip_prefix(PREFIX).ok_or(SignatureError::BadSecret)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| SignatureError::BadSecret)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(SignatureError::BadSecret);
        }
        Ok(Secret(bytes))
    }

    /// A secret from 32 random bytes the caller drew.
    pub fn from_random(bytes: [u8; 32]) -> Secret {
        Secret(bytes.to_vec())
    }

    pub fn serialize(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts a key of any length; the error cannot occur.
        // guardian: ignore[rust-unwrap]
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// `v1,<base64 signature>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per secret, newest first.
pub fn header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|secret| secret.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Verifies a delivery as a receiver does: the timestamp within
/// [`TOLERANCE_S`] of `now_s`, and any `v1` signature of the header made by
/// any of `secrets`, compared in constant time. Other versions are skipped.
pub fn verify(
    secrets: &[Secret],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now_s: i64,
) -> Result<(), SignatureError> {
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now_s - timestamp).abs() > TOLERANCE_S {
        return Err(SignatureError::Expired);
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .collect();
    for secret in secrets {
        for candidate in &candidates {
            // verify_slice compares in constant time.
            if secret.mac(id, timestamp, body).verify_slice(candidate).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The Standard Webhooks reference libraries' published test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_published_vector_signs_and_verifies() {
        let secret = Secret::parse(SECRET).unwrap();
        assert_eq!(secret.sign(ID, TIMESTAMP, BODY), SIGNATURE);
        assert_eq!(verify(&[secret], ID, "1614265330", SIGNATURE, BODY, TIMESTAMP), Ok(()));
    }

    #[test]
    fn a_tampered_body_id_or_timestamp_fails() {
        let secret = [Secret::parse(SECRET).unwrap()];
        assert_eq!(verify(&secret, ID, "1614265330", SIGNATURE, br#"{"test": 2432232315}"#, TIMESTAMP), Err(SignatureError::NoMatch));
        assert_eq!(verify(&secret, "msg_other", "1614265330", SIGNATURE, BODY, TIMESTAMP), Err(SignatureError::NoMatch));
        assert_eq!(verify(&secret, ID, "1614265331", SIGNATURE, BODY, TIMESTAMP), Err(SignatureError::NoMatch));
        assert_eq!(verify(&secret, ID, "1614265330", SIGNATURE, BODY, TIMESTAMP + 301), Err(SignatureError::Expired));
        assert_eq!(verify(&secret, ID, "soon", SIGNATURE, BODY, TIMESTAMP), Err(SignatureError::BadTimestamp));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies_and_unknown_versions_are_skipped() {
        let old = Secret::parse(SECRET).unwrap();
        let new = Secret::from_random([7; 32]);
        let header = header(&[new.clone(), old.clone()], ID, TIMESTAMP, BODY);
        assert_eq!(header.split(' ').count(), 2);
        assert!(header.ends_with(SIGNATURE));
        let header = format!("v1a,bm9wZQ== {header}");
        assert_eq!(verify(&[old], ID, "1614265330", &header, BODY, TIMESTAMP), Ok(()));
        assert_eq!(verify(&[new], ID, "1614265330", &header, BODY, TIMESTAMP), Ok(()));
        let stranger = Secret::from_random([9; 32]);
        assert_eq!(verify(&[stranger], ID, "1614265330", &header, BODY, TIMESTAMP), Err(SignatureError::NoMatch));
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let secret = Secret::from_random([1; 32]);
        assert_eq!(Secret::parse(&secret.serialize()).unwrap(), secret);
        for bad in ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ=", ""] {
            assert_eq!(Secret::parse(bad), Err(SignatureError::BadSecret), "{bad}");
        }
    }
}
