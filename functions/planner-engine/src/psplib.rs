//! PSPLIB `.sm` files (single-mode RCPSP instances) as plans.

use crate::model::{Plan, PlanError};

pub fn parse_psplib(text: &str) -> Result<Plan, Vec<PlanError>> {
    let _ = text;
    unimplemented!("skeleton")
}
