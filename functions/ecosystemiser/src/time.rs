//! Wall-clock times, from the platform's one definition.

pub use infra::time::{now_ms, rfc3339};
