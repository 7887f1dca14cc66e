//! Many files' reports as one review: the baseline, changed lines, the
//! summary and the exit decision.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::analysis::FileReport;
use crate::finding::{Finding, Severity, Suppressed};

/// Changed lines per path, as inclusive ranges.
pub type ChangedLines = BTreeMap<String, Vec<(u32, u32)>>;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Review {
    pub files: Vec<FileReport>,
    pub summary: Summary,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub files: usize,
    pub lines: usize,
    /// Findings that count: neither suppressed nor in the baseline.
    pub findings: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    pub suppressed: usize,
    pub baselined: usize,
    /// Whether a counting finding is at or above the fail level.
    pub failed: bool,
    pub fail_level: Option<Severity>,
}

impl Review {
    /// Builds the review: drops findings off the changed lines (when
    /// given), marks those in the baseline, and counts.
    pub fn new(mut files: Vec<FileReport>, baseline: &BTreeSet<String>, changed: Option<&ChangedLines>, fail_level: Severity) -> Review {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut summary = Summary { fail_level: Some(fail_level), ..Summary::default() };
        for file in &mut files {
            if let Some(changed) = changed {
                let ranges = changed.get(&file.path);
                file.findings.retain(|f| ranges.is_some_and(|r| r.iter().any(|(a, b)| (*a..=*b).contains(&f.line))));
            }
            summary.files += 1;
            summary.lines += file.lines;
            for finding in &mut file.findings {
                if finding.suppressed.is_none() && baseline.contains(&finding.fingerprint) {
                    finding.suppressed = Some(Suppressed::Baseline);
                }
                match finding.suppressed {
                    Some(Suppressed::InSource) => summary.suppressed += 1,
                    Some(Suppressed::Baseline) => summary.baselined += 1,
                    None => {
                        summary.findings += 1;
                        *summary.by_severity.entry(finding.severity).or_default() += 1;
                        summary.failed |= finding.severity >= fail_level;
                    }
                }
            }
        }
        Review { files, summary }
    }

    /// Every finding, suppressed ones included, in path and line order.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.files.iter().flat_map(|f| f.findings.iter())
    }

    /// The findings that count.
    pub fn counting(&self) -> impl Iterator<Item = &Finding> {
        self.findings().filter(|f| f.suppressed.is_none())
    }
}

/// Parses unified diff hunks (`git diff -U0`) into the new side's changed lines.
pub fn changed_lines_from_diff(diff: &str) -> ChangedLines {
    let mut changed = ChangedLines::new();
    let mut path: Option<String> = None;
    for line in diff.lines() {
        if let Some(new) = line.strip_prefix("+++ ") {
            path = new.strip_prefix("b/").map(str::to_owned).filter(|_| new != "/dev/null");
        } else if let (Some(hunk), Some(path)) = (line.strip_prefix("@@ "), &path) {
            let Some(new) = hunk.split(' ').find(|part| part.starts_with('+')) else { continue };
            let (start, count) = match new[1..].split_once(',') {
                Some((start, count)) => (start.parse().unwrap_or(0), count.parse().unwrap_or(0)),
                None => (new[1..].parse().unwrap_or(0), 1u32),
            };
            if count > 0 {
                changed.entry(path.clone()).or_default().push((start, start + count - 1));
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_hunks_become_line_ranges() {
        let diff = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,0 +2,3 @@\n+a\n@@ -10 +14 @@\n-b\n+c\n@@ -20,2 +24,0 @@\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n";
        let changed = changed_lines_from_diff(diff);
        assert_eq!(changed.get("x.py"), Some(&vec![(2, 4), (14, 14)]));
        assert_eq!(changed.len(), 1);
    }
}

/// The added lines of one file's patch (GitHub's `patch` of a pull
/// request file: hunks with context), as inclusive ranges on the new side.
pub fn changed_lines_from_patch(patch: &str) -> Vec<(u32, u32)> {
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    let mut line = 0u32;
    for text in patch.lines() {
        if let Some(hunk) = text.strip_prefix("@@ ") {
            let new = hunk.split(' ').find(|p| p.starts_with('+')).unwrap_or("+0");
            line = new[1..].split(',').next().and_then(|s| s.parse().ok()).unwrap_or(0);
        } else if text.starts_with('+') {
            match ranges.last_mut() {
                Some((_, end)) if *end + 1 == line => *end = line,
                _ => ranges.push((line, line)),
            }
            line += 1;
        } else if !text.starts_with('-') && !text.starts_with('\\') {
            line += 1;
        }
    }
    ranges
}

#[cfg(test)]
mod patch_tests {
    use super::*;

    #[test]
    fn only_added_lines_count() {
        let patch = "@@ -1,4 +1,5 @@\n context\n-old\n+new\n+newer\n context\n@@ -20,2 +21,3 @@\n a\n+b\n c\n";
        assert_eq!(changed_lines_from_patch(patch), vec![(2, 3), (22, 22)]);
    }
}
