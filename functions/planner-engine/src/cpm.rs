//! The critical path method.
