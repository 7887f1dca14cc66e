//! The Orchestrator through the real `hive serve`, worked by the real
//! `hive worker`: a command runs once per task with the task on stdin, a
//! failing one is retried then failed, and `hive tasks` shows the result.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{HIVE, Server, mint};

async fn state(client: &reqwest::Client, server: &Server, token: &str, id: &str) -> String {
    let shown: serde_json::Value =
        client.get(server.url(&format!("/v1/tasks/{id}"))).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    shown["task"]["state"].as_str().unwrap_or("?").to_owned()
}

fn hive(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(HIVE).args(args).env_clear().env("HIVE_DATA_DIR", dir).output().unwrap()
}

#[tokio::test]
async fn hive_worker_runs_each_task_once_and_hive_tasks_shows_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    // A fast scheduler is not needed: the failing task fails on its own runs.
    let server = Server::start(dir.path(), &[]);
    let token = mint(dir.path(), "acme", "tasks:read,tasks:write,tasks:work");
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for (title, max_retries) in [("say hello", 2), ("please fail", 1)] {
        let reply: serde_json::Value = client
            .post(server.url("/v1/tasks"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"title": title, "role": "backend", "max_retries": max_retries, "input": {"who": "world"}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(reply["task"]["id"].as_str().unwrap().to_owned());
    }
    let log = dir.path().join("ran.log");
    let script = format!(
        "task=$(cat); echo \"$task\" >> {log}; case \"$task\" in *'please fail'*) echo boom >&2; exit 3;; esac; echo \"hello $(echo \"$task\" | grep -o world)\"",
        log = log.display()
    );
    let mut worker = Command::new(HIVE)
        .args(["worker", "--role", "backend", "--capacity", "2", "--url", &server.base, "--tenant", "acme", "--", "sh", "-c", &script])
        .env_clear()
        .env("HIVE_DATA_DIR", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let (done, failed) = (state(&client, &server, &token, &ids[0]).await, state(&client, &server, &token, &ids[1]).await);
        if done == "completed" && failed == "failed" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "still {done} and {failed}\n{}", server.stderr());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Ctrl-C (SIGINT) stops the worker cleanly.
    let _ = Command::new("kill").args(["-INT", &worker.id().to_string()]).status();
    let status = worker.wait().unwrap();
    assert!(status.success(), "the worker exits 0 after Ctrl-C: {status:?}");

    let ran = std::fs::read_to_string(&log).unwrap();
    assert_eq!(ran.lines().filter(|l| l.contains("say hello")).count(), 1, "one run for the task that succeeded");
    assert_eq!(ran.lines().filter(|l| l.contains("please fail")).count(), 2, "max_retries 1: two attempts");
    let shown: serde_json::Value =
        client.get(server.url(&format!("/v1/tasks/{}", ids[0]))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["task"]["result"]["output"], serde_json::json!(["hello world"]), "the last output lines are the result");

    let list = hive(dir.path(), &["tasks", "list", "--url", &server.base, "--tenant", "acme"]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(list.contains("completed") && list.contains("failed") && list.contains("say hello"), "{list}");
    let history = hive(dir.path(), &["tasks", "history", &ids[1], "--url", &server.base, "--tenant", "acme"]);
    let history = String::from_utf8(history.stdout).unwrap();
    assert_eq!(history.lines().filter(|l| l.contains(" claim ")).count(), 2, "{history}");
    assert!(history.contains("out of retries"), "{history}");
    let missing = hive(dir.path(), &["tasks", "show", "00000000-0000-4000-8000-000000000000", "--url", &server.base, "--tenant", "acme"]);
    assert_eq!(missing.status.code(), Some(2), "a refused request exits 2");
    assert!(server.stop());
}
