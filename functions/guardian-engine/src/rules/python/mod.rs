//! Python rules, from the platform's golden rules and six of ruff's.

pub mod async_suffix;
pub mod bare_except;
pub mod blocking_async;
pub mod debugger;
pub mod env_manager;
pub mod eval;
pub mod exec;
pub mod global_accessor;
pub mod pickle;
pub mod print;
pub mod sys_path;
pub mod type_hints;
pub mod wildcard_import;
