use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "Configuration comes in through dependency injection: a function takes the settings it needs. A global accessor (configured in guardian.toml as `forbidden-accessors`, by default `get_config`) hides the dependency.",
    good: "def handler(event, config: Config):\n    return config.table",
    bad: "def handler(event):\n    return get_config().table",
    python: Some(check),
    ..Rule::new("global-config-accessor", Language::Python, Severity::Error, "configuration through dependency injection, not a global accessor")
};

fn check(module: &Module, context: &Context, sink: &mut Sink) {
    let forbidden = &context.settings.forbidden_accessors;
    for call in &module.calls {
        let Some(callee) = call.callee.as_deref() else { continue };
        let last = callee.rsplit('.').next().unwrap_or(callee);
        if forbidden.iter().any(|f| f == callee || f == last) {
            sink.hit(call.at.line, call.at.column, format!("`{last}()` is a global configuration accessor; take the configuration as a parameter"));
        }
    }
}
