use super::library_sites;
use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::rust::File;

pub const RULE: Rule = Rule {
    help: "`dbg!` is for a debugging session, not for a commit.",
    good: "tracing::debug!(?state);",
    bad: "dbg!(&state);",
    rust: Some(check),
    ..Rule::new("rust-dbg", Language::Rust, Severity::Error, "no `dbg!` in library code")
};

fn check(file: &File, context: &Context, sink: &mut Sink) {
    for site in library_sites(&file.macros, &["dbg"], context) {
        sink.hit(site.line, site.column, "`dbg!` left in library code");
    }
}
