//! Hard-coded secrets: a string literal bound to a secret-like name, or a
//! literal in a well-known key format (AWS access key ids, private-key
//! blocks, GitHub and Slack tokens) or of high entropy. Reported redacted.

use super::Literals;
use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};

pub const RULE: Rule = Rule {
    help: "Secrets come from the environment or a secret store, never from the source: anyone with the repository has them, forever. The finding shows only the first characters.",
    good: "password = os.environ['DB_PASSWORD']",
    bad: "password = 'hunter2-correct-horse'",
    python: Some(|module, context, sink| check(module, context, sink)),
    rust: Some(|file, context, sink| check(file, context, sink)),
    ..Rule::new("hardcoded-secret", Language::Any, Severity::Critical, "no hard-coded secrets")
};

const SECRET_NAMES: &[&str] = &[
    "password", "passwd", "secret", "token", "api_key", "apikey", "access_key", "private_key", "auth_key", "credential",
    "client_secret",
];

/// Names that hold where a secret is, not the secret: `SECRET_FILE`, `TOKEN_ENV`.
const REFERENCE_SUFFIXES: &[&str] = &[
    "_file", "_path", "_name", "_dir", "_env", "_var", "_variable", "_header", "_url", "_prefix", "_scope", "_field", "_kind", "_type",
];

fn check(literals: &impl Literals, context: &Context, sink: &mut Sink) {
    if context.is_test {
        return;
    }
    let mut reported = std::collections::HashSet::new();
    for named in literals.named_strings() {
        let name = named.name.to_ascii_lowercase();
        let names_a_reference = REFERENCE_SUFFIXES.iter().any(|suffix| name.ends_with(suffix));
        if SECRET_NAMES.iter().any(|s| name.contains(s)) && !names_a_reference && looks_like_a_value(&named.value) {
            reported.insert((named.line, named.column));
            sink.hit(named.line, named.column, format!("`{}` is assigned a hard-coded secret ({})", named.name, redact(&named.value)));
        }
    }
    for literal in literals.strings() {
        if reported.contains(&(literal.line, literal.column)) {
            continue;
        }
        if let Some(kind) = known_format(&literal.value) {
            sink.hit(literal.line, literal.column, format!("hard-coded {kind} ({})", redact(&literal.value)));
        }
    }
}

/// A value, not a placeholder, an environment variable's name, a format
/// string or a prompt.
fn looks_like_a_value(value: &str) -> bool {
    let env_name = value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    // A lower-case identifier or path (`jwt-secret`, `auth/token.json`) names something.
    let identifier = value.bytes().all(|b| b.is_ascii_lowercase() || b"-_./".contains(&b));
    value.len() >= 8
        && !env_name
        && !identifier
        && !value.contains(char::is_whitespace)
        && !value.contains(['{', '}', '<', '>', '$', '%'])
        && !value.bytes().all(|b| b == value.as_bytes()[0])
}

/// The kind of a well-known secret format, if `value` is one.
pub fn known_format(value: &str) -> Option<&'static str> {
    if value.contains("-----BEGIN") && value.contains("PRIVATE KEY") {
        return Some("private key");
    }
    let token = value.trim();
    if token.contains(char::is_whitespace) {
        return None;
    }
    let alnum_upper = |s: &str| s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if token.len() == 20 && (token.starts_with("AKIA") || token.starts_with("ASIA")) && alnum_upper(token) {
        return Some("AWS access key id");
    }
    let word = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if let Some(rest) = token.strip_prefix("ghp_").or_else(|| token.strip_prefix("gho_")).or_else(|| token.strip_prefix("ghs_")) {
        if rest.len() == 36 && word(rest) {
            return Some("GitHub token");
        }
    }
    if token.starts_with("github_pat_") && token.len() > 40 && word(token) {
        return Some("GitHub token");
    }
    if ["xoxb-", "xoxp-", "xoxa-", "xoxs-"].iter().any(|p| token.starts_with(p)) && token.len() > 20 {
        return Some("Slack token");
    }
    if high_entropy(token) {
        return Some("high-entropy token");
    }
    None
}

/// At least 32 characters of a token alphabet, with upper and lower case
/// letters and digits, and more than 4.5 bits of entropy per character:
/// what random keys look like, and hex digests (at most 4 bits) do not.
fn high_entropy(token: &str) -> bool {
    if token.len() < 32 || token.len() > 512 {
        return false;
    }
    let alphabet = token.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b));
    let classes = token.bytes().any(|b| b.is_ascii_uppercase())
        && token.bytes().any(|b| b.is_ascii_lowercase())
        && token.bytes().any(|b| b.is_ascii_digit());
    alphabet && classes && entropy(token) > 4.5
}

fn entropy(text: &str) -> f64 {
    let mut counts = [0u32; 256];
    for byte in text.bytes() {
        counts[byte as usize] += 1;
    }
    let n = text.len() as f64;
    counts.iter().filter(|&&c| c > 0).map(|&c| {
        let p = f64::from(c) / n;
        -p * p.log2()
    }).sum()
}

/// The first four characters and the length, never the secret.
pub fn redact(value: &str) -> String {
    let shown: String = value.chars().take(4).collect();
    format!("{shown}… {} chars", value.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(known_format("AKIAIOSFODNN7EXAMPLE"), Some("AWS access key id"));
        assert_eq!(known_format("-----BEGIN RSA PRIVATE KEY-----\nMIIB"), Some("private key"));
        assert_eq!(known_format("ghp_abcdefghijklmnopqrstuvwxyz0123456789"), Some("GitHub token"));
        assert_eq!(known_format("Zx9Qm2Lk7Vb4Nc1Ws8Ed3Rf6Tg5Yh0UjIkOlPaQsWdEr"), Some("high-entropy token"));
        // A sha256 hex digest and ordinary text are not secrets.
        assert_eq!(known_format("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), None);
        assert_eq!(known_format("The quick brown fox jumps over the lazy dog"), None);
        assert_eq!(redact("hunter2-horse"), "hunt… 13 chars");
    }
}
