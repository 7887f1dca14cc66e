use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "`exec` runs arbitrary code. Import the module, or call the function, you mean.",
    good: "handler = HANDLERS[name]",
    bad: "exec(f'handler = {name}')",
    ruff: Some("S102"),
    python: Some(check),
    ..Rule::new("exec-usage", Language::Python, Severity::Critical, "no `exec`")
};

fn check(module: &Module, _: &Context, sink: &mut Sink) {
    for call in &module.calls {
        if call.callee.as_deref() == Some("builtins.exec") {
            sink.hit(call.at.line, call.at.column, "`exec` runs arbitrary code");
        }
    }
}
