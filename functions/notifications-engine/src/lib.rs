//! Notifications' domain, with no I/O: the app (`functions/notifications`)
//! stores endpoints, templates and deliveries and asks this crate how to
//! sign a webhook ([`signature`]), when to try again ([`retry`]), what an
//! answer means ([`outcome`]), when a message may go out ([`timing`]), what
//! it says ([`template`], [`builtin`]) and how it fits Slack ([`slack`]).

pub mod builtin;
pub mod filter;
pub mod outcome;
pub mod retry;
pub mod signature;
pub mod slack;
pub mod template;
pub mod timing;

pub use outcome::{Outcome, classify};
pub use retry::RetrySchedule;
pub use signature::{Secret, SignatureError};
pub use template::{RenderError, Rendered, Template};
pub use timing::{Priority, QuietHours, Release};
