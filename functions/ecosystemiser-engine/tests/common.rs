//! Helpers shared by the engine's integration tests (which, unlike the
//! engine, may read files).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ecosystemiser_engine::{parse_system, FileSource, System};

pub struct Dir(pub PathBuf);

impl FileSource for Dir {
    fn read_text(&self, relative_path: &str) -> Result<String, String> {
        std::fs::read_to_string(self.0.join(relative_path)).map_err(|e| e.to_string())
    }
}

pub fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/residential_year")
}

pub fn load_example(file: &str) -> System {
    let dir = example_dir();
    let text = std::fs::read_to_string(dir.join(file)).expect("example file");
    parse_system(&text, &Dir(dir)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

pub fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(example_dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

pub fn assert_rel(actual: f64, expected: f64, tolerance: f64, what: &str) {
    let error = (actual - expected).abs() / expected.abs().max(1e-12);
    assert!(error <= tolerance, "{what}: {actual} vs expected {expected} (relative error {error:e} > {tolerance:e})");
}

/// Parses a small inline YAML system.
pub fn system(yaml: &str) -> System {
    parse_system(yaml, &ecosystemiser_engine::NoFiles).unwrap_or_else(|e| panic!("{e}\n---\n{yaml}"))
}
