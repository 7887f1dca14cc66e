//! Path globs for guardian.toml: `*` and `?` within one path segment, `**`
//! across any number of them. Paths are relative, with `/` separators.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.trim_start_matches("./").to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the glob matches `path` or one of its parent folders, so
    /// `target` excludes `target/debug/x.rs`.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./");
        if matches(self.0.as_bytes(), path.as_bytes()) {
            return true;
        }
        path.char_indices().filter(|(_, c)| *c == '/').any(|(i, _)| matches(self.0.as_bytes(), &path.as_bytes()[..i]))
    }
}

fn matches(pattern: &[u8], text: &[u8]) -> bool {
    if pattern.is_empty() {
        return text.is_empty();
    }
    if pattern.starts_with(b"**") {
        let rest = pattern[2..].strip_prefix(b"/").unwrap_or(&pattern[2..]);
        // `**/` matches nothing, or any run of whole segments.
        if matches(rest, text) {
            return true;
        }
        return (0..text.len()).any(|i| (text[i] == b'/' || rest.is_empty()) && matches(rest, &text[i + 1..]));
    }
    match pattern[0] {
        b'*' => (0..=text.len()).take_while(|&i| i == 0 || text[i - 1] != b'/').any(|i| matches(&pattern[1..], &text[i..])),
        b'?' => !text.is_empty() && text[0] != b'/' && matches(&pattern[1..], &text[1..]),
        byte => !text.is_empty() && text[0] == byte && matches(&pattern[1..], &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("tests/**", "tests/a/b.py", true),
            ("**/tests/**", "pkg/tests/a.py", true),
            ("**/tests/**", "tests/a.py", true),
            ("*.py", "a.py", true),
            ("*.py", "a/b.py", false),
            ("**/*.py", "a/b/c.py", true),
            ("src/config.rs", "src/config.rs", true),
            ("src/con?ig.rs", "src/config.rs", true),
            ("target", "target/debug/x.rs", true),
            ("shared/*/src/config.rs", "shared/infra/src/config.rs", true),
            ("shared/*/src/config.rs", "shared/infra/src/db/config.rs", false),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(Glob::new(pattern).matches(path), expected, "{pattern} on {path}");
        }
    }
}
