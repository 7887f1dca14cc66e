//! The analysis worker: one `code.analysis_requested` is one review.

use std::collections::{BTreeMap, BTreeSet};

use guardian_engine::review::changed_lines_from_patch;
use guardian_engine::{ChangedLines, Config, FileReport, Review, Severity, analyse, report};
use infra::Error;
use infra::edge::Message;
use infra::events::{CodeAnalysisCompleted, CodeAnalysisRequested, Envelope, EventName};
use serde_json::json;

use crate::api::{SourceFile, SubmitBody};
use crate::{Guardian, WORKER, keys, now_ms};

/// A stack deep enough for any tree the engine's guards let through.
const ANALYSIS_STACK: usize = 256 * 1024 * 1024;

/// Where a repository's own configuration is, at the head of a pull request.
pub const CONFIG_FILE: &str = "guardian.toml";

/// What to analyse, and under which configuration.
pub struct Input {
    pub files: Vec<(String, Vec<u8>)>,
    pub changed: Option<ChangedLines>,
    pub config: Config,
}

/// Why a review could not run: a message, and for a bad configuration the
/// file and line it names (annotated on the check run).
pub struct Refused {
    pub message: String,
    pub at: Option<(String, u32)>,
}

impl From<String> for Refused {
    fn from(message: String) -> Refused {
        Refused { message, at: None }
    }
}

impl From<&str> for Refused {
    fn from(message: &str) -> Refused {
        message.to_owned().into()
    }
}

/// A repository's `guardian.toml`, or why it is unusable (file, line, key).
pub fn repository_config(bytes: Option<Vec<u8>>) -> Result<Config, Refused> {
    let Some(bytes) = bytes else { return Ok(Config::standard()) };
    let text = String::from_utf8(bytes).map_err(|_| Refused {
        message: format!("{CONFIG_FILE}:1: the file is not UTF-8"),
        at: Some((CONFIG_FILE.to_owned(), 1)),
    })?;
    Config::parse(&text).map_err(|e| Refused {
        message: format!("{CONFIG_FILE}:{}: {}: {}", e.line, e.key, e.message),
        at: Some((CONFIG_FILE.to_owned(), e.line.max(1))),
    })
}

/// Runs the engine on every file on a thread with a large stack.
pub fn analyse_files(input: Input, fail_level: Severity) -> Result<Review, Error> {
    let worker = std::thread::Builder::new().stack_size(ANALYSIS_STACK).spawn(move || {
        let config = input.config;
        let reports: Vec<FileReport> = input
            .files
            .iter()
            .filter(|(path, _)| !config.excluded(path))
            .map(|(path, bytes)| analyse(path, bytes, &config, Severity::Info))
            .collect();
        Review::new(reports, &BTreeSet::new(), input.changed.as_ref(), fail_level)
    });
    worker
        .map_err(|e| Error::Backend { service: "guardian", message: format!("spawning the analysis: {e}") })?
        .join()
        .map_err(|_| Error::Backend { service: "guardian", message: "the analysis panicked".into() })
}

impl Guardian {
    pub async fn handle_message(&self, message: Message) -> Result<(), Error> {
        let envelope = message.envelope()?;
        if envelope.name()? != EventName::CodeAnalysisRequested {
            return Ok(());
        }
        let request: CodeAnalysisRequested = envelope.decode()?;
        self.run(&request, &envelope).await
    }

    async fn load(&self, request: &CodeAnalysisRequested) -> Result<Result<Input, Refused>, Error> {
        if let Some(key) = &request.files {
            let bytes = self.objects.get(key).await?;
            let body: SubmitBody = match serde_json::from_slice(&bytes) {
                Ok(body) => body,
                Err(e) => return Ok(Err(format!("the files object is not a review request: {e}").into())),
            };
            let changed = body.changed_lines.map(|lines| {
                lines.into_iter().map(|(path, ranges)| (path, ranges.into_iter().map(|[a, b]| (a, b)).collect())).collect()
            });
            let files = match (body.files, body.upload) {
                (Some(files), _) => files,
                (None, Some(upload)) => match self.uploads.files(&request.tenant, &upload).await? {
                    Ok(files) => files.into_iter().map(|f| SourceFile { path: f.path, content: f.content }).collect(),
                    Err(message) => return Ok(Err(message.into())),
                },
                (None, None) => return Ok(Err("the review request names neither files nor an upload".into())),
            };
            let files = files.into_iter().map(|f| (f.path, f.content.into_bytes())).collect();
            return Ok(Ok(Input { files, changed, config: Config::standard() }));
        }
        let Some(target) = &request.pull_request else {
            return Ok(Err("the request names neither files nor a pull request".into()));
        };
        if self.settings.github_token.is_none() {
            return Ok(Err("HIVE_GITHUB_TOKEN is not set; the pull request cannot be read".into()));
        }
        // The repository's own configuration, as it is at the head.
        let config = match repository_config(self.github.content(&target.repository, CONFIG_FILE, &target.head_sha).await?) {
            Ok(config) => config,
            Err(refused) => return Ok(Err(refused)),
        };
        let mut files = Vec::new();
        let mut changed: ChangedLines = BTreeMap::new();
        for file in self.github.pull_files(&target.repository, target.number).await? {
            let reviewed = guardian_engine::analysis::SourceLanguage::of(&file.filename).is_some();
            if file.status == "removed" || !reviewed || config.excluded(&file.filename) {
                continue;
            }
            if let Some(bytes) = self.github.content(&target.repository, &file.filename, &target.head_sha).await? {
                changed.insert(file.filename.clone(), file.patch.as_deref().map(changed_lines_from_patch).unwrap_or_default());
                files.push((file.filename, bytes));
            }
        }
        Ok(Ok(Input { files, changed: Some(changed), config }))
    }

    pub async fn run(&self, request: &CodeAnalysisRequested, envelope: &Envelope) -> Result<(), Error> {
        let tenant = request.tenant.as_str();
        let id = request.analysis.as_str();
        let outcome = match request.fail_level.parse::<Severity>() {
            Err(message) => Err(Refused::from(message)),
            Ok(fail_level) => match self.load(request).await? {
                Err(message) => Err(message),
                Ok(input) => {
                    let review = tokio::task::spawn_blocking(move || analyse_files(input, fail_level))
                        .await
                        .map_err(|e| Error::Backend { service: "guardian", message: e.to_string() })??;
                    Ok(review)
                }
            },
        };
        let completed = match &outcome {
            Ok(review) => {
                let document = json!({
                    "id": id,
                    "summary": review.summary,
                    "findings": review.findings().collect::<Vec<_>>(),
                    "metrics": report::metrics(review),
                });
                let results = keys::review(tenant, id);
                let sarif = keys::sarif(tenant, id);
                self.objects.put(&results, serde_json::to_vec(&document).unwrap_or_default(), "application/json").await?;
                self.objects.put(&sarif, serde_json::to_vec(&report::sarif(review)).unwrap_or_default(), "application/sarif+json").await?;
                if let Some(target) = &request.pull_request {
                    let (check_run, requests) = self.github.report(&target.repository, &target.head_sha, review, true).await?;
                    tracing::info!(review = %id, check_run, requests, "check run reported");
                }
                CodeAnalysisCompleted {
                    analysis: id.to_owned(),
                    status: "succeeded".into(),
                    findings: review.summary.findings as u64,
                    failed_gate: review.summary.failed,
                    results: Some(results),
                    sarif: Some(sarif),
                    error: None,
                }
            }
            Err(refused) => {
                // A pull request whose configuration is bad gets a failed check naming it.
                if let (Some(target), Some(at)) = (&request.pull_request, &refused.at) {
                    let check_run = self.github.report_refusal(&target.repository, &target.head_sha, &refused.message, at).await?;
                    tracing::info!(review = %id, check_run, "configuration refused on the check run");
                }
                CodeAnalysisCompleted {
                    analysis: id.to_owned(),
                    status: "failed".into(),
                    findings: 0,
                    failed_gate: true,
                    results: None,
                    sarif: None,
                    error: Some(refused.message.clone()),
                }
            }
        };
        let now = now_ms();
        let announce = self.event(tenant, &envelope.correlationid, &completed)?;
        let staged = self
            .repo
            .finish(
                tenant,
                id,
                WORKER.name,
                &envelope.id,
                &completed.status,
                completed.findings as i64,
                completed.failed_gate,
                completed.error.as_deref(),
                now,
                announce,
            )
            .await?;
        if let Some(staged) = staged {
            self.outbox.relay(staged, now).await;
            tracing::info!(review = %id, status = %completed.status, findings = completed.findings, "analysis recorded");
        }
        Ok(())
    }
}
