//! Rules without a check of their own: the engine reports them.

use super::{Language, Rule};
use crate::finding::Severity;

pub const PARSE_ERROR: Rule = Rule {
    help: "The file is not UTF-8, does not parse, or is too large or too deeply nested to parse safely. The other rules still run on what parsed.",
    good: "def f():\n    return 1",
    bad: "def f(:\n    return 1",
    ..Rule::new("parse-error", Language::Any, Severity::Error, "the file does not parse")
};

pub const INVALID_SUPPRESSION: Rule = Rule {
    help: "A suppression must name the rules it silences, and they must exist: `guardian: ignore[print-call]`. A blanket ignore would hide every future finding on the line.",
    good: "print(x)  # guardian: ignore[print-call]",
    bad: "print(x)  # guardian: ignore",
    ..Rule::new("invalid-suppression", Language::Any, Severity::Warning, "a suppression without a rule, or naming an unknown rule")
};

pub const UNUSED_SUPPRESSION: Rule = Rule {
    help: "A suppression that matches no finding is stale: the code it excused has changed. Delete it.",
    good: "print(x)  # guardian: ignore[print-call]",
    bad: "x = 1  # guardian: ignore[print-call]",
    ..Rule::new("unused-suppression", Language::Any, Severity::Warning, "a suppression that matched nothing")
};

pub const ARCHITECTURE_CONTRACT: Rule = Rule {
    help: "An import or a crate dependency breaks a contract of guardian.toml (forbidden, independent or layers). The message names the chain.",
    good: "# in apps/billing: from packages.money import Amount",
    bad: "# in packages/money: from apps.billing import Invoice",
    ..Rule::new("architecture-contract", Language::Any, Severity::Error, "an import breaks an architecture contract")
};

/// The ids of the rules above.
pub const ALL: [&str; 4] = [PARSE_ERROR.id, INVALID_SUPPRESSION.id, UNUSED_SUPPRESSION.id, ARCHITECTURE_CONTRACT.id];
