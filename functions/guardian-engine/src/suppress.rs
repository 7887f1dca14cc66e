//! In-source suppressions: `# guardian: ignore[rule-id, …]` (or `//` in
//! Rust) on the finding's line, or alone on the line above it, and
//! `guardian: ignore-file[rule-id]` among the comments at the top of the
//! file. Each names its rules; a blanket or unknown one is an
//! `invalid-suppression`, and one that matched nothing an
//! `unused-suppression`.

use crate::syntax::Comment;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// The comment's line.
    pub line: u32,
    /// The line whose findings it silences; `None` for the whole file.
    pub target: Option<u32>,
    pub rule: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub suppressions: Vec<Suppression>,
    /// (line, message) of each malformed suppression.
    pub invalid: Vec<(u32, String)>,
}

/// The suppressions among `comments`; `first_code_line` is the first line
/// with code, before which `ignore-file` is allowed.
pub fn parse(comments: &[Comment], first_code_line: u32) -> Parsed {
    let mut parsed = Parsed::default();
    for comment in comments {
        let Some(start) = comment.text.find("guardian:") else { continue };
        let directive = comment.text[start + "guardian:".len()..].trim();
        let (file, rest) = if let Some(rest) = directive.strip_prefix("ignore-file") {
            (true, rest)
        } else if let Some(rest) = directive.strip_prefix("ignore") {
            (false, rest)
        } else {
            parsed.invalid.push((comment.line, format!("unknown directive `guardian: {directive}`; use ignore[rule-id]")));
            continue;
        };
        let rest = rest.trim_start();
        let Some(list) = rest.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(list, _)| list) else {
            parsed.invalid.push((comment.line, "a blanket ignore; name the rules: `ignore[rule-id]`".to_owned()));
            continue;
        };
        if file && (comment.trailing || comment.line > first_code_line) {
            parsed.invalid.push((comment.line, "`ignore-file` belongs in the comments at the top of the file".to_owned()));
            continue;
        }
        let target = if file {
            None
        } else if comment.trailing {
            Some(comment.line)
        } else {
            Some(comment.line + 1)
        };
        let ids: Vec<&str> = list.split(',').map(str::trim).filter(|id| !id.is_empty()).collect();
        if ids.is_empty() {
            parsed.invalid.push((comment.line, "a blanket ignore; name the rules: `ignore[rule-id]`".to_owned()));
        }
        for id in ids {
            if crate::rules::find(id).is_none() {
                parsed.invalid.push((comment.line, format!("`{id}` is not a rule id (see `hive guardian rules`)")));
            } else {
                parsed.suppressions.push(Suppression { line: comment.line, target, rule: id.to_owned() });
            }
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(line: u32, text: &str, trailing: bool) -> Comment {
        Comment { line, text: text.into(), trailing }
    }

    #[test]
    fn targets_and_errors() {
        let parsed = parse(
            &[
                comment(1, "guardian: ignore-file[print-call]", false),
                comment(5, "guardian: ignore[eval-usage, exec-usage]", true),
                comment(7, "guardian: ignore[bare-except]", false),
                comment(9, "guardian: ignore", true),
                comment(10, "guardian: ignore[no-such-rule]", true),
                comment(11, "guardian: ignore-file[print-call]", false),
            ],
            3,
        );
        let got: Vec<_> = parsed.suppressions.iter().map(|s| (s.line, s.target, s.rule.as_str())).collect();
        assert_eq!(
            got,
            [(1, None, "print-call"), (5, Some(5), "eval-usage"), (5, Some(5), "exec-usage"), (7, Some(8), "bare-except")]
        );
        let invalid: Vec<_> = parsed.invalid.iter().map(|(line, _)| *line).collect();
        assert_eq!(invalid, [9, 10, 11]);
    }
}
