//! `hive serve` with no environment: embedded adapters, a generated secret
//! that survives restarts, and the HTTP edge's answers as a client sees them.

mod support;

use std::time::Duration;

use infra::auth::{Claims, sign_hs256};
use infra::config::JwtConfig;
use support::{Server, get, mint};

fn jwt() -> JwtConfig {
    JwtConfig { key: None, issuer: "hive".into(), audience: "hive-api".into() }
}

fn local_secret(data_dir: &std::path::Path) -> Vec<u8> {
    std::fs::read(data_dir.join("jwt-secret")).expect("hive generated a secret")
}

#[tokio::test]
async fn health_reports_every_embedded_dependency_up() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);

    let (status, json) = get(&server.url("/v1/health"), None).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"], "ok");
    let checks: Vec<(String, String, String)> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["kind"].as_str().unwrap().into(),
                c["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [("database", "sqlite"), ("cache", "memory"), ("bus", "memory"), ("objects", "fs")]
        .map(|(name, kind)| (name.to_owned(), kind.to_owned(), "up".to_owned()));
    assert_eq!(checks, expected);
    assert!(dir.path().join("hive.sqlite3").exists());

    let (status, json) = get(&server.url("/v1/nope"), None).await;
    assert_eq!(status, 404);
    assert_eq!(json["error"]["code"], "not_found");

    assert!(server.stop(), "SIGTERM shuts the server down cleanly");
}

#[tokio::test]
async fn the_generated_secret_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let token = mint(dir.path(), "acme", "hive:read");
    let secret = local_secret(dir.path());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("jwt-secret")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let server = Server::start(dir.path(), &[]);
    let (status, json) = get(&server.url("/v1/whoami"), Some(&token)).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["tenant"], "acme");
    assert_eq!(json["subject"], "dev");
    assert_eq!(json["scopes"], serde_json::json!(["hive:read"]));
    assert!(server.stop());

    let server = Server::start(dir.path(), &[]);
    assert_eq!(
        get(&server.url("/v1/whoami"), Some(&token)).await.0,
        200,
        "a token minted before the restart still works"
    );
    assert_eq!(local_secret(dir.path()), secret);
}

#[tokio::test]
async fn bad_tokens_are_401_json_and_a_missing_scope_is_403_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let secret = local_secret(dir.path());
    let claims = || Claims::new(&jwt(), "acme", "alice", &["hive:read"], Duration::from_secs(600));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();

    let expired = sign_hs256(&secret, &Claims { exp: now - 120, iat: now - 720, ..claims() }).unwrap();
    let wrongly_signed = sign_hs256(b"not-the-server-secret-not-the-server-secret", &claims()).unwrap();
    let wrong_audience = sign_hs256(&secret, &Claims { aud: "another-api".into(), ..claims() }).unwrap();
    let alg_none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(serde_json::to_string(&claims()).unwrap().as_bytes())
    );
    let cases = [
        ("missing", None, "missing_token"),
        ("expired", Some(expired), "token_expired"),
        ("wrongly signed", Some(wrongly_signed), "invalid_token"),
        ("alg=none", Some(alg_none), "invalid_token"),
        ("wrong audience", Some(wrong_audience), "invalid_token"),
        ("garbage", Some("abc.def".to_owned()), "invalid_token"),
    ];
    for (case, token, code) in cases {
        let (status, json) = get(&server.url("/v1/whoami"), token.as_deref()).await;
        assert_eq!(status, 401, "{case}: {json}");
        assert_eq!(json["error"]["code"], code, "{case}: {json}");
    }

    let valid = sign_hs256(&secret, &claims()).unwrap();
    assert_eq!(get(&server.url("/v1/whoami"), Some(&valid)).await.0, 200);

    let unscoped = mint(dir.path(), "acme", "studies:write");
    let (status, json) = get(&server.url("/v1/whoami"), Some(&unscoped)).await;
    assert_eq!(status, 403, "{json}");
    assert_eq!(json["error"]["code"], "insufficient_scope");
}

#[tokio::test]
async fn request_ids_are_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let response = reqwest::Client::new()
        .get(server.url("/v1/health"))
        .header("x-correlation-id", "chain-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-correlation-id"], "chain-42");
    assert_eq!(response.headers()["x-request-id"].len(), 36);
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
