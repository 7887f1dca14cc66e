use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "Unpickling runs code chosen by whoever wrote the bytes. Use JSON, or another format without code, for anything that crosses a trust boundary.",
    good: "data = json.loads(payload)",
    bad: "data = pickle.loads(payload)",
    python: Some(check),
    ..Rule::new("pickle-load", Language::Python, Severity::Critical, "no `pickle` loads")
};

const LOADERS: &[&str] = &[
    "pickle.load",
    "pickle.loads",
    "pickle.Unpickler",
    "_pickle.load",
    "_pickle.loads",
    "cPickle.load",
    "cPickle.loads",
    "dill.load",
    "dill.loads",
];

fn check(module: &Module, _: &Context, sink: &mut Sink) {
    for call in &module.calls {
        if let Some(callee) = call.callee.as_deref().filter(|c| LOADERS.contains(c)) {
            sink.hit(call.at.line, call.at.column, format!("`{callee}` runs code from the data it loads"));
        }
    }
}
