use super::library_sites;
use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::rust::File;

pub const RULE: Rule = Rule {
    help: "Library code logs through `tracing`, whose level and format the deployment sets; standard output belongs to the binary.",
    good: "tracing::info!(rows = count, \"loaded\");",
    bad: "println!(\"loaded {count} rows\");",
    rust: Some(check),
    ..Rule::new("rust-print", Language::Rust, Severity::Warning, "no `println!`/`eprintln!` in library code")
};

fn check(file: &File, context: &Context, sink: &mut Sink) {
    for site in library_sites(&file.macros, &["println", "eprintln", "print", "eprint"], context) {
        sink.hit(site.line, site.column, format!("`{}!` in library code; use tracing", site.name));
    }
}
