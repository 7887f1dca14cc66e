use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "Changing `sys.path` at run time makes imports depend on who ran what first. Install the package (`pip install -e .`) or fix the layout instead.",
    good: "from mypkg import tools",
    bad: "import sys\nsys.path.insert(0, '../lib')",
    python: Some(check),
    ..Rule::new("sys-path-manipulation", Language::Python, Severity::Error, "no `sys.path` manipulation")
};

const MUTATORS: &[&str] = &["append", "insert", "extend", "remove", "pop", "clear", "__setitem__", "__iadd__"];

fn check(module: &Module, _: &Context, sink: &mut Sink) {
    for call in &module.calls {
        if let Some(method) = call.callee.as_deref().and_then(|c| c.strip_prefix("sys.path.")) {
            if MUTATORS.contains(&method) {
                sink.hit(call.at.line, call.at.column, format!("`sys.path.{method}` changes the import path at run time"));
            }
        }
    }
    for write in &module.writes {
        if write.name == "sys.path" {
            sink.hit(write.at.line, write.at.column, "assigning to `sys.path` changes the import path at run time");
        }
    }
}
