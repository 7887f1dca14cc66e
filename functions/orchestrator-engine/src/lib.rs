//! The Orchestrator's domain: the task and run state machines as data
//! ([`machine`]), task graphs ([`graph`]) and retry delays and priorities
//! ([`retry`]). No I/O: the app (`functions/orchestrator`) stores tasks and
//! asks this crate what may happen to them.

pub mod graph;
pub mod machine;
pub mod retry;

pub use graph::{GraphError, topological_order};
pub use machine::{Refused, RunEvent, RunState, TaskEvent, TaskState, run_transition, task_transition};
pub use retry::{Priority, backoff};
