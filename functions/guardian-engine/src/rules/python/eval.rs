use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "`eval` runs arbitrary code. Parse literals with `ast.literal_eval`, or dispatch on a known set of names.",
    good: "value = ast.literal_eval(text)",
    bad: "value = eval(text)",
    ruff: Some("S307"),
    python: Some(check),
    ..Rule::new("eval-usage", Language::Python, Severity::Critical, "no `eval`")
};

fn check(module: &Module, _: &Context, sink: &mut Sink) {
    for call in &module.calls {
        if call.callee.as_deref() == Some("builtins.eval") {
            sink.hit(call.at.line, call.at.column, "`eval` runs arbitrary code; use `ast.literal_eval`");
        }
    }
}
