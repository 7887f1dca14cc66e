use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "Production code must not depend on which environment manager (conda, venv, pyenv, poetry) a developer activated. Pass what you need through configuration.",
    good: "def data_dir(settings: Settings) -> Path:\n    return settings.data_dir",
    bad: "env = os.environ['CONDA_DEFAULT_ENV']",
    python: Some(check),
    ..Rule::new("env-manager-state", Language::Python, Severity::Error, "no reading environment-manager state in production code")
};

pub const NAMES: &[&str] = &[
    "CONDA_DEFAULT_ENV",
    "CONDA_PREFIX",
    "CONDA_PYTHON_EXE",
    "CONDA_EXE",
    "VIRTUAL_ENV",
    "PYENV_VERSION",
    "PYENV_VIRTUAL_ENV",
    "PIPENV_ACTIVE",
    "POETRY_ACTIVE",
];

const READERS: &[&str] = &["os.environ.get", "os.getenv", "os.environ.__getitem__", "os.environ.pop", "os.environ.setdefault"];

fn check(module: &Module, context: &Context, sink: &mut Sink) {
    if context.is_test {
        return;
    }
    for call in &module.calls {
        if let (Some(callee), Some(name)) = (call.callee.as_deref(), call.first_string.as_deref()) {
            if READERS.contains(&callee) && NAMES.contains(&name) {
                sink.hit(call.at.line, call.at.column, format!("reads `{name}`, environment-manager state"));
            }
        }
    }
    for subscript in &module.subscripts {
        if subscript.value == "os.environ" && NAMES.contains(&subscript.key.as_str()) {
            sink.hit(subscript.at.line, subscript.at.column, format!("reads `{}`, environment-manager state", subscript.key));
        }
    }
}
