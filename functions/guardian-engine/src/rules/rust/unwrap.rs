use super::library_sites;
use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::rust::File;

pub const RULE: Rule = Rule {
    help: "Library code returns errors rather than panicking: use `?` with a typed error. Tests, binaries and `#[cfg(test)]` code may unwrap.",
    good: "let port: u16 = text.parse().map_err(|_| Error::invalid(\"port\", text))?;",
    bad: "let port: u16 = text.parse().unwrap();",
    rust: Some(check),
    ..Rule::new("rust-unwrap", Language::Rust, Severity::Error, "no `unwrap`/`expect` in library code")
};

fn check(file: &File, context: &Context, sink: &mut Sink) {
    for site in library_sites(&file.method_calls, &["unwrap", "expect"], context) {
        sink.hit(site.line, site.column, format!("`.{}()` panics in library code; return an error", site.name));
    }
}
