//! `hive review PATH… [--json] [--coverage FILE]`: the Reviewer's whole
//! judgement on local files, with Guardian's engine run in process for the
//! facts (only this binary may compose the two), printed as a score card.
//!
//! Exit codes: 0 approve, 1 rework, 3 escalate, 4 reject; 2 for a usage
//! error (a missing path, a coverage report that does not parse).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use guardian_engine::{Config, Severity, analyse, report};
use reviewer_engine::{Analysis, CodeFacts, Decision, Review, ReviewConfig, SourceFile, Submission};
use serde_json::json;

#[derive(clap::Args)]
pub struct ReviewArgs {
    /// Files or folders to review (folders are walked; hidden and build folders skipped).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print the review as JSON instead of the score card.
    #[arg(long)]
    json: bool,
    /// An lcov or Cobertura line-coverage report.
    #[arg(long)]
    coverage: Option<PathBuf>,
}

/// Folders that hold no reviewed source.
const SKIPPED: &[&str] = &["target", "node_modules", "__pycache__", "venv", "dist", "build"];
/// Larger files are not source worth judging line by line.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// A stack deep enough for any tree Guardian's guards let through.
const ANALYSIS_STACK: usize = 256 * 1024 * 1024;

pub fn review(args: ReviewArgs) -> ExitCode {
    let files = match collect(&args.paths) {
        Ok(files) => files,
        Err(message) => return usage_error(message),
    };
    let coverage = match &args.coverage {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(error) => return usage_error(format!("{}: {error}", path.display())),
        },
    };
    if files.is_empty() {
        return usage_error("no files to review under the given paths");
    }
    let submission = Submission { files, changed_lines: None, coverage };
    let review = match judge(&submission, &ReviewConfig::standard()) {
        Ok(review) => review,
        Err(error) => {
            let path = args.coverage.as_deref().unwrap_or(Path::new("coverage"));
            return usage_error(format!("{}:{}: {}", path.display(), error.line, error.message));
        }
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&review).unwrap_or_default());
    } else {
        out!("{}", score_card(&submission, &review));
    }
    ExitCode::from(match review.decision {
        Decision::Approve => 0,
        Decision::Rework => 1,
        Decision::Escalate => 3,
        Decision::Reject => 4,
    })
}

/// Guardian's analysis in process, then the Reviewer's judgement.
pub fn judge(submission: &Submission, config: &ReviewConfig) -> Result<Review, reviewer_engine::CoverageError> {
    let facts = guardian_facts(submission);
    reviewer_engine::review(submission, &Analysis::Completed(facts), config)
}

/// What Guardian's worker would report, as the same document.
fn guardian_facts(submission: &Submission) -> CodeFacts {
    let files: Vec<(String, Vec<u8>)> = submission.files.iter().map(|f| (f.path.clone(), f.content.clone().into_bytes())).collect();
    let analysis = std::thread::Builder::new().stack_size(ANALYSIS_STACK).spawn(move || {
        let config = Config::standard();
        let reports = files.iter().map(|(path, bytes)| analyse(path, bytes, &config, Severity::Info)).collect();
        let review = guardian_engine::Review::new(reports, &BTreeSet::new(), None, Severity::Error);
        json!({"findings": review.findings().collect::<Vec<_>>(), "metrics": report::metrics(&review)})
    });
    let document = analysis.ok().and_then(|worker| worker.join().ok()).unwrap_or_default();
    // Guardian's own document always reads; an empty one is no facts.
    CodeFacts::from_guardian_document(&document).unwrap_or_default()
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    errln!("hive review: {message}");
    ExitCode::from(2)
}

fn collect(paths: &[PathBuf]) -> Result<Vec<SourceFile>, String> {
    let mut found: Vec<PathBuf> = Vec::new();
    for root in paths {
        if root.is_file() {
            found.push(root.clone());
            continue;
        }
        if !root.is_dir() {
            return Err(format!("{}: no such file or folder", root.display()));
        }
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Ok(kind) = entry.file_type() else { continue };
                if name.starts_with('.') {
                    continue;
                }
                if kind.is_dir() && !SKIPPED.contains(&name.as_str()) {
                    stack.push(entry.path());
                } else if kind.is_file() {
                    found.push(entry.path());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    let mut files = Vec::new();
    for path in found {
        let shown = path.to_string_lossy().trim_start_matches("./").to_owned();
        if std::fs::metadata(&path).map_err(|e| format!("{shown}: {e}"))?.len() > MAX_FILE_BYTES {
            errln!("hive review: {shown}: over {MAX_FILE_BYTES} bytes, skipped");
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| format!("{shown}: {e}"))?;
        match String::from_utf8(bytes) {
            Ok(content) if !content.contains('\0') => files.push(SourceFile { path: shown, content }),
            _ => errln!("hive review: {shown}: not UTF-8 text, skipped"),
        }
    }
    Ok(files)
}

fn score_card(submission: &Submission, review: &Review) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} files: {} — score {:.2}/100, confidence {:.2}",
        submission.files.len(),
        review.decision.as_str().to_uppercase(),
        review.score,
        review.confidence
    );
    for sub in &review.sub_scores {
        let _ = writeln!(out, "  {:<14} {:>6.2}  × {:.2}", sub.area.as_str().replace('_', " "), sub.score, sub.weight);
    }
    if review.critical {
        let _ = writeln!(out, "A critical security finding blocks approval.");
    }
    for note in &review.confidence_notes {
        let _ = writeln!(out, "Confidence: {note}.");
    }
    if !review.remarks.is_empty() {
        let _ = writeln!(out, "What to change:");
        for (i, remark) in review.remarks.iter().enumerate() {
            let at = match (&remark.file, remark.line) {
                (Some(file), Some(line)) => format!("{file}:{line}: "),
                (Some(file), None) => format!("{file}: "),
                _ => String::new(),
            };
            let _ = writeln!(out, "  {}. {at}{}", i + 1, remark.message);
        }
    }
    let _ = writeln!(out, "{} evidence items; `--json` lists them.", review.evidence.len());
    out
}
