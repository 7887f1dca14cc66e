//! Retry with backoff, per-call timeouts and a circuit breaker.
//!
//! All three use tokio's clock (`tokio::time`), so tests run them under
//! paused time (`#[tokio::test(start_paused = true)]`) and are exact and fast.
//! Only errors for which [`Error::is_retryable`] holds are retried or count
//! against the breaker: a `NotFound` or an `Invalid` says nothing about the
//! dependency's health.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::Error;

/// How often and how patiently to retry.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included; at least 1.
    pub max_attempts: u32,
    /// The backoff ceiling before the first retry; doubles for each retry.
    pub base_delay: Duration,
    /// No single wait exceeds this.
    pub max_delay: Duration,
}

impl RetryPolicy {
    pub fn new(max_attempts: u32, base_delay: Duration, max_delay: Duration) -> Result<RetryPolicy, Error> {
        if max_attempts == 0 {
            return Err(Error::invalid("max_attempts", "must be at least 1"));
        }
        if base_delay > max_delay {
            return Err(Error::invalid("base_delay", "must not exceed max_delay"));
        }
        Ok(RetryPolicy { max_attempts, base_delay, max_delay })
    }

    /// The ceiling of the wait after failed attempt `attempt` (1-based):
    /// `min(max_delay, base_delay * 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// "Full jitter" (AWS Architecture Blog, "Exponential Backoff And
    /// Jitter"): a uniform wait in `[0, ceiling]`, with `unit` in `[0, 1)`.
    /// Spreading retries this way keeps clients that failed together from
    /// retrying together.
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        self.ceiling(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Runs `operation` until it succeeds, fails with a permanent error, or
/// `policy.max_attempts` attempts have failed; returns the last error.
pub async fn retry<T, F, Fut>(policy: &RetryPolicy, name: &str, mut operation: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt = 1;
    loop {
        match operation().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_retryable() && attempt < policy.max_attempts => {
                let wait = policy.delay(attempt, rand::rng().random::<f64>());
                tracing::warn!(operation = name, attempt, ?wait, %error, "retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Runs `future` with a deadline; running past it is a (retryable)
/// [`Error::Timeout`].
pub async fn with_timeout<T>(
    name: &str,
    after: Duration,
    future: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(after, future).await {
        Ok(result) => result,
        Err(_) => Err(Error::Timeout { operation: name.to_owned(), after }),
    }
}

/// The breaker's observable state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; consecutive retryable failures are counted.
    Closed,
    /// Calls fail fast until the cool-down has passed.
    Open,
    /// The cool-down has passed; one trial call is in flight, and its
    /// outcome closes or re-opens the breaker.
    HalfOpen,
}

/// Stops calling a dependency that keeps failing, so callers fail fast
/// instead of piling up on timeouts, and lets one trial call through after a
/// cool-down.
#[derive(Debug)]
pub struct CircuitBreaker {
    service: &'static str,
    failure_threshold: u32,
    cool_down: Duration,
    state: Mutex<Inner>,
}

#[derive(Debug)]
enum Inner {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

impl CircuitBreaker {
    /// Opens after `failure_threshold` consecutive retryable failures; stays
    /// open for `cool_down`.
    pub fn new(service: &'static str, failure_threshold: u32, cool_down: Duration) -> Result<CircuitBreaker, Error> {
        if failure_threshold == 0 {
            return Err(Error::invalid("failure_threshold", "must be at least 1"));
        }
        Ok(CircuitBreaker {
            service,
            failure_threshold,
            cool_down,
            state: Mutex::new(Inner::Closed { consecutive_failures: 0 }),
        })
    }

    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen => BreakerState::HalfOpen,
        }
    }

    /// Runs `operation` through the breaker. While open (or while the
    /// half-open trial is in flight) it fails fast with
    /// [`Error::Unavailable`], which is retryable.
    pub async fn call<T, Fut>(&self, operation: impl FnOnce() -> Fut) -> Result<T, Error>
    where
        Fut: Future<Output = Result<T, Error>>,
    {
        self.admit()?;
        let result = operation().await;
        self.record(result.as_ref().err());
        result
    }

    fn admit(&self) -> Result<(), Error> {
        let mut state = self.lock();
        match *state {
            Inner::Closed { .. } => Ok(()),
            Inner::Open { until } if Instant::now() >= until => {
                *state = Inner::HalfOpen;
                Ok(())
            }
            Inner::Open { .. } | Inner::HalfOpen => {
                Err(Error::Unavailable { service: self.service, message: "circuit open".into() })
            }
        }
    }

    fn record(&self, error: Option<&Error>) {
        let mut state = self.lock();
        let failed = error.is_some_and(Error::is_retryable);
        *state = match (&*state, failed) {
            (_, false) => Inner::Closed { consecutive_failures: 0 },
            (Inner::Closed { consecutive_failures }, true) if consecutive_failures + 1 < self.failure_threshold => {
                Inner::Closed { consecutive_failures: consecutive_failures + 1 }
            }
            (_, true) => {
                tracing::warn!(service = self.service, cool_down = ?self.cool_down, "circuit opened");
                Inner::Open { until: Instant::now() + self.cool_down }
            }
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave `Inner` half-written
        // (every write is one assignment), so a poisoned lock is still valid.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn unavailable() -> Error {
        Error::Unavailable { service: "db", message: "down".into() }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::new(4, Duration::from_millis(100), Duration::from_millis(250)).unwrap()
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_spans_zero_to_ceiling() {
        let p = policy();
        let ceilings: Vec<_> = (1..=4).map(|a| p.ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 250, 250]);
        assert_eq!(p.delay(2, 0.0), Duration::ZERO);
        assert_eq!(p.delay(2, 0.5), Duration::from_millis(100));
        assert_eq!(p.delay(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_millis(250));
    }

    #[test]
    fn policies_are_validated() {
        assert!(RetryPolicy::new(0, Duration::ZERO, Duration::ZERO).is_err());
        assert!(RetryPolicy::new(1, Duration::from_secs(2), Duration::from_secs(1)).is_err());
        assert!(CircuitBreaker::new("x", 0, Duration::ZERO).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_until_success() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let result = retry(&policy(), "op", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 { Err(unavailable()) } else { Ok(7) }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Two waits, bounded by the first two ceilings.
        assert!(started.elapsed() <= Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts_with_the_last_error() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retry(&policy(), "op", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::Timeout { operation: "op".into(), after: Duration::from_secs(1) })
        })
        .await;
        assert!(matches!(result, Err(Error::Timeout { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = retry(&policy(), "op", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::invalid("name", "empty"))
        })
        .await;
        assert!(matches!(result, Err(Error::Invalid { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_is_a_retryable_error() {
        let slow = with_timeout("slow", Duration::from_secs(1), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        });
        let error = slow.await.unwrap_err();
        assert!(
            matches!(&error, Error::Timeout { operation, after } if operation == "slow" && *after == Duration::from_secs(1))
        );
        assert!(error.is_retryable());
        assert_eq!(with_timeout("fast", Duration::from_secs(1), async { Ok(3) }).await.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_fails_fast_then_half_opens_after_cool_down() {
        let breaker = CircuitBreaker::new("db", 3, Duration::from_secs(10)).unwrap();
        let calls = AtomicU32::new(0);
        let failing = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(unavailable())
        };

        for _ in 0..3 {
            assert!(breaker.call(failing).await.is_err());
        }
        assert_eq!(breaker.state(), BreakerState::Open);
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        // Open: fails fast without calling.
        let error = breaker.call(failing).await.unwrap_err();
        assert!(matches!(error, Error::Unavailable { message, .. } if message == "circuit open"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        // After the cool-down one trial goes through; it fails, so the breaker re-opens.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert!(breaker.call(failing).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(breaker.state(), BreakerState::Open);

        // The next trial succeeds and closes it.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(breaker.call(|| async { Ok(1) }).await.unwrap(), 1);
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_admits_one_trial_at_a_time_when_half_open() {
        let breaker = CircuitBreaker::new("db", 1, Duration::from_secs(1)).unwrap();
        let _ = breaker.call(|| async { Err::<(), _>(unavailable()) }).await;
        tokio::time::advance(Duration::from_secs(1)).await;
        let (trial_started_tx, trial_started_rx) = tokio::sync::oneshot::channel();
        let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
        let trial = breaker.call(|| async move {
            trial_started_tx.send(()).unwrap();
            finish_rx.await.unwrap();
            Ok(())
        });
        let second = async {
            trial_started_rx.await.unwrap();
            let result = breaker.call(|| async { Ok(()) }).await;
            finish_tx.send(()).unwrap();
            result
        };
        let (trial, second) = tokio::join!(trial, second);
        assert!(trial.is_ok());
        assert!(matches!(second, Err(Error::Unavailable { .. })));
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_and_successes_reset_the_count() {
        let breaker = CircuitBreaker::new("db", 2, Duration::from_secs(1)).unwrap();
        let _ = breaker.call(|| async { Err::<(), _>(unavailable()) }).await;
        let _ = breaker.call(|| async { Err::<(), _>(Error::NotFound("x".into())) }).await;
        let _ = breaker.call(|| async { Err::<(), _>(unavailable()) }).await;
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
