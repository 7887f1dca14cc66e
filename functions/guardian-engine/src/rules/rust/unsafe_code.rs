use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::rust::File;

pub const RULE: Rule = Rule {
    help: "`unsafe` only where guardian.toml allows it (`unsafe-allowed` path globs), so that every use is reviewed on purpose.",
    good: "let value = slice.get(index).copied();",
    bad: "let value = unsafe { *slice.get_unchecked(index) };",
    rust: Some(check),
    ..Rule::new("unsafe-code", Language::Rust, Severity::Critical, "`unsafe` only where allowed")
};

fn check(file: &File, context: &Context, sink: &mut Sink) {
    if context.settings.unsafe_allowed(context.path) {
        return;
    }
    for site in &file.unsafe_code {
        sink.hit(site.line, site.column, format!("`unsafe` {} outside the allowed paths", site.name));
    }
}
