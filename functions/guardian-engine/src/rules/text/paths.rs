use super::Literals;
use crate::finding::Severity;
use crate::rules::{Context, Language, Rule, Sink};

pub const RULE: Rule = Rule {
    help: "A path into one person's machine (`/home/…`, `/Users/…`, `C:/…`) breaks on every other. Take it from configuration, or build it from the package's own location.",
    good: "data = Path(settings.data_dir) / 'input.csv'",
    bad: "data = '/home/alice/project/input.csv'",
    python: Some(|module, context, sink| check(module, context, sink)),
    rust: Some(|file, context, sink| check(file, context, sink)),
    ..Rule::new("hardcoded-path", Language::Any, Severity::Error, "no hard-coded absolute paths")
};

/// Whether `value` is an absolute path into a user's home or a Windows drive.
pub fn is_absolute_user_path(value: &str) -> bool {
    let bytes = value.as_bytes();
    let drive = bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && (bytes[2] == b'/' || bytes[2] == b'\\');
    let home = ["/home/", "/Users/"].iter().any(|prefix| value.starts_with(prefix) && value.len() > prefix.len());
    (drive || home) && !value.contains(char::is_whitespace) && !value.contains('\n')
}

fn check(literals: &impl Literals, _: &Context, sink: &mut Sink) {
    for literal in literals.strings() {
        if is_absolute_user_path(&literal.value) {
            sink.hit(literal.line, literal.column, format!("hard-coded absolute path `{}`", literal.value));
        }
    }
}
