//! A review's life over the bus: a task's `task.review_requested` (or the
//! API) asks Guardian for the facts with `code.analysis_requested`;
//! Guardian's `code.analysis_completed` (or the sweep, when it never comes)
//! ends it with a judgement and `review.completed`.

use std::collections::BTreeMap;

use infra::Error;
use infra::edge::Message;
use infra::events::{
    CodeAnalysisCompleted, CodeAnalysisRequested, Envelope, EventName, ReviewCompleted, ReviewDecision, TaskReviewRequested,
};
use infra::llm::{LlmRequest, Outcome, json_text};
use reviewer_engine::narrative::{self, Narrative};
use reviewer_engine::{Analysis, CodeFacts, Decision, Review, ReviewConfig, SourceFile, Submission};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{MAX_FILE_BYTES, MAX_FILES};
use crate::repo::{Ending, LlmCall, NewReview, ReviewRow, State};
use crate::{EVENTS, Reviewer, keys, now_ms};

/// The submission as stored, with the caller's free-form context and the
/// configuration in force when it was requested.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stored {
    pub submission: Submission,
    pub context: Option<Value>,
    /// Set when the review is requested; absent in reviews stored before
    /// configurations were kept, which are judged under today's.
    #[serde(default)]
    pub config: Option<AppliedConfig>,
}

/// Where a tenant's configuration comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "ReviewConfigSource")]
pub enum ConfigSource {
    /// Set through `PUT /v1/reviews/config`.
    Tenant,
    /// `HIVE_REVIEWS_CONFIG`.
    Environment,
    /// The original platform's.
    Standard,
}

/// Which configuration a review was judged under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ReviewConfigUsed")]
pub struct ConfigUsed {
    pub source: ConfigSource,
    /// The tenant's version, for a configuration set through the API.
    pub version: Option<i64>,
}

/// A configuration and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppliedConfig {
    pub used: ConfigUsed,
    pub config: ReviewConfig,
}

/// What was asked, before the review exists.
pub struct Request<'a> {
    pub tenant: &'a str,
    pub id: &'a str,
    pub task_id: Option<&'a str>,
    pub title: &'a str,
    pub criteria: &'a [String],
    pub source: &'a str,
    pub correlation_id: &'a str,
}

/// The review document kept in the row and served by the API.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Judgement {
    pub review: Review,
    /// `deterministic`, or `deterministic+llm` once a narrative is added.
    pub reviewer: String,
    #[serde(default)]
    pub narrative: Option<Narrative>,
    /// How the model's call ended (`answered`, `timeout`, `invalid: …`), when one was made.
    #[serde(default)]
    pub llm: Option<String>,
    /// The configuration it was judged under.
    #[serde(default)]
    pub config: Option<ConfigUsed>,
}

impl Reviewer {
    pub async fn handle_message(&self, message: Message) -> Result<(), Error> {
        let envelope = message.envelope()?;
        match envelope.name()? {
            EventName::TaskReviewRequested => self.on_review_requested(&envelope).await,
            EventName::CodeAnalysisCompleted => self.on_analysis_completed(&envelope).await,
            _ => Ok(()),
        }
    }

    /// The tenant's configuration now: set through the API, else the
    /// environment's, else the standard one.
    pub async fn config_for(&self, tenant: &str) -> Result<AppliedConfig, Error> {
        if let Some(row) = self.repo.config(tenant).await? {
            // Checked when it was set; the standard it merges over may have changed since.
            let config = ReviewConfig::with_overrides(&row.overrides).map_err(|e| Error::invalid(format!("config.{}", e.field), e.message))?;
            return Ok(AppliedConfig { used: ConfigUsed { source: ConfigSource::Tenant, version: Some(row.version) }, config });
        }
        let source = if self.settings.tenants.contains_key(tenant) { ConfigSource::Environment } else { ConfigSource::Standard };
        Ok(AppliedConfig { used: ConfigUsed { source, version: None }, config: self.settings.config(tenant) })
    }

    /// Stores the submission under the configuration in force and asks
    /// Guardian; `false` for a redelivery.
    pub async fn begin(&self, request: Request<'_>, mut stored: Stored, inbox: Option<&str>) -> Result<bool, Error> {
        let (tenant, id) = (request.tenant, request.id);
        // A redelivery must not store the submission again under a
        // configuration changed since the review began.
        if inbox.is_some() && self.repo.get(tenant, id).await?.is_some() {
            return Ok(false);
        }
        stored.config = Some(self.config_for(tenant).await?);
        let bytes = serde_json::to_vec(&stored).map_err(|e| Error::invalid("submission", e.to_string()))?;
        self.objects.put(&keys::submission(tenant, id), bytes, "application/json").await?;
        let analysis_key = keys::analysis(tenant, id);
        self.objects.put(&analysis_key, guardian_request(&stored.submission), "application/json").await?;
        let asked = CodeAnalysisRequested {
            tenant: tenant.to_owned(),
            analysis: id.to_owned(),
            files: Some(analysis_key),
            pull_request: None,
            fail_level: "error".into(),
        };
        let now = now_ms();
        let deadline_at = now + i64::try_from(self.settings.analysis_timeout.as_millis()).unwrap_or(i64::MAX / 4);
        let review = NewReview {
            tenant,
            id,
            task_id: request.task_id,
            title: request.title,
            criteria: request.criteria,
            source: request.source,
            now,
            deadline_at,
        };
        let envelope = self.event(tenant, request.correlation_id, &asked)?;
        let staged = self.repo.request(review, inbox.map(|event| (EVENTS.name, event)), envelope).await?;
        let Some(staged) = staged else { return Ok(false) };
        self.outbox.relay(staged, now).await;
        tracing::info!(review = %id, "analysis requested");
        Ok(true)
    }

    async fn on_review_requested(&self, envelope: &Envelope) -> Result<(), Error> {
        let task = envelope.decode::<TaskReviewRequested>()?.0;
        let tenant = envelope.tenant.as_deref().ok_or_else(|| Error::invalid("tenant", "a task event names its tenant"))?;
        // The review's id is the event's: a redelivery rewrites the same objects.
        let id = envelope.id.as_str();
        let request = Request {
            tenant,
            id,
            task_id: Some(&task.task),
            title: &task.title,
            criteria: &task.acceptance_criteria,
            source: "task",
            correlation_id: &envelope.correlationid,
        };
        match submission_of(task.result.as_ref()) {
            Ok(stored) => self.begin(request, stored, Some(&envelope.id)).await.map(|_| ()),
            Err(reason) => self.refuse(request, &envelope.id, &reason).await,
        }
    }

    /// A submission that cannot be reviewed: escalated at once, with the reason.
    async fn refuse(&self, request: Request<'_>, event_id: &str, reason: &str) -> Result<(), Error> {
        let now = now_ms();
        let judgement = json!({"review": null, "reviewer": "deterministic"});
        let ending = Ending { state: State::Escalated, decision: "escalate", score: 0.0, confidence: 0.0, reason: Some(reason), judgement: &judgement };
        let completed = vec![self.event(request.tenant, request.correlation_id, &ReviewCompleted {
            review: request.id.to_owned(),
            task: request.task_id.map(str::to_owned),
            decision: ReviewDecision::Escalate,
            score: None,
            feedback: Some(format!("the submission cannot be reviewed: {reason}")),
            sub_scores: None,
            link: Some(format!("/v1/reviews/{}", request.id)),
        })?];
        let review = NewReview {
            tenant: request.tenant,
            id: request.id,
            task_id: request.task_id,
            title: request.title,
            criteria: request.criteria,
            source: request.source,
            now,
            deadline_at: now,
        };
        if let Some(staged) = self.repo.reject_request(review, (EVENTS.name, event_id), ending, completed).await? {
            self.outbox.relay(staged, now).await;
            tracing::info!(review = %request.id, %reason, "review escalated: unusable submission");
        }
        Ok(())
    }

    async fn on_analysis_completed(&self, envelope: &Envelope) -> Result<(), Error> {
        let done: CodeAnalysisCompleted = envelope.decode()?;
        let Some(tenant) = envelope.tenant.as_deref() else { return Ok(()) };
        let row = self.repo.get(tenant, &done.analysis).await?;
        let Some(row) = row.filter(|r| r.state == State::Analysing) else {
            // Another client's analysis, or a review the sweep already ended.
            return self.repo.skip(EVENTS.name, &envelope.id, now_ms()).await;
        };
        let analysis = match (done.status.as_str(), &done.results) {
            ("succeeded", Some(key)) => {
                let bytes = self.objects.get(key).await?;
                match serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()).and_then(|document| {
                    CodeFacts::from_guardian_document(&document).map_err(|e| e.to_string())
                }) {
                    Ok(facts) => Analysis::Completed(facts),
                    Err(message) => Analysis::Unavailable(format!("Guardian's results do not read: {message}")),
                }
            }
            _ => Analysis::Unavailable(format!("Guardian's analysis failed: {}", done.error.as_deref().unwrap_or("no reason given"))),
        };
        self.conclude(tenant, &row, analysis, Some(&envelope.id), &envelope.correlationid).await
    }

    /// One sweep: every review still analysing past its deadline is judged
    /// without Guardian's facts, which escalates it. Returns how many.
    pub async fn sweep(&self) -> Result<usize, Error> {
        let seconds = self.settings.analysis_timeout.as_secs();
        let mut ended = 0;
        for (tenant, id) in self.repo.overdue(now_ms(), 100).await? {
            let Some(row) = self.repo.get(&tenant, &id).await? else { continue };
            let reason = format!("Guardian did not answer within {seconds} s");
            if self.conclude(&tenant, &row, Analysis::Unavailable(reason), None, &format!("review-{id}")).await.is_ok() {
                ended += 1;
            }
        }
        Ok(ended)
    }

    async fn conclude(&self, tenant: &str, row: &ReviewRow, analysis: Analysis, inbox: Option<&str>, correlation_id: &str) -> Result<(), Error> {
        let bytes = self.objects.get(&keys::submission(tenant, &row.id)).await?;
        let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| Error::invalid("submission", e.to_string()))?;
        // The configuration in force when the review was requested, so that
        // judging the same submission again gives the same score.
        let applied = match stored.config {
            Some(applied) => applied,
            None => self.config_for(tenant).await?,
        };
        let config = applied.config;
        let guardian_answered = matches!(analysis, Analysis::Completed(_));
        let now = now_ms();
        let (state, review, reason) = match reviewer_engine::review(&stored.submission, &analysis, &config) {
            Ok(review) => {
                let reason = match &analysis {
                    Analysis::Unavailable(reason) => Some(reason.clone()),
                    Analysis::Completed(_) => None,
                };
                (if guardian_answered { State::Scored } else { State::Escalated }, Some(review), reason)
            }
            Err(error) => (State::Escalated, None, Some(format!("the coverage report does not parse: {error}"))),
        };
        let (review, narrative, llm) = match review {
            Some(review) if guardian_answered && self.llm.enabled() => self.narrate(tenant, row, &stored.submission, review, &config).await?,
            review => (review, None, None),
        };
        let reviewer = if narrative.is_some() { "deterministic+llm" } else { "deterministic" };
        let judgement = match &review {
            Some(review) => {
                serde_json::to_value(Judgement { review: review.clone(), reviewer: reviewer.into(), narrative, llm, config: Some(applied.used) })
                    .map_err(|e| Error::invalid("judgement", e.to_string()))?
            }
            None => json!({"review": null, "reviewer": "deterministic", "config": applied.used}),
        };
        let decision = review.as_ref().map_or(Decision::Escalate, |r| r.decision);
        // A review submitted through the API has no task: its event says so,
        // and the Orchestrator passes it by.
        let completed = vec![self.event(tenant, correlation_id, &ReviewCompleted {
            review: row.id.clone(),
            task: row.task_id.clone(),
            decision: wire_decision(decision),
            score: review.as_ref().map(|r| r.score),
            feedback: feedback(review.as_ref(), reason.as_deref()),
            sub_scores: review.as_ref().map(|r| r.sub_scores.iter().map(|s| (s.area.as_str().to_owned(), s.score)).collect::<BTreeMap<_, _>>()),
            link: Some(format!("/v1/reviews/{}", row.id)),
        })?];
        let ending = Ending {
            state,
            decision: decision.as_str(),
            score: review.as_ref().map_or(0.0, |r| r.score),
            confidence: review.as_ref().map_or(0.0, |r| r.confidence),
            reason: reason.as_deref(),
            judgement: &judgement,
        };
        let inbox = inbox.map(|event| (EVENTS.name, event));
        if let Some(staged) = self.repo.finish(tenant, &row.id, inbox, ending, completed, now).await? {
            self.outbox.relay(staged, now).await;
            tracing::info!(review = %row.id, decision = decision.as_str(), state = state.as_str(), "review ended");
        }
        Ok(())
    }
}

impl Reviewer {
    /// Asks the model for the narrative. Whatever happens the deterministic
    /// review stands; the model's answer can only add remarks and lower
    /// the confidence.
    async fn narrate(
        &self,
        tenant: &str,
        row: &ReviewRow,
        submission: &Submission,
        review: Review,
        config: &ReviewConfig,
    ) -> Result<(Option<Review>, Option<Narrative>, Option<String>), Error> {
        let month: String = infra::time::rfc3339(now_ms()).chars().take(7).collect();
        let spent = self.repo.llm_spent(tenant, &month).await?;
        if let Some(budget) = self.settings.llm.monthly_budget_usd.filter(|budget| spent >= *budget) {
            let reason = format!("over_budget: the monthly LLM budget of ${budget:.2} is spent (${spent:.4} this month)");
            return Ok((Some(review), None, Some(reason)));
        }
        let prompt = narrative::prompt(&row.title, &row.criteria, submission, &review, config);
        let request = LlmRequest {
            system: prompt.system,
            user: prompt.user,
            schema: narrative::schema(),
            schema_name: narrative::SCHEMA_NAME.into(),
            max_tokens: 2048,
        };
        let completion = self.llm.complete(&request).await;
        tracing::info!(
            review = %row.id,
            outcome = completion.outcome.as_str(),
            tokens_in = completion.tokens_in,
            tokens_out = completion.tokens_out,
            "narrative requested"
        );
        let call = LlmCall {
            review: &row.id,
            outcome: completion.outcome.as_str(),
            tokens_in: completion.tokens_in,
            tokens_out: completion.tokens_out,
            cost_usd: self.settings.llm.cost_usd(completion.tokens_in, completion.tokens_out),
        };
        self.repo.record_llm_call(tenant, &month, &call, now_ms()).await?;
        Ok(match &completion.outcome {
            Outcome::Answered { text } => match narrative::apply(&review, submission, json_text(text), config) {
                Ok((judged, narrative)) => (Some(judged), Some(narrative), Some("answered".into())),
                Err(error) => (Some(review), None, Some(format!("invalid: {error}"))),
            },
            other => (Some(review), None, Some(other.as_str().into())),
        })
    }
}

fn wire_decision(decision: Decision) -> ReviewDecision {
    match decision {
        Decision::Approve => ReviewDecision::Approve,
        Decision::Rework => ReviewDecision::Rework,
        Decision::Escalate => ReviewDecision::Escalate,
        Decision::Reject => ReviewDecision::Reject,
    }
}

/// The remarks for a rework or a rejection; the reasons for an escalation.
fn feedback(review: Option<&Review>, reason: Option<&str>) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(reason) = reason {
        parts.push(reason.to_owned());
    }
    if let Some(review) = review {
        if review.decision == Decision::Escalate {
            parts.extend(review.confidence_notes.iter().cloned());
        }
        let remarks = review.feedback();
        if !remarks.is_empty() {
            parts.push(remarks);
        }
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

/// Guardian's `{"files": [{"path", "content"}], "changed_lines"?}`, with
/// only the files it reads (Python and Rust).
fn guardian_request(submission: &Submission) -> Vec<u8> {
    let files: Vec<Value> = submission
        .files
        .iter()
        .filter(|f| f.path.ends_with(".py") || f.path.ends_with(".pyi") || f.path.ends_with(".rs"))
        .map(|f| json!({"path": f.path, "content": f.content}))
        .collect();
    let mut request = json!({"files": files});
    if let Some(changed) = &submission.changed_lines {
        let changed: BTreeMap<&String, Vec<[u32; 2]>> = changed.iter().map(|(p, r)| (p, r.iter().map(|(a, b)| [*a, *b]).collect())).collect();
        request["changed_lines"] = json!(changed);
    }
    serde_json::to_vec(&request).unwrap_or_default()
}

/// A task's `result` as a submission: `{"files": [{"path", "content"}],
/// "changed_lines"?, "coverage"?}`; the reason it is not one, otherwise.
pub fn submission_of(result: Option<&Value>) -> Result<Stored, String> {
    #[derive(Deserialize)]
    struct Wire {
        files: Vec<SourceFile>,
        #[serde(default)]
        changed_lines: Option<BTreeMap<String, Vec<[u32; 2]>>>,
        #[serde(default)]
        coverage: Option<String>,
        #[serde(default)]
        context: Option<Value>,
    }
    let result = result.ok_or("the task has no result")?;
    let wire: Wire = serde_json::from_value(result.clone()).map_err(|e| format!("the result is not a submission: {e}"))?;
    let stored = Stored {
        submission: Submission {
            files: wire.files,
            changed_lines: wire.changed_lines.map(|m| m.into_iter().map(|(p, r)| (p, r.into_iter().map(|[a, b]| (a, b)).collect())).collect()),
            coverage: wire.coverage,
        },
        context: wire.context,
        config: None,
    };
    check(&stored.submission, MAX_FILES).map_err(|(field, message)| format!("{field}: {message}"))?;
    Ok(stored)
}

/// The limits of a submission of at most `max_files` files (more for an
/// upload than inline), as `(field, message)`.
pub fn check(submission: &Submission, max_files: usize) -> Result<(), (String, String)> {
    if submission.files.is_empty() {
        return Err(("files".into(), "the submission has no files".into()));
    }
    if submission.files.len() > max_files {
        return Err(("files".into(), format!("{} files, over the limit of {max_files}", submission.files.len())));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, file) in submission.files.iter().enumerate() {
        let path = &file.path;
        let bad = path.is_empty()
            || path.len() > 1024
            || path.starts_with('/')
            || path.contains('\\')
            || path.split('/').any(|s| s == ".." || s.is_empty())
            || path.chars().any(char::is_control);
        if bad {
            return Err((format!("files[{i}].path"), "a relative path with `/` separators, without `..` or empty segments".into()));
        }
        if !seen.insert(path.as_str()) {
            return Err((format!("files[{i}].path"), format!("{path} is submitted twice")));
        }
        if file.content.len() > MAX_FILE_BYTES {
            return Err((format!("files[{i}].content"), format!("{} bytes, over the limit of {MAX_FILE_BYTES}", file.content.len())));
        }
        if file.content.contains('\0') {
            return Err((format!("files[{i}].content"), "a binary file (it holds NUL bytes); submit source text only".into()));
        }
    }
    if let Some(coverage) = &submission.coverage {
        reviewer_engine::Coverage::parse(coverage).map_err(|e| ("coverage".to_owned(), e.to_string()))?;
    }
    Ok(())
}
