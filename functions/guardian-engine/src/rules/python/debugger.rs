use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "Debugger hooks stop a production process waiting for a terminal. Remove them before committing. As ruff's T100: imports of a debugger module, and calls of its trace functions.",
    good: "logger.debug('state: %r', state)",
    bad: "import pdb; pdb.set_trace()",
    ruff: Some("T100"),
    python: Some(check),
    ..Rule::new("debugger", Language::Python, Severity::Error, "no debugger calls")
};

const MODULES: &[&str] = &["pdb", "pudb", "ipdb", "debugpy", "ptvsd"];

const CALLS: &[&str] = &[
    "pdb.set_trace",
    "pudb.set_trace",
    "ipdb.set_trace",
    "ipdb.sset_trace",
    "IPython.terminal.embed.InteractiveShellEmbed",
    "IPython.frontend.terminal.embed.InteractiveShellEmbed",
    "celery.contrib.rdb.set_trace",
    "builtins.breakpoint",
    "debugpy.breakpoint",
    "debugpy.listen",
    "debugpy.wait_for_client",
    "ptvsd.break_into_debugger",
    "ptvsd.enable_attach",
    "ptvsd.wait_for_attach",
    "sys.breakpointhook",
    "sys.__breakpointhook__",
];

fn check(module: &Module, _: &Context, sink: &mut Sink) {
    for import in &module.imports {
        if import.level != 0 {
            continue;
        }
        if !import.from && MODULES.contains(&import.module.as_str()) {
            sink.hit(import.at.line, import.at.column, format!("import of the debugger `{}`", import.module));
        }
        if import.from {
            for name in &import.names {
                let qualified = format!("{}.{name}", import.module);
                if CALLS.contains(&qualified.as_str()) {
                    sink.hit(import.at.line, import.at.column, format!("import of the debugger hook `{qualified}`"));
                }
            }
        }
    }
    for call in &module.calls {
        if let Some(callee) = call.callee.as_deref().filter(|c| CALLS.contains(c)) {
            let shown = callee.strip_prefix("builtins.").unwrap_or(callee);
            sink.hit(call.at.line, call.at.column, format!("debugger hook `{shown}` called"));
        }
    }
}
