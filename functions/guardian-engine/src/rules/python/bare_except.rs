use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "A bare `except:` also catches `KeyboardInterrupt` and `SystemExit`. Name the exceptions, or `except Exception:`. As ruff's E722, a handler that re-raises with a bare `raise` is fine.",
    good: "try:\n    load()\nexcept OSError:\n    retry()",
    bad: "try:\n    load()\nexcept:\n    retry()",
    ruff: Some("E722"),
    python: Some(check),
    ..Rule::new("bare-except", Language::Python, Severity::Error, "no bare `except:`")
};

fn check(module: &Module, _: &Context, sink: &mut Sink) {
    for handler in module.bare_excepts.iter().filter(|h| !h.reraises) {
        sink.hit(handler.at.line, handler.at.column, "bare `except:`; name the exceptions");
    }
}
