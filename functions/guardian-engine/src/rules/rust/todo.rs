use super::library_sites;
use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::rust::File;

pub const RULE: Rule = Rule {
    help: "`todo!` and `unimplemented!` panic when reached. Finish the code, or return an error that says what is missing.",
    good: "Err(Error::Unsupported(\"exports\"))",
    bad: "todo!()",
    rust: Some(check),
    ..Rule::new("rust-todo", Language::Rust, Severity::Error, "no `todo!` in library code")
};

fn check(file: &File, context: &Context, sink: &mut Sink) {
    for site in library_sites(&file.macros, &["todo", "unimplemented"], context) {
        sink.hit(site.line, site.column, format!("`{}!` panics when reached", site.name));
    }
}
