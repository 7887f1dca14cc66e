//! The resource-constrained project scheduling problem.
