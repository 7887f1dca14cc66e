//! The scheduled edge: a handler run by an EventBridge schedule on AWS, and
//! by a timer in the local runner.
//!
//! Schedules are written in EventBridge's `rate(...)` syntax, so the same
//! string goes into the SAM template and drives the local timer. Cron
//! expressions are not supported locally; a function that needs wall-clock
//! times should say so when it is added.

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use futures::future::BoxFuture;
use tracing::Instrument;

use crate::Error;
use crate::telemetry;

/// How often a scheduled function runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    every: Duration,
    /// A shorter period for the local runner, where a timer is free and a
    /// person is waiting; EventBridge cannot go below a minute.
    locally: Option<Duration>,
}

impl Schedule {
    pub fn every(period: Duration) -> Result<Schedule, Error> {
        if period < Duration::from_secs(60) || !period.as_secs().is_multiple_of(60) {
            return Err(Error::invalid("schedule", "EventBridge rates are whole minutes, at least one"));
        }
        Ok(Schedule { every: period, locally: None })
    }

    /// The same schedule, run every `period` by `hive serve`.
    pub fn locally_every(self, period: Duration) -> Schedule {
        Schedule { locally: Some(period.max(Duration::from_millis(100))), ..self }
    }

    pub fn period(&self) -> Duration {
        self.every
    }

    /// The period the local runner uses.
    pub fn local_period(&self) -> Duration {
        self.locally.unwrap_or(self.every)
    }

    /// The EventBridge expression, e.g. `rate(5 minutes)`.
    pub fn expression(&self) -> String {
        let minutes = self.every.as_secs() / 60;
        let (value, unit) = if minutes.is_multiple_of(24 * 60) {
            (minutes / (24 * 60), "day")
        } else if minutes.is_multiple_of(60) {
            (minutes / 60, "hour")
        } else {
            (minutes, "minute")
        };
        format!("rate({value} {unit}{})", if value == 1 { "" } else { "s" })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression())
    }
}

impl FromStr for Schedule {
    type Err = Error;

    /// Parses `rate(N minute[s]|hour[s]|day[s])`.
    fn from_str(expression: &str) -> Result<Schedule, Error> {
        let invalid = || Error::invalid("schedule", format!("{expression:?} is not rate(N minutes|hours|days)"));
        let inner =
            expression.trim().strip_prefix("rate(").and_then(|rest| rest.strip_suffix(')')).ok_or_else(invalid)?;
        let (value, unit) = inner.trim().split_once(' ').ok_or_else(invalid)?;
        let value: u64 = value.parse().map_err(|_| invalid())?;
        let seconds = match unit.trim() {
            "minute" | "minutes" => 60,
            "hour" | "hours" => 3600,
            "day" | "days" => 86_400,
            _ => return Err(invalid()),
        };
        if value == 0 {
            return Err(invalid());
        }
        Schedule::every(Duration::from_secs(value * seconds))
    }
}

/// One run of a scheduled function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledRun {
    /// The EventBridge event id, or a generated id locally.
    pub id: String,
    /// The schedule's name (the rule's name on AWS).
    pub schedule: String,
    /// When the run was due, RFC 3339, if known.
    pub time: Option<String>,
}

impl ScheduledRun {
    pub fn from_event(event: &EventBridgeEvent) -> ScheduledRun {
        let rule = event.resources.as_ref().and_then(|r| r.first()).and_then(|arn| arn.rsplit('/').next());
        ScheduledRun {
            id: event.id.clone().unwrap_or_else(telemetry::new_id),
            schedule: rule.unwrap_or("unknown").to_owned(),
            time: event
                .time
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok())
                .and_then(|v| v.as_str().map(str::to_owned)),
        }
    }

    pub fn local(schedule: &str) -> ScheduledRun {
        ScheduledRun { id: telemetry::new_id(), schedule: schedule.to_owned(), time: None }
    }
}

pub type ScheduledHandler = Arc<dyn Fn(ScheduledRun) -> BoxFuture<'static, Result<(), Error>> + Send + Sync>;

/// Wraps an `async fn(ScheduledRun) -> Result<(), Error>` as a [`ScheduledHandler`].
pub fn scheduled_handler<F, Fut>(handler: F) -> ScheduledHandler
where
    F: Fn(ScheduledRun) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    Arc::new(move |run| Box::pin(handler(run)))
}

/// Runs one scheduled run in its span and logs the outcome.
pub async fn run_once(run: ScheduledRun, handler: &ScheduledHandler) -> Result<(), Error> {
    let span = telemetry::schedule_span(&run.schedule, &run.id);
    async move {
        let result = handler(run).await;
        match &result {
            Ok(()) => tracing::info!("scheduled run finished"),
            Err(error) => tracing::error!(%error, retryable = error.is_retryable(), "scheduled run failed"),
        }
        result
    }
    .instrument(span)
    .await
}

/// Runs the handler as an EventBridge-scheduled Lambda function. A failed
/// run is returned as an error, so Lambda's asynchronous retries and the
/// function's failure destination see it.
pub async fn run_scheduled_lambda(handler: ScheduledHandler) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<EventBridgeEvent>| {
        let handler = handler.clone();
        async move {
            run_once(ScheduledRun::from_event(&event.payload), &handler).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}

/// Drives a schedule locally: the first run after one period, then every
/// period; a run that overruns delays the next rather than overlapping it.
/// Runs until the task is dropped or aborted.
pub async fn drive_locally(name: String, schedule: Schedule, handler: ScheduledHandler) {
    let period = schedule.local_period();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Errors are logged by run_once; the next tick tries again.
        let _ = run_once(ScheduledRun::local(&name), &handler).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn rate_expressions_round_trip() {
        for (text, minutes, canonical) in [
            ("rate(1 minute)", 1, "rate(1 minute)"),
            ("rate(5 minutes)", 5, "rate(5 minutes)"),
            ("rate(2 hours)", 120, "rate(2 hours)"),
            ("rate(1 day)", 1440, "rate(1 day)"),
            ("rate(90 minutes)", 90, "rate(90 minutes)"),
            ("rate(60 minutes)", 60, "rate(1 hour)"),
        ] {
            let schedule: Schedule = text.parse().unwrap();
            assert_eq!(schedule.period(), Duration::from_secs(minutes * 60), "{text}");
            assert_eq!(schedule.expression(), canonical);
        }
    }

    #[test]
    fn bad_expressions_are_refused() {
        for text in
            ["rate(0 minutes)", "rate(5 seconds)", "rate(five minutes)", "cron(0 12 * * ? *)", "5 minutes", "rate(5)"]
        {
            assert!(text.parse::<Schedule>().is_err(), "{text}");
        }
        assert!(Schedule::every(Duration::from_secs(90)).is_err());
    }

    #[test]
    fn run_from_eventbridge_event() {
        let event: EventBridgeEvent =
            serde_json::from_str(include_str!("../../tests/fixtures/events/eventbridge-schedule.json")).unwrap();
        let run = ScheduledRun::from_event(&event);
        assert_eq!(run.id, "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa");
        assert_eq!(run.schedule, "hive-nightly-cleanup");
        assert_eq!(run.time.as_deref(), Some("2026-11-24T03:00:00Z"));
    }

    #[tokio::test(start_paused = true)]
    async fn local_driver_runs_every_period() {
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let handler = scheduled_handler(move |_run| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Err(Error::Unavailable { service: "db", message: "a failure does not stop the schedule".into() })
            }
        });
        let schedule = Schedule::every(Duration::from_secs(300)).unwrap();
        let task = tokio::spawn(drive_locally("job".into(), schedule, handler));
        tokio::time::sleep(Duration::from_secs(299)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        tokio::time::sleep(Duration::from_secs(302)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        task.abort();
    }
}
