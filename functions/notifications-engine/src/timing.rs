//! When a message may go out: its priority, the endpoint's quiet hours in
//! the endpoint's own time zone, and digests.
//!
//! Urgent goes at once, whatever the hour. Other messages wait for the end
//! of quiet hours. Low ones may be gathered into the endpoint's digest, one
//! message per window.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "NotificationPriority")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(text: &str) -> Option<Priority> {
        [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent].into_iter().find(|p| p.as_str() == text)
    }

    /// Dispatch order: a larger rank goes first among due messages.
    pub fn rank(self) -> i64 {
        self as i64
    }
}

/// A daily window, `start` to `end` (wrapping past midnight when `end` is
/// earlier), in `time_zone`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "NotificationQuietHours")]
pub struct QuietHours {
    /// `HH:MM`, e.g. `22:00`.
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: String,
    /// `HH:MM`, e.g. `07:00`.
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub end: String,
    /// An IANA zone such as `Europe/Berlin`.
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuietHoursError {
    #[error("{field}: {value:?} is not a time of day HH:MM")]
    Time { field: &'static str, value: String },
    #[error("time_zone: {0:?} is not a known IANA time zone")]
    Zone(String),
    #[error("start and end are the same: the window would be empty or the whole day")]
    Empty,
}

impl QuietHoursError {
    /// The request field at fault, for a 4xx that names it.
    pub fn field(&self) -> &'static str {
        match self {
            QuietHoursError::Time { field, .. } => field,
            QuietHoursError::Zone(_) => "time_zone",
            QuietHoursError::Empty => "end",
        }
    }
}

struct Window {
    start: Time,
    end: Time,
    zone: TimeZone,
}

impl QuietHours {
    /// Checks the times and that the zone is in the system's tzdb.
    pub fn validate(&self) -> Result<(), QuietHoursError> {
        self.window().map(|_| ())
    }

    fn window(&self) -> Result<Window, QuietHoursError> {
        let time = |field: &'static str, value: &str| {
            let valid = value.len() == 5 && value.as_bytes()[2] == b':';
            valid
                .then(|| Time::strptime("%H:%M", value).ok())
                .flatten()
                .ok_or_else(|| QuietHoursError::Time { field, value: value.to_owned() })
        };
        let (start, end) = (time("start", &self.start)?, time("end", &self.end)?);
        if start == end {
            return Err(QuietHoursError::Empty);
        }
        let zone = TimeZone::get(&self.time_zone).map_err(|_| QuietHoursError::Zone(self.time_zone.clone()))?;
        Ok(Window { start, end, zone })
    }

    /// When the window that `now_ms` falls in ends (Unix ms), or `None`
    /// outside quiet hours.
    pub fn ends_after(&self, now_ms: i64) -> Result<Option<i64>, QuietHoursError> {
        let window = self.window()?;
        let Ok(now) = Timestamp::from_millisecond(now_ms) else { return Ok(None) };
        let local = now.to_zoned(window.zone.clone());
        let time = local.time();
        let inside = if window.start < window.end {
            window.start <= time && time < window.end
        } else {
            time >= window.start || time < window.end
        };
        if !inside {
            return Ok(None);
        }
        // Today's end, or tomorrow's when the window wrapped past midnight;
        // a DST gap moves the end forward, as a wall clock does.
        let end_today = local.date().to_datetime(window.end).to_zoned(window.zone.clone()).ok();
        let end = end_today
            .and_then(|end| if end.timestamp() > now { Some(end) } else { end.checked_add(1.day()).ok() })
            .map(|end| end.timestamp().as_millisecond());
        Ok(end)
    }
}

/// What to do with a new message now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    Now,
    /// Held by quiet hours until this instant (Unix ms).
    HoldUntil(i64),
    /// Into the endpoint's digest.
    Digest,
}

/// Urgent bypasses quiet hours and digests; low goes to the digest when
/// the endpoint has one; the rest waits for quiet hours to end.
pub fn release(priority: Priority, quiet: Option<&QuietHours>, has_digest: bool, now_ms: i64) -> Release {
    if priority == Priority::Urgent {
        return Release::Now;
    }
    if priority == Priority::Low && has_digest {
        return Release::Digest;
    }
    match quiet.map(|quiet| quiet.ends_after(now_ms)) {
        Some(Ok(Some(end))) => Release::HoldUntil(end),
        _ => Release::Now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet(start: &str, end: &str, zone: &str) -> QuietHours {
        QuietHours { start: start.into(), end: end.into(), time_zone: zone.into() }
    }

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn the_window_is_in_the_endpoints_zone_and_wraps_past_midnight() {
        let berlin = quiet("22:00", "07:00", "Europe/Berlin");
        // 22:30 UTC on 15 January is 23:30 in Berlin (UTC+1): quiet until 07:00 Berlin = 06:00 UTC.
        assert_eq!(berlin.ends_after(ms("2026-01-15T22:30:00Z")), Ok(Some(ms("2026-01-16T06:00:00Z"))));
        // 05:00 UTC is 06:00 Berlin: quiet for one more hour.
        assert_eq!(berlin.ends_after(ms("2026-01-16T05:00:00Z")), Ok(Some(ms("2026-01-16T06:00:00Z"))));
        // 12:00 UTC is not quiet.
        assert_eq!(berlin.ends_after(ms("2026-01-16T12:00:00Z")), Ok(None));
        // In July Berlin is UTC+2: 20:30 UTC is 22:30 there.
        assert_eq!(berlin.ends_after(ms("2026-07-15T20:30:00Z")), Ok(Some(ms("2026-07-16T05:00:00Z"))));
        let tokyo = quiet("12:00", "13:00", "Asia/Tokyo");
        assert_eq!(tokyo.ends_after(ms("2026-01-16T03:10:00Z")), Ok(Some(ms("2026-01-16T04:00:00Z"))));
    }

    #[test]
    fn bad_windows_name_their_field() {
        assert_eq!(quiet("22:00", "07:00", "Mars/Olympus").validate().unwrap_err().field(), "time_zone");
        assert_eq!(quiet("25:00", "07:00", "UTC").validate().unwrap_err().field(), "start");
        assert_eq!(quiet("22:00", "7:00", "UTC").validate().unwrap_err().field(), "end");
        assert_eq!(quiet("07:00", "07:00", "UTC").validate(), Err(QuietHoursError::Empty));
        assert_eq!(quiet("07:00", "08:00", "../../etc/passwd").validate().unwrap_err().field(), "time_zone");
    }

    #[test]
    fn urgent_bypasses_and_low_goes_to_the_digest() {
        let always = quiet("00:00", "23:59", "UTC");
        let now = ms("2026-01-16T12:00:00Z");
        assert_eq!(release(Priority::Urgent, Some(&always), true, now), Release::Now);
        assert_eq!(release(Priority::Low, Some(&always), true, now), Release::Digest);
        assert_eq!(release(Priority::Low, Some(&always), false, now), Release::HoldUntil(ms("2026-01-16T23:59:00Z")));
        assert_eq!(release(Priority::High, None, true, now), Release::Now);
    }
}
