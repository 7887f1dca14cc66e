//! Hive's one infrastructure crate.
//!
//! Each concern is a small trait (a port) with a production adapter and an
//! embedded adapter, so a function runs the same on AWS Lambda and inside the
//! local `hive` process. Domain crates never depend on this crate's adapters'
//! libraries directly; they talk to the ports.

pub mod error;
pub mod config;
pub mod telemetry;
pub mod auth;
pub mod resilience;
pub mod llm;
pub mod events;
pub mod bus;
pub mod edge;
pub mod db;
pub mod cache;
pub mod queue;
pub mod objects;
pub mod aws;
pub mod time;
pub mod ssrf;
pub mod uploads;

pub use error::Error;
