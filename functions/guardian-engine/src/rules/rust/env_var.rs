use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::rust::File;

pub const RULE: Rule = Rule {
    help: "The environment is read once, in the configuration module (guardian.toml `config-modules`), into a typed struct that is passed in. Reading it elsewhere scatters the configuration.",
    good: "// in config.rs\nlet url = std::env::var(\"HIVE_DATABASE_URL\")?;",
    bad: "// in handler.rs\nlet url = std::env::var(\"HIVE_DATABASE_URL\")?;",
    rust: Some(check),
    ..Rule::new("env-outside-config", Language::Rust, Severity::Error, "`std::env::var` only in the configuration module")
};

const READERS: &[&str] = &["std::env::var", "std::env::var_os", "std::env::vars", "std::env::vars_os", "env::var", "env::var_os"];

fn check(file: &File, context: &Context, sink: &mut Sink) {
    if context.is_test || context.settings.is_config_module(context.path) {
        return;
    }
    for site in file.calls.iter().filter(|s| !s.in_test && READERS.contains(&s.name.as_str())) {
        sink.hit(site.line, site.column, format!("`{}` outside the configuration module", site.name));
    }
}
