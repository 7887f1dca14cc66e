use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "An async function's name ends in `_async`, so a missing `await` shows at the call site. Dunder methods and tests are exempt.",
    good: "async def fetch_async(url: str) -> bytes: ...",
    bad: "async def fetch(url: str) -> bytes: ...",
    python: Some(check),
    ..Rule::new("async-name-suffix", Language::Python, Severity::Warning, "async function names end in `_async`")
};

fn check(module: &Module, context: &Context, sink: &mut Sink) {
    for function in &module.functions {
        let name = function.name.as_str();
        let dunder = name.starts_with("__") && name.ends_with("__");
        let test = context.is_test && name.starts_with("test");
        if function.is_async && !name.ends_with("_async") && !dunder && !test {
            sink.hit(function.line, function.column, format!("async function `{name}` should be named `{name}_async`"));
        }
    }
}
