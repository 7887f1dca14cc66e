use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "Use `logging`, whose level, format and destination the deployment controls. As ruff's T201: a `print` to a file other than standard output or error is not reported.",
    good: "logger.info('loaded %d rows', count)",
    bad: "print('loaded', count, 'rows')",
    ruff: Some("T201"),
    python: Some(check),
    ..Rule::new("print-call", Language::Python, Severity::Warning, "no `print` (use logging)")
};

fn check(module: &Module, _: &Context, sink: &mut Sink) {
    for call in &module.calls {
        if call.callee.as_deref() != Some("builtins.print") {
            continue;
        }
        let to_a_file = call.keywords.iter().any(|k| {
            k.name.as_deref() == Some("file")
                && !k.is_none
                && !matches!(k.dotted.as_deref(), Some("sys.stdout" | "sys.stderr"))
        });
        if !to_a_file {
            sink.hit(call.at.line, call.at.column, "`print` found; use logging");
        }
    }
}
