//! User plans from YAML (with the line of every value) or JSON.

use std::collections::HashMap;

use crate::model::{Plan, PlanError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// The source line of each value, by path (`tasks[3].depends_on[0]`), so that
/// validation errors found later can name their line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceMap {
    lines: HashMap<String, usize>,
}

impl SourceMap {
    /// Fills in the line of every error whose path (or an ancestor of it) is known.
    pub fn locate(&self, errors: &mut [PlanError]) {
        let _ = errors;
    }
}

pub fn parse_plan(text: &str, format: Format) -> Result<Plan, Vec<PlanError>> {
    parse_plan_located(text, format).map(|(plan, _)| plan)
}

/// [`parse_plan`] that also returns the line of every value.
pub fn parse_plan_located(text: &str, format: Format) -> Result<(Plan, SourceMap), Vec<PlanError>> {
    let _ = (text, format);
    unimplemented!("skeleton")
}
