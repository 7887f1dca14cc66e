//! The GitHub REST API, as much as Guardian needs: a pull request's changed
//! files, a file's content at a commit, and check runs with annotations
//! (at most 50 per request; each further update appends its batch).

use guardian_engine::{Finding, Review, Severity};
use infra::Error;
use infra::config::Secret;
use serde::Deserialize;
use serde_json::{Value, json};

/// GitHub's limit of annotations per check-run request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
pub const CHECK_NAME: &str = "Guardian";

#[derive(Clone)]
pub struct GitHub {
    base: String,
    token: Option<Secret>,
    client: reqwest::Client,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PullFile {
    pub filename: String,
    pub status: String,
    #[serde(default)]
    pub patch: Option<String>,
}

fn unavailable(message: impl std::fmt::Display) -> Error {
    Error::Unavailable { service: "github", message: message.to_string() }
}

impl GitHub {
    pub fn new(base: &str, token: Option<Secret>) -> Result<GitHub, Error> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .user_agent("hive-guardian")
            .build()
            .map_err(|e| Error::Backend { service: "github", message: e.to_string() })?;
        Ok(GitHub { base: base.trim_end_matches('/').to_owned(), token, client })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> Result<reqwest::RequestBuilder, Error> {
        let token = self.token.as_ref().ok_or_else(|| Error::invalid("HIVE_GITHUB_TOKEN", "is not set; pull requests cannot be read"))?;
        Ok(self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token.expose())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28"))
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<reqwest::Response, Error> {
        let response = builder.send().await.map_err(unavailable)?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(unavailable(format!("GitHub answered {status}")));
        }
        Ok(response)
    }

    /// Every changed file of a pull request (GitHub lists at most 3,000).
    pub async fn pull_files(&self, repository: &str, number: u64) -> Result<Vec<PullFile>, Error> {
        let mut files = Vec::new();
        for page in 1..=30 {
            let path = format!("/repos/{repository}/pulls/{number}/files?per_page=100&page={page}");
            let response = self.send(self.request(reqwest::Method::GET, &path)?).await?;
            if !response.status().is_success() {
                return Err(Error::invalid("pull_request", format!("GitHub answered {} for {path}", response.status())));
            }
            let batch: Vec<PullFile> = response.json().await.map_err(unavailable)?;
            let last = batch.len() < 100;
            files.extend(batch);
            if last {
                break;
            }
        }
        Ok(files)
    }

    /// A file's bytes at `sha`; `None` when it is not there.
    pub async fn content(&self, repository: &str, path: &str, sha: &str) -> Result<Option<Vec<u8>>, Error> {
        let url = format!("/repos/{repository}/contents/{path}?ref={sha}");
        let response = self.send(self.request(reqwest::Method::GET, &url)?.header("Accept", "application/vnd.github.raw+json")).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            return Err(Error::invalid("pull_request", format!("GitHub answered {} for {url}", response.status())));
        }
        Ok(Some(response.bytes().await.map_err(unavailable)?.to_vec()))
    }

    /// Creates the check run with the first batch of annotations and
    /// appends the others, one update per batch. Returns the check run's id
    /// and the number of requests made.
    pub async fn report(&self, repository: &str, head_sha: &str, review: &Review, changed_only: bool) -> Result<(u64, usize), Error> {
        let batches = check_run_batches(review, changed_only);
        let (title, summary) = check_run_text(review);
        let conclusion = if review.summary.failed { "failure" } else { "success" };
        let first = json!({
            "name": CHECK_NAME,
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": conclusion,
            "output": {"title": title, "summary": summary, "annotations": batches.first().cloned().unwrap_or_default()},
        });
        let response = self.send(self.request(reqwest::Method::POST, &format!("/repos/{repository}/check-runs"))?.json(&first)).await?;
        if !response.status().is_success() {
            return Err(Error::invalid("check_run", format!("GitHub answered {} creating the check run", response.status())));
        }
        let created: Value = response.json().await.map_err(unavailable)?;
        let id = created["id"].as_u64().ok_or_else(|| unavailable("the check run has no id"))?;
        for batch in batches.iter().skip(1) {
            let update = json!({"output": {"title": title, "summary": summary, "annotations": batch}});
            let path = format!("/repos/{repository}/check-runs/{id}");
            let response = self.send(self.request(reqwest::Method::PATCH, &path)?.json(&update)).await?;
            if !response.status().is_success() {
                return Err(Error::invalid("check_run", format!("GitHub answered {} updating the check run", response.status())));
            }
        }
        Ok((id, batches.len().max(1)))
    }
}

impl GitHub {
    /// A failed check run for a review that could not run (a bad
    /// configuration), annotated at the file and line at fault.
    pub async fn report_refusal(&self, repository: &str, head_sha: &str, message: &str, at: &(String, u32)) -> Result<u64, Error> {
        let (path, line) = at;
        let body = json!({
            "name": CHECK_NAME,
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": "failure",
            "output": {
                "title": format!("{path} is invalid"),
                "summary": format!("Guardian did not review this pull request: {message}"),
                "annotations": [{
                    "path": path,
                    "start_line": line,
                    "end_line": line,
                    "annotation_level": "failure",
                    "title": "invalid configuration",
                    "message": message,
                }],
            },
        });
        let response = self.send(self.request(reqwest::Method::POST, &format!("/repos/{repository}/check-runs"))?.json(&body)).await?;
        if !response.status().is_success() {
            return Err(Error::invalid("check_run", format!("GitHub answered {} creating the check run", response.status())));
        }
        let created: Value = response.json().await.map_err(unavailable)?;
        created["id"].as_u64().ok_or_else(|| unavailable("the check run has no id"))
    }
}

pub fn check_run_text(review: &Review) -> (String, String) {
    let s = &review.summary;
    let title = if s.findings == 0 { "No findings".to_owned() } else { format!("{} finding{}", s.findings, if s.findings == 1 { "" } else { "s" }) };
    let by: Vec<String> = Severity::ALL.iter().rev().filter_map(|sev| s.by_severity.get(sev).map(|n| format!("{n} {sev}"))).collect();
    let summary = format!(
        "Guardian reviewed {} files ({} lines): {}; {} suppressed, {} in the baseline.",
        s.files,
        s.lines,
        if by.is_empty() { "nothing to report".to_owned() } else { by.join(", ") },
        s.suppressed,
        s.baselined
    );
    (title, summary)
}

fn annotation(finding: &Finding) -> Value {
    let level = match finding.severity {
        Severity::Critical | Severity::Error => "failure",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    };
    json!({
        "path": finding.path,
        "start_line": finding.line.max(1),
        "end_line": finding.line.max(1),
        "annotation_level": level,
        "title": finding.rule,
        "message": finding.message,
    })
}

/// The annotations in batches of [`ANNOTATIONS_PER_REQUEST`]. The review
/// was already cut to the changed lines when `changed_only`.
pub fn check_run_batches(review: &Review, _changed_only: bool) -> Vec<Vec<Value>> {
    let annotations: Vec<Value> = review.counting().map(annotation).collect();
    annotations.chunks(ANNOTATIONS_PER_REQUEST).map(<[Value]>::to_vec).collect()
}
