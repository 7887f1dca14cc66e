//! Retry delays and priorities.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Exponential backoff with full jitter (AWS Architecture Blog, "Exponential
/// Backoff And Jitter"): a delay drawn uniformly from zero to
/// `min(cap, base · 2^(attempt-1))`. `draw` is that uniform number in
/// `[0, 1)`, passed in so the engine stays deterministic.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, draw: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1 << exponent).min(cap);
    ceiling.mul_f64(draw.clamp(0.0, 1.0))
}

/// Claim order: higher priority first, then oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];

    /// The number the claim sorts on, descending.
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn from_rank(rank: i64) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.rank() == rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap_and_the_draw_spans_it() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(1, base, cap, 0.999_999), Duration::from_secs(1).mul_f64(0.999_999));
        assert_eq!(backoff(3, base, cap, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(10, base, cap, 0.5), Duration::from_secs(30));
        assert_eq!(backoff(u32::MAX, base, cap, 1.0), cap);
        assert_eq!(backoff(4, base, cap, 0.0), Duration::ZERO);
    }

    #[test]
    fn priorities_order_by_rank() {
        assert!(Priority::Urgent.rank() > Priority::High.rank());
        assert!(Priority::Normal.rank() > Priority::Low.rank());
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(p.rank()), Some(p));
        }
    }
}
