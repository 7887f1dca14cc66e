use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "`from x import *` hides where names come from and lets a new name in `x` shadow yours. Import the names you use.",
    good: "from os.path import join, exists",
    bad: "from os.path import *",
    ruff: Some("F403"),
    python: Some(check),
    ..Rule::new("wildcard-import", Language::Python, Severity::Warning, "no `from x import *`")
};

fn check(module: &Module, _: &Context, sink: &mut Sink) {
    // `from __future__ import *` is a different error (ruff's F407).
    for import in module.imports.iter().filter(|i| i.star && !(i.level == 0 && i.module == "__future__")) {
        let name = format!("{}{}", ".".repeat(import.level as usize), import.module);
        sink.hit(import.at.line, import.at.column, format!("`from {name} import *`; import the names you use"));
    }
}
