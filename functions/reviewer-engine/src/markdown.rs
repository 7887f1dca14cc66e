//! A review as Markdown, fit to be one persistent pull-request comment:
//! the decision and score first, the sub-scores, the remarks, and the full
//! evidence folded away.

use std::fmt::Write as _;

use crate::narrative::Narrative;
use crate::review::{Decision, Review};

/// `title` names what was reviewed (a task's title, or the review's id);
/// a narrative adds its summary and the acceptance-criteria checklist.
pub fn render(title: &str, review: &Review, narrative: Option<&Narrative>) -> String {
    let mut out = String::new();
    let verdict = match review.decision {
        Decision::Approve => "✅ Approved",
        Decision::Rework => "🔁 Rework requested",
        Decision::Escalate => "🧑 Escalated to a person",
        Decision::Reject => "❌ Rejected",
    };
    let _ = writeln!(out, "## Review: {}\n", escape(title));
    let _ = writeln!(out, "**{verdict}**: score **{:.2}**/100, confidence {:.2}.\n", review.score, review.confidence);
    if review.critical {
        let _ = writeln!(out, "> A critical security finding blocks approval.\n");
    }
    for note in &review.confidence_notes {
        let _ = writeln!(out, "> Confidence: {}.", escape(note));
    }
    if !review.confidence_notes.is_empty() {
        out.push('\n');
    }
    if let Some(narrative) = narrative {
        let _ = writeln!(out, "{}\n", escape(&narrative.summary));
        for check in &narrative.criteria {
            let mark = match check.status.as_str() {
                "met" => "[x]",
                "not_met" => "[ ] ✗",
                _ => "[ ] ?",
            };
            let _ = writeln!(out, "- {mark} {}: {}", escape(&check.criterion), escape(&check.note));
        }
        if !narrative.criteria.is_empty() {
            out.push('\n');
        }
    }
    let _ = writeln!(out, "| area | score | weight |\n| --- | ---: | ---: |");
    for sub in &review.sub_scores {
        let _ = writeln!(out, "| {} | {:.2} | {:.2} |", sub.area.as_str().replace('_', " "), sub.score, sub.weight);
    }
    out.push('\n');
    if review.remarks.is_empty() {
        let _ = writeln!(out, "Nothing to change.");
    } else {
        let _ = writeln!(out, "### What to change\n");
        for (i, remark) in review.remarks.iter().enumerate() {
            let at = match (&remark.file, remark.line) {
                (Some(file), Some(line)) => format!("`{file}:{line}` "),
                (Some(file), None) => format!("`{file}` "),
                _ => String::new(),
            };
            let _ = writeln!(out, "{}. {at}{}", i + 1, escape(&remark.message));
        }
    }
    if !review.evidence.is_empty() {
        let _ = writeln!(out, "\n<details><summary>Evidence ({} items)</summary>\n", review.evidence.len());
        let _ = writeln!(out, "| area | where | rule or metric | points | detail |\n| --- | --- | --- | ---: | --- |");
        for e in &review.evidence {
            let at = match (&e.file, e.line) {
                (Some(file), Some(line)) => format!("`{file}:{line}`"),
                (Some(file), None) => format!("`{file}`"),
                _ => "—".into(),
            };
            let what = e.rule.as_deref().or(e.metric.as_deref()).unwrap_or("");
            let _ = writeln!(out, "| {} | {at} | `{what}` | {:.2} | {} |", e.area.as_str(), e.points, escape(&e.message).replace('|', "\\|"));
        }
        let _ = writeln!(out, "\n</details>");
    }
    out
}

/// Keeps text from opening HTML in the comment.
fn escape(text: &str) -> String {
    text.replace('<', "&lt;").replace('>', "&gt;").replace('\n', " ")
}
