//! Line coverage from an lcov tracefile or a Cobertura XML report: per
//! source file, the lines instrumented and the lines hit. A malformed
//! report is an error naming its line.

use std::collections::BTreeMap;

use thiserror::Error;

/// Per path: (lines hit, lines instrumented).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    pub files: BTreeMap<String, (u64, u64)>,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("coverage report line {line}: {message}")]
pub struct CoverageError {
    pub line: usize,
    pub message: String,
}

fn error(line: usize, message: impl Into<String>) -> CoverageError {
    CoverageError { line, message: message.into() }
}

impl Coverage {
    /// Either format, told apart by the first non-blank character (`<` is XML).
    pub fn parse(report: &str) -> Result<Coverage, CoverageError> {
        if report.trim_start().starts_with('<') { cobertura(report) } else { lcov(report) }
    }

    /// Hit and instrumented lines over the files that match `paths` (the
    /// report's path equals the file's, or ends with `/` and it).
    pub fn of(&self, paths: &[&str]) -> (u64, u64) {
        let mut totals = (0, 0);
        for (reported, (hit, found)) in &self.files {
            let matches = paths.iter().any(|p| reported == p || reported.ends_with(&format!("/{p}")) || p.ends_with(&format!("/{reported}")));
            if matches {
                totals.0 += hit;
                totals.1 += found;
            }
        }
        totals
    }
}

/// lcov: `SF:<path>` opens a record, `DA:<line>,<hits>[,<checksum>]` counts
/// a line, `end_of_record` closes it; the other keys are accepted unread.
fn lcov(report: &str) -> Result<Coverage, CoverageError> {
    const KNOWN: &[&str] = &["TN", "FN", "FNDA", "FNF", "FNH", "BRDA", "BRF", "BRH", "LF", "LH", "VER", "FNL", "FNA"];
    let mut coverage = Coverage::default();
    let mut open: Option<(String, usize, BTreeMap<u64, u64>)> = None;
    for (i, raw) in report.lines().enumerate() {
        let number = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if line == "end_of_record" {
            let (path, _, lines) = open.take().ok_or_else(|| error(number, "end_of_record without an SF: record"))?;
            let entry = coverage.files.entry(path).or_default();
            entry.0 += lines.values().filter(|hits| **hits > 0).count() as u64;
            entry.1 += lines.len() as u64;
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(error(number, format!("expected KEY:VALUE or end_of_record, found {line:?}")));
        };
        match key {
            "SF" => {
                if let Some((path, at, _)) = &open {
                    return Err(error(number, format!("SF:{value} opens a record while {path} (line {at}) is still open")));
                }
                if value.is_empty() {
                    return Err(error(number, "SF: names no file"));
                }
                open = Some((value.to_owned(), number, BTreeMap::new()));
            }
            "DA" => {
                let (_, _, lines) = open.as_mut().ok_or_else(|| error(number, "DA: outside an SF: record"))?;
                let mut parts = value.split(',');
                let at = parts.next().and_then(|p| p.trim().parse::<u64>().ok());
                let hits = parts.next().and_then(|p| p.trim().parse::<u64>().ok());
                let (Some(at), Some(hits)) = (at, hits) else {
                    return Err(error(number, format!("DA:{value} is not <line>,<hits>")));
                };
                *lines.entry(at).or_default() += hits;
            }
            key if KNOWN.contains(&key) => {}
            key => return Err(error(number, format!("unknown lcov key {key:?}"))),
        }
    }
    if let Some((path, at, _)) = open {
        return Err(error(at, format!("the record of {path} has no end_of_record")));
    }
    if coverage.files.is_empty() {
        return Err(error(1, "no SF: record: this is not an lcov report"));
    }
    Ok(coverage)
}

/// Cobertura: `<class filename="…">` elements holding `<line number="…"
/// hits="…"/>` elements, inside a `<coverage>` root. A minimal tag scanner:
/// the report's structure is all that is read.
fn cobertura(report: &str) -> Result<Coverage, CoverageError> {
    let mut coverage = Coverage::default();
    let mut root = false;
    let mut depth: Vec<(String, usize)> = Vec::new();
    let mut class: Option<(String, BTreeMap<u64, u64>)> = None;
    let mut rest = report;
    let line_at = |rest: &str| report[..report.len() - rest.len()].matches('\n').count() + 1;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let number = line_at(rest);
        if rest.starts_with("<?") || rest.starts_with("<!--") || rest.starts_with("<!") {
            let close = if rest.starts_with("<?") { "?>" } else if rest.starts_with("<!--") { "-->" } else { ">" };
            let end = rest.find(close).ok_or_else(|| error(number, "an unterminated declaration or comment"))?;
            rest = &rest[end + close.len()..];
            continue;
        }
        let end = rest.find('>').ok_or_else(|| error(number, "an unterminated tag"))?;
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim();
            match depth.pop() {
                Some((open, _)) if open == name => {}
                Some((open, at)) => return Err(error(number, format!("</{name}> closes <{open}> (line {at})"))),
                None => return Err(error(number, format!("</{name}> closes nothing"))),
            }
            if name == "class"
                && let Some((path, lines)) = class.take()
            {
                let entry = coverage.files.entry(path).or_default();
                entry.0 += lines.values().filter(|hits| **hits > 0).count() as u64;
                entry.1 += lines.len() as u64;
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().unwrap_or("");
        if name.is_empty() {
            return Err(error(number, "a tag without a name"));
        }
        if depth.is_empty() && !root {
            if name != "coverage" {
                return Err(error(number, format!("the root element is <{name}>, not <coverage>: this is not a Cobertura report")));
            }
            root = true;
        }
        match name {
            "class" => {
                let path = attribute(tag, "filename").ok_or_else(|| error(number, "<class> without a filename attribute"))?;
                class = Some((path, BTreeMap::new()));
            }
            "line" if depth.iter().any(|(n, _)| n == "class") => {
                let at = attribute(tag, "number").and_then(|v| v.parse::<u64>().ok());
                let hits = attribute(tag, "hits").and_then(|v| v.parse::<u64>().ok());
                let (Some(at), Some(hits)) = (at, hits) else {
                    return Err(error(number, "<line> needs integer number and hits attributes"));
                };
                if let Some((_, lines)) = class.as_mut() {
                    *lines.entry(at).or_default() += hits;
                }
            }
            _ => {}
        }
        if !self_closing {
            depth.push((name.to_owned(), number));
        }
    }
    if let Some((open, at)) = depth.pop() {
        return Err(error(at, format!("<{open}> is never closed")));
    }
    if !root {
        return Err(error(1, "no <coverage> element: this is not a Cobertura report"));
    }
    Ok(coverage)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=");
    let mut search = tag;
    while let Some(at) = search.find(&needle) {
        let before = search[..at].chars().last();
        let value = &search[at + needle.len()..];
        if before.is_none_or(char::is_whitespace) {
            let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
            let end = value[1..].find(quote)?;
            return Some(value[1..=end].to_owned());
        }
        search = value;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcov_counts_hit_lines_per_file() {
        let report = "TN:\nSF:src/app.py\nFN:1,f\nDA:1,1\nDA:2,0\nDA:3,4\nLF:3\nLH:2\nend_of_record\nSF:src/other.py\nDA:1,0\nend_of_record\n";
        let coverage = Coverage::parse(report).unwrap();
        assert_eq!(coverage.files["src/app.py"], (2, 3));
        assert_eq!(coverage.of(&["app.py"]), (2, 3));
        assert_eq!(coverage.of(&["pp.py"]), (0, 0));
        assert_eq!(coverage.of(&["src/app.py", "src/other.py"]), (2, 4));
    }

    #[test]
    fn cobertura_counts_hit_lines_per_class_file() {
        let report = r#"<?xml version="1.0" ?>
<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">
<coverage line-rate="0.5" version="7.4">
  <sources><source>/repo</source></sources>
  <packages><package name="pkg"><classes>
    <class name="app.py" filename="pkg/app.py" line-rate="0.5">
      <methods/>
      <lines>
        <line number="1" hits="1"/>
        <line number="2" hits="0"/>
      </lines>
    </class>
  </classes></package></packages>
</coverage>"#;
        let coverage = Coverage::parse(report).unwrap();
        assert_eq!(coverage.files["pkg/app.py"], (1, 2));
    }

    #[test]
    fn malformed_reports_name_the_line() {
        let cases = [
            ("SF:a.py\nDA:x,1\nend_of_record\n", 2, "DA:x,1"),
            ("SF:a.py\nDA:1,1\n", 1, "no end_of_record"),
            ("hello world\n", 1, "KEY:VALUE"),
            ("SF:a.py\nBOGUS:1\nend_of_record\n", 2, "unknown lcov key"),
            ("<coverage>\n<packages>\n</coverage>\n", 3, "closes <packages>"),
            ("<coverage>\n<class filename=\"a.py\">\n<line number=\"1\"/>\n</class></coverage>", 3, "<line>"),
            ("<html></html>", 1, "not a Cobertura report"),
            ("<coverage>\n<class", 2, "unterminated"),
        ];
        for (report, line, message) in cases {
            let error = Coverage::parse(report).unwrap_err();
            assert_eq!(error.line, line, "{report:?}: {error}");
            assert!(error.message.contains(message), "{report:?}: {error}");
        }
    }
}
