//! The built-in templates for the platform's events, used by a
//! subscription that names no template of its own. Each renders with
//! `{"event": <type>, "subject": <subject>, "data": <payload>}`.

use crate::template::Template;

/// The event types with a built-in template.
pub const EVENTS: &[&str] = &["study.completed", "study.failed", "task.escalated", "task.failed", "review.completed", "workflow.blocked"];

pub fn template(event_type: &str) -> Option<Template> {
    let (subject, text, html) = match event_type {
        "study.completed" => (
            "Study {{ data.study }} completed ({{ data.status }})",
            "Your {{ data.kind }} study {{ data.study }} completed with status {{ data.status }}.{% if data.objective is not none %}\nObjective: {{ data.objective }}{% endif %}",
            "<p>Your {{ data.kind }} study <b>{{ data.study }}</b> completed with status <b>{{ data.status }}</b>.</p>{% if data.objective is not none %}<p>Objective: {{ data.objective }}</p>{% endif %}",
        ),
        "study.failed" => (
            "Study {{ data.study }} failed",
            "Your {{ data.kind }} study {{ data.study }} failed: {{ data.error or 'no reason given' }}",
            "<p>Your {{ data.kind }} study <b>{{ data.study }}</b> failed: {{ data.error or 'no reason given' }}</p>",
        ),
        "task.escalated" => (
            "Task {{ data.title }} needs a decision",
            "Task {{ data.title }} ({{ data.task }}) was escalated: {{ data.reason or 'no reason given' }}",
            "<p>Task <b>{{ data.title }}</b> ({{ data.task }}) was escalated: {{ data.reason or 'no reason given' }}</p>",
        ),
        "task.failed" => (
            "Task {{ data.title }} failed",
            "Task {{ data.title }} ({{ data.task }}) failed: {{ data.reason or 'no reason given' }}",
            "<p>Task <b>{{ data.title }}</b> ({{ data.task }}) failed: {{ data.reason or 'no reason given' }}</p>",
        ),
        // A review asked for over the API has no task: it names the review.
        "review.completed" => (
            "Review of {% if data.task %}task {{ data.task }}{% else %}{{ data.review }}{% endif %}: {{ data.decision }}",
            "The review of {% if data.task %}task {{ data.task }}{% else %}submission {{ data.review }}{% endif %} decided {{ data.decision }}.{% if data.feedback %}\n{{ data.feedback }}{% endif %}",
            "<p>The review of {% if data.task %}task {{ data.task }}{% else %}submission {{ data.review }}{% endif %} decided <b>{{ data.decision }}</b>.</p>{% if data.feedback %}<p>{{ data.feedback }}</p>{% endif %}",
        ),
        "workflow.blocked" => (
            "Plan {{ data.plan_id }} is blocked",
            "Task {{ data.failed_key }} of plan {{ data.plan_id }} failed; blocked: {{ data.blocked | join(', ') }}",
            "<p>Task <b>{{ data.failed_key }}</b> of plan {{ data.plan_id }} failed; blocked: {{ data.blocked | join(', ') }}</p>",
        ),
        _ => return None,
    };
    Some(Template { name: format!("builtin:{event_type}"), subject: subject.into(), text: text.into(), html: Some(html.into()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context(event: &str, data: serde_json::Value) -> serde_json::Value {
        json!({"event": event, "subject": "s", "data": data})
    }

    #[test]
    fn every_builtin_renders_a_sample_payload() {
        let samples = [
            json!({"study": "st-1", "kind": "economics", "status": "succeeded", "error": null, "objective": 12.5}),
            json!({"study": "st-1", "kind": "energy", "status": "failed", "error": "infeasible <bounds>", "objective": null}),
            json!({"task": "t-1", "title": "Fix it", "role": "backend", "from": "review", "to": "escalated", "event": "escalate", "actor": "reviewer", "reason": "unclear", "attempt": 1, "result": null}),
            json!({"task": "t-1", "title": "Fix it", "role": "backend", "from": "running", "to": "failed", "event": "fail", "actor": "w", "reason": null, "attempt": 3, "result": null}),
            json!({"review": "r-1", "task": "t-1", "decision": "approve", "score": 0.9, "feedback": null}),
            json!({"plan_id": "p-1", "failed_key": "build", "failed_task": "t-9", "blocked": ["test", "ship"], "reason": null}),
        ];
        for (event, sample) in EVENTS.iter().zip(samples) {
            let rendered = template(event).unwrap().render(&context(event, sample)).unwrap_or_else(|e| panic!("{event}: {e}"));
            assert!(!rendered.subject.is_empty() && !rendered.text.is_empty(), "{event}");
        }
        let failed = template("study.failed").unwrap();
        let rendered = failed.render(&context("study.failed", json!({"study": "s", "kind": "k", "error": "<x>"}))).unwrap();
        assert!(rendered.text.ends_with("<x>") && rendered.html.unwrap().contains("&lt;x&gt;"));
        assert!(template("study.submitted").is_none());
        let review = template("review.completed").unwrap();
        let by_api = review.render(&context("review.completed", json!({"review": "r-2", "task": null, "decision": "rework", "score": 70.0, "feedback": null}))).unwrap();
        assert_eq!(by_api.subject, "Review of r-2: rework");
        let of_task = review.render(&context("review.completed", json!({"review": "r-1", "task": "t-1", "decision": "approve", "score": 90.0, "feedback": null}))).unwrap();
        assert_eq!(of_task.subject, "Review of task t-1: approve");
    }
}
