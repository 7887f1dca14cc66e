//! Starts the real `hive` binary for end-to-end tests.
//!
//! These tests live in the hive crate because Cargo gives only a package's
//! own tests the path of its binary (`CARGO_BIN_EXE_hive`) and builds it for
//! them.

#![allow(dead_code)] // Each test file uses part of this.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const HIVE: &str = env!("CARGO_BIN_EXE_hive");

/// A running `hive serve`; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `hive serve --port 0` with only the given environment (plus
    /// `HIVE_DATA_DIR`) and waits until it prints its address.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(HIVE);
        command
            .args(["serve", "--port", "0"])
            .env_clear()
            .env("HIVE_DATA_DIR", data_dir)
            .env("RUST_LOG", "warn")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("hive binary starts");

        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });

        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("hive listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => Server { child: Some(child), base, stderr },
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!("hive serve did not start (exit: {status:?}); stderr:\n{}", stderr.lock().unwrap());
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server with SIGTERM and returns whether it exited cleanly.
    pub fn stop(mut self) -> bool {
        let mut child = self.child.take().unwrap();
        terminate(&mut child)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

fn terminate(child: &mut Child) -> bool {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    for _ in 0..100 {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Runs `hive token` against the data directory and returns the token.
pub fn mint(data_dir: &Path, tenant: &str, scopes: &str) -> String {
    let output = Command::new(HIVE)
        .args(["token", "--tenant", tenant, "--scopes", scopes, "--ttl", "10m"])
        .env_clear()
        .env("HIVE_DATA_DIR", data_dir)
        .output()
        .expect("hive token runs");
    assert!(output.status.success(), "hive token failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// GET with an optional bearer token; returns the status and the JSON body.
pub async fn get(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(content_type.as_deref(), Some("application/json"), "GET {url} answered {status} non-JSON: {text}");
    (status, serde_json::from_str(&text).unwrap())
}

/// A submission from the Reviewer's fixtures (`clean`, `aws-key`, …): each
/// file under it, by its path relative to the fixture, as `{path, content}`.
pub fn reviewer_fixture(name: &str) -> Vec<serde_json::Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reviewer-engine/tests/fixtures").join(name);
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().unwrap() != "expected" {
                let relative = path.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
                files.push(serde_json::json!({"path": relative, "content": std::fs::read_to_string(&path).unwrap()}));
            }
        }
    }
    files
}

/// A PostgreSQL database of a test's own, for a `hive serve` of its own;
/// `drop_it` removes it.
pub struct Database {
    admin: std::sync::Arc<infra::db::PostgresDatabase>,
    name: String,
    pub url: String,
}

impl Database {
    pub async fn create(admin_url: &str, prefix: &str) -> Database {
        let settings = infra::db::PostgresSettings {
            url: admin_url.to_owned(),
            max_connections: 1,
            connect_timeout: Duration::from_secs(5),
            schema: None,
        };
        let admin = std::sync::Arc::new(
            infra::db::PostgresDatabase::connect(&settings)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} (HIVE_TEST_POSTGRES_URL) is unreachable: {e}")),
        );
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("{prefix}_{nanos:x}_{}", std::process::id());
        infra::db::Database::execute(&*admin, &format!("CREATE DATABASE {name}"), &[]).await.unwrap();
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
        Database { admin, url: format!("{base}/{name}"), name }
    }

    pub async fn drop_it(self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = infra::db::Database::execute(&*self.admin, &sql, &[]).await;
    }
}
