//! When a failed delivery is tried again: a fixed schedule of delays after
//! the first attempt (Svix's by default), each stretched or shrunk by up to
//! a fifth at random so that endpoints failing together do not all retry
//! at the same instant.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a list of delays like 1s,2s,4s (units ms, s, m, h; 1 to 20 of them, each at most 24h)")]
pub struct BadSchedule(pub String);

const MAX_DELAY: Duration = Duration::from_secs(24 * 3600);

impl RetrySchedule {
    /// Svix's: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; eight attempts in all.
    pub fn svix() -> RetrySchedule {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        RetrySchedule {
            delays: vec![Duration::from_secs(5), minutes(5), minutes(30), minutes(120), minutes(300), minutes(600), minutes(600)],
        }
    }

    /// Parses `HIVE_NOTIFICATIONS_RETRY_SCHEDULE`, e.g. `1s,2s,4s`.
    pub fn parse(text: &str) -> Result<RetrySchedule, BadSchedule> {
        let bad = || BadSchedule(text.to_owned());
        let delays = text.split(',').map(|part| parse_delay(part.trim()).ok_or_else(bad)).collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() || delays.len() > 20 {
            return Err(bad());
        }
        Ok(RetrySchedule { delays })
    }

    /// How many attempts a message gets before it is dead.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.delays.len() + 1).unwrap_or(u32::MAX)
    }

    /// The pause after failed attempt `attempt` (1-based), jittered by
    /// `random` in [0, 1); `None` after the last attempt.
    pub fn delay_after(&self, attempt: u32, random: f64) -> Option<Duration> {
        let base = *self.delays.get(usize::try_from(attempt.checked_sub(1)?).ok()?)?;
        Some(base.mul_f64(0.8 + 0.4 * random.clamp(0.0, 1.0)))
    }
}

fn parse_delay(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let delay = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.checked_mul(60)?),
        "h" => Duration::from_secs(number.checked_mul(3600)?),
        _ => return None,
    };
    (delay > Duration::ZERO && delay <= MAX_DELAY).then_some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_form_parses_and_bounds_the_attempts() {
        let schedule = RetrySchedule::parse("1s, 2s,4s").unwrap();
        assert_eq!(schedule.attempts(), 4);
        assert_eq!(schedule.delay_after(1, 0.5), Some(Duration::from_secs(1)));
        assert_eq!(schedule.delay_after(3, 0.5), Some(Duration::from_secs(4)));
        assert_eq!(schedule.delay_after(4, 0.5), None);
        assert_eq!(schedule.delay_after(0, 0.5), None);
        assert_eq!(RetrySchedule::parse("250ms,1m,2h").unwrap().delay_after(2, 0.5), Some(Duration::from_secs(60)));
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        let schedule = RetrySchedule::parse("10s").unwrap();
        assert_eq!(schedule.delay_after(1, 0.0), Some(Duration::from_secs(8)));
        assert_eq!(schedule.delay_after(1, 1.0), Some(Duration::from_secs(12)));
    }

    #[test]
    fn svix_has_eight_attempts_ending_in_ten_hours() {
        let svix = RetrySchedule::svix();
        assert_eq!(svix.attempts(), 8);
        assert_eq!(svix.delay_after(7, 0.5), Some(Duration::from_secs(36_000)));
    }

    #[test]
    fn bad_schedules_are_refused() {
        for bad in ["", "1", "1x", "0s", "-1s", "1s,,2s", "25h", "99999999999999999999s"] {
            assert!(RetrySchedule::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RetrySchedule::parse(&vec!["1s"; 21].join(",")).is_err());
    }
}
