//! What one delivery attempt's answer means for the next step.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx (or an SMTP 250): done.
    Delivered,
    /// Try again on the schedule, or not before `after` when the receiver
    /// said so (429 or 503 with `Retry-After`).
    Retry { after: Option<Duration> },
    /// A 4xx other than 408, 410 and 429: the message itself is refused;
    /// retrying cannot help, so it is dead at once.
    Permanent,
    /// 410 Gone: the receiver asks not to be called again.
    Disable,
}

/// The longest `Retry-After` honoured; a longer one waits this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Classifies an HTTP answer at `now` (Unix ms, against which an HTTP-date
/// `Retry-After` counts); `None` is a timeout or a connection error.
pub fn classify(status: Option<u16>, retry_after: Option<&str>, now: i64) -> Outcome {
    match status {
        None => Outcome::Retry { after: None },
        Some(200..=299) => Outcome::Delivered,
        Some(410) => Outcome::Disable,
        Some(429 | 503) => Outcome::Retry { after: retry_after.and_then(|value| parse_retry_after(value, now)) },
        Some(408) => Outcome::Retry { after: None },
        Some(400..=499) => Outcome::Permanent,
        Some(_) => Outcome::Retry { after: None },
    }
}

/// An SMTP reply: 2xx delivered, 4xx temporary (retried), 5xx permanent.
pub fn classify_smtp(code: Option<u16>) -> Outcome {
    match code {
        Some(200..=299) => Outcome::Delivered,
        Some(500..=599) => Outcome::Permanent,
        _ => Outcome::Retry { after: None },
    }
}

/// `Retry-After` in either form RFC 9110 allows: delay-seconds, or an
/// HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`), which waits until then (a
/// date already past waits nothing). Anything else falls back to the
/// schedule.
fn parse_retry_after(value: &str, now: i64) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp().as_millisecond();
            Duration::from_millis(u64::try_from(at - now).unwrap_or(0))
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2015-10-21T07:28:00Z, RFC 9110's example date, in Unix ms.
    const OCT_21_2015: i64 = 1_445_412_480_000;

    #[test]
    fn http_answers() {
        let cases = [
            (Some(200), None, Outcome::Delivered),
            (Some(204), None, Outcome::Delivered),
            (Some(410), None, Outcome::Disable),
            (Some(429), Some("2"), Outcome::Retry { after: Some(Duration::from_secs(2)) }),
            (Some(503), Some(" 7 "), Outcome::Retry { after: Some(Duration::from_secs(7)) }),
            (Some(429), Some("Wed, 21 Oct 2015 07:28:00 GMT"), Outcome::Retry { after: Some(Duration::from_secs(90)) }),
            (Some(503), Some("Wed, 21 Oct 2015 07:00:00 GMT"), Outcome::Retry { after: Some(Duration::ZERO) }),
            (Some(429), Some("Thu, 22 Oct 2015 07:28:00 GMT"), Outcome::Retry { after: Some(MAX_RETRY_AFTER) }),
            (Some(429), Some("soon"), Outcome::Retry { after: None }),
            (Some(503), Some("999999"), Outcome::Retry { after: Some(MAX_RETRY_AFTER) }),
            (Some(400), None, Outcome::Permanent),
            (Some(404), None, Outcome::Permanent),
            (Some(408), None, Outcome::Retry { after: None }),
            (Some(500), Some("3"), Outcome::Retry { after: None }),
            (Some(302), None, Outcome::Retry { after: None }),
            (None, None, Outcome::Retry { after: None }),
        ];
        for (status, retry_after, expected) in cases {
            assert_eq!(classify(status, retry_after, OCT_21_2015 - 90_000), expected, "{status:?} {retry_after:?}");
        }
    }

    #[test]
    fn smtp_replies() {
        assert_eq!(classify_smtp(Some(250)), Outcome::Delivered);
        assert_eq!(classify_smtp(Some(451)), Outcome::Retry { after: None });
        assert_eq!(classify_smtp(Some(550)), Outcome::Permanent);
        assert_eq!(classify_smtp(None), Outcome::Retry { after: None });
    }
}
