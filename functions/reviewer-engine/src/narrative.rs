//! The optional narrative: what a language model is asked (the
//! submission, the acceptance criteria and the deterministic findings), the
//! strict schema it answers to, and how its answer is applied. The model
//! never changes the score: it adds a summary, an acceptance-criteria
//! checklist and a few remarks, drops below a confidence threshold, and may
//! only lower the confidence (which can escalate).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;

use crate::config::ReviewConfig;
use crate::facts::{Severity, Submission};
use crate::review::{Remark, Review, decide};

pub const SCHEMA_NAME: &str = "review_narrative";
/// The source text the prompt carries at most, over all files.
const MAX_PROMPT_SOURCE_CHARS: usize = 60_000;

/// What the model added to a review.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ReviewNarrative")]
pub struct Narrative {
    pub summary: String,
    pub criteria: Vec<CriterionCheck>,
    /// The model's own confidence in the work (0–1).
    pub confidence: f64,
    /// Remarks it made that were dropped: below the confidence threshold,
    /// naming a file not in the submission, or over the budget.
    pub dropped_remarks: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ReviewCriterionCheck")]
pub struct CriterionCheck {
    pub criterion: String,
    #[schemars(extend("enum" = ["met", "not_met", "unclear"]))]
    pub status: String,
    pub note: String,
}

#[derive(Debug, Error, PartialEq)]
#[error("the model's answer does not follow the schema: {0}")]
pub struct NarrativeError(pub String);

/// The system and user messages.
pub struct Prompt {
    pub system: String,
    pub user: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    summary: String,
    confidence: f64,
    remarks: Vec<AnswerRemark>,
    criteria: Vec<CriterionCheck>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerRemark {
    file: String,
    line: u32,
    severity: Severity,
    confidence: f64,
    message: String,
}

/// The answer's JSON Schema, strict (every property required, no others).
pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "Two or three sentences on the work, for the person who decides."},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1, "description": "How sure you are that the work meets its acceptance criteria."},
            "remarks": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "file": {"type": "string"},
                    "line": {"type": "integer", "minimum": 1},
                    "severity": {"type": "string", "enum": ["critical", "error", "warning", "info"]},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "message": {"type": "string", "description": "What to change, in one sentence."}
                },
                "required": ["file", "line", "severity", "confidence", "message"],
                "additionalProperties": false
            }},
            "criteria": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "criterion": {"type": "string"},
                    "status": {"type": "string", "enum": ["met", "not_met", "unclear"]},
                    "note": {"type": "string"}
                },
                "required": ["criterion", "status", "note"],
                "additionalProperties": false
            }}
        },
        "required": ["summary", "confidence", "remarks", "criteria"],
        "additionalProperties": false
    })
}

/// The question: the task, its criteria, the deterministic findings and the source.
pub fn prompt(title: &str, criteria: &[String], submission: &Submission, review: &Review, config: &ReviewConfig) -> Prompt {
    let system = format!(
        "You review submitted code for a work platform. A deterministic reviewer already scored it; you do not score. \
         Write a short summary, check each acceptance criterion (met, not_met or unclear), and add at most {} remarks that the \
         findings below miss, each on a file and line of the submission, with your confidence. Leave out style a linter owns. \
         Answer with JSON only.",
        config.feedback_budget
    );
    let mut user = format!("Task: {title}\n\nAcceptance criteria:\n");
    for criterion in criteria {
        user.push_str(&format!("- {criterion}\n"));
    }
    if criteria.is_empty() {
        user.push_str("(none given)\n");
    }
    user.push_str(&format!("\nDeterministic score {:.2}, decision {}. Findings:\n", review.score, review.decision.as_str()));
    for e in review.evidence.iter().take(40) {
        let at = e.file.as_deref().map(|f| format!("{f}:{} ", e.line.unwrap_or(0))).unwrap_or_default();
        user.push_str(&format!("- {at}{} (-{:.1} {})\n", e.message, e.points, e.area.as_str()));
    }
    let mut budget = MAX_PROMPT_SOURCE_CHARS;
    user.push_str("\nFiles:\n");
    for file in &submission.files {
        let take: String = file.content.chars().take(budget).collect();
        budget -= take.chars().count();
        let cut = if take.len() < file.content.len() { "\n… (cut)" } else { "" };
        user.push_str(&format!("\n=== {} ===\n{take}{cut}\n", file.path));
        if budget == 0 {
            break;
        }
    }
    Prompt { system, user }
}

/// Applies the model's answer: the score and evidence stay as they are;
/// remarks under the threshold or on unknown files are dropped, the rest
/// follow the deterministic ones within the budget; the confidence can only
/// go down, and the decision is the table on it.
pub fn apply(review: &Review, submission: &Submission, answer: &str, config: &ReviewConfig) -> Result<(Review, Narrative), NarrativeError> {
    let answer: Answer = serde_json::from_str(answer).map_err(|e| NarrativeError(e.to_string()))?;
    let unit = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
    if !unit(answer.confidence) || answer.remarks.iter().any(|r| !unit(r.confidence)) {
        return Err(NarrativeError("a confidence is outside 0–1".into()));
    }
    if let Some(bad) = answer.criteria.iter().find(|c| !["met", "not_met", "unclear"].contains(&c.status.as_str())) {
        return Err(NarrativeError(format!("criterion status {:?}", bad.status)));
    }
    let mut judged = review.clone();
    let room = config.feedback_budget.saturating_sub(judged.remarks.len());
    let total = answer.remarks.len();
    let kept: Vec<Remark> = answer
        .remarks
        .into_iter()
        .filter(|r| r.confidence >= config.llm_min_remark_confidence && submission.files.iter().any(|f| f.path == r.file))
        .take(room)
        .map(|r| Remark {
            file: Some(r.file),
            line: Some(r.line),
            severity: Some(r.severity),
            message: r.message,
            source: "llm".into(),
            confidence: r.confidence,
        })
        .collect();
    let dropped = total - kept.len();
    judged.remarks.extend(kept);
    if answer.confidence < judged.confidence {
        judged.confidence = (answer.confidence * 100.0).round() / 100.0;
        judged.confidence_notes.push(format!("the language model's confidence is {:.2}", answer.confidence));
    }
    judged.decision = decide(judged.score, judged.confidence, judged.critical, config.min_confidence);
    let narrative = Narrative { summary: answer.summary, criteria: answer.criteria, confidence: answer.confidence, dropped_remarks: dropped };
    Ok((judged, narrative))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Analysis, CodeFacts, SourceFile};

    fn reviewed() -> (Submission, Review) {
        let submission = Submission {
            files: vec![
                SourceFile { path: "a.py".into(), content: "def f():\n    return 1\n".into() },
                SourceFile { path: "tests/test_a.py".into(), content: "def test_f():\n    assert True\n".into() },
            ],
            changed_lines: None,
            coverage: None,
        };
        let review = crate::review(&submission, &Analysis::Completed(CodeFacts::default()), &ReviewConfig::standard()).unwrap();
        (submission, review)
    }

    fn answer(confidence: f64, remarks: Value) -> String {
        json!({"summary": "Fine.", "confidence": confidence, "remarks": remarks, "criteria": [{"criterion": "c", "status": "met", "note": "yes"}]}).to_string()
    }

    #[test]
    fn the_score_never_moves_and_confidence_only_goes_down() {
        let (submission, review) = reviewed();
        assert_eq!(review.decision, crate::Decision::Approve);
        let config = ReviewConfig::standard();
        let (higher, _) = apply(&review, &submission, &answer(1.0, json!([])), &config).unwrap();
        assert_eq!((higher.score, higher.confidence, higher.decision), (review.score, review.confidence, review.decision));
        let (lower, narrative) = apply(&review, &submission, &answer(0.4, json!([])), &config).unwrap();
        assert_eq!((lower.score, lower.confidence, lower.decision), (review.score, 0.4, crate::Decision::Escalate));
        assert_eq!(lower.evidence, review.evidence);
        assert_eq!(narrative.criteria[0].status, "met");
    }

    #[test]
    fn low_confidence_and_unknown_file_remarks_are_dropped_and_the_budget_holds() {
        let (submission, review) = reviewed();
        let mut config = ReviewConfig::standard();
        config.feedback_budget = 2;
        let remarks = json!([
            {"file": "a.py", "line": 1, "severity": "warning", "confidence": 0.95, "message": "f returns a constant; is that the intent?"},
            {"file": "a.py", "line": 2, "severity": "info", "confidence": 0.3, "message": "maybe rename"},
            {"file": "nowhere.py", "line": 1, "severity": "error", "confidence": 0.99, "message": "invented"},
            {"file": "tests/test_a.py", "line": 2, "severity": "warning", "confidence": 0.9, "message": "the test asserts nothing"},
            {"file": "a.py", "line": 1, "severity": "warning", "confidence": 0.9, "message": "over the budget"}
        ]);
        let (judged, narrative) = apply(&review, &submission, &answer(0.9, remarks), &config).unwrap();
        let messages: Vec<&str> = judged.remarks.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(messages, ["f returns a constant; is that the intent?", "the test asserts nothing"]);
        assert!(judged.remarks.iter().all(|r| r.source == "llm"));
        assert_eq!(narrative.dropped_remarks, 3);
    }

    #[test]
    fn an_answer_off_the_schema_is_an_error() {
        let (submission, review) = reviewed();
        let config = ReviewConfig::standard();
        for bad in [
            "not json".to_owned(),
            answer(1.5, json!([])),
            json!({"summary": "x", "confidence": 0.9, "remarks": [], "criteria": [], "score": 100}).to_string(),
            json!({"summary": "x", "confidence": 0.9, "remarks": [], "criteria": [{"criterion": "c", "status": "maybe", "note": ""}]}).to_string(),
        ] {
            assert!(apply(&review, &submission, &bad, &config).is_err(), "{bad}");
        }
    }
}
