use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};
use crate::syntax::python::Module;

pub const RULE: Rule = Rule {
    help: "A blocking call inside `async def` stalls the whole event loop. Use the async equivalent (`asyncio.sleep`, an async HTTP client, `asyncio.create_subprocess_exec`) or run it in a thread (`asyncio.to_thread`). `open` counts when it is called in a loop.",
    good: "async def wait_async() -> None:\n    await asyncio.sleep(1)",
    bad: "async def wait_async() -> None:\n    time.sleep(1)",
    python: Some(check),
    ..Rule::new("blocking-call-in-async", Language::Python, Severity::Error, "no blocking calls inside `async def`")
};

const BLOCKING: &[&str] = &[
    "time.sleep",
    "urllib.request.urlopen",
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "os.system",
    "os.popen",
    "socket.create_connection",
];

fn check(module: &Module, _: &Context, sink: &mut Sink) {
    for call in module.calls.iter().filter(|c| c.in_async) {
        let Some(callee) = call.callee.as_deref() else { continue };
        let blocking = BLOCKING.contains(&callee)
            || callee.starts_with("requests.")
            || (callee == "builtins.open" && call.in_loop);
        if blocking {
            let shown = callee.strip_prefix("builtins.").unwrap_or(callee);
            sink.hit(call.at.line, call.at.column, format!("`{shown}` blocks the event loop inside `async def`"));
        }
    }
}
