use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "Public functions and methods annotate every parameter (but `self` and `cls`) and their return type (`__init__` may leave it out). Private (`_name`), nested and test functions are exempt.",
    good: "def area(width: float, height: float) -> float:\n    return width * height",
    bad: "def area(width, height):\n    return width * height",
    python: Some(check),
    ..Rule::new("missing-type-hints", Language::Python, Severity::Warning, "type hints on public functions")
};

fn check(module: &Module, context: &Context, sink: &mut Sink) {
    if context.is_test {
        return;
    }
    for function in module.functions.iter().filter(|f| f.public) {
        let missing_return = !function.returns_annotated && function.name != "__init__";
        if function.unannotated_parameters.is_empty() && !missing_return {
            continue;
        }
        let mut parts = Vec::new();
        if !function.unannotated_parameters.is_empty() {
            parts.push(format!("parameters {}", function.unannotated_parameters.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")));
        }
        if missing_return {
            parts.push("the return type".to_owned());
        }
        sink.hit(function.line, function.column, format!("public function `{}` has no type hints for {}", function.qualified_name, parts.join(" and ")));
    }
}
