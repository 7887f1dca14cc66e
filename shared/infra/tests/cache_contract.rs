//! One contract for the cache port, run against Redis and the in-process map.

mod support;

use infra::cache::{Cache, MemoryCache, RedisCache, RedisSettings};
use std::sync::Arc;
use std::time::Duration;
use support::{Fixture, REDIS_URL, reachable, service_url, unique};

async fn redis() -> Fixture<dyn Cache> {
    // A unique prefix per test isolates tests sharing one Redis; keys expire
    // by themselves, so there is nothing to clean up.
    let settings = RedisSettings {
        url: service_url(REDIS_URL),
        key_prefix: unique("contract:") + ":",
        timeout: Duration::from_secs(3),
    };
    let cache = reachable(RedisCache::connect(&settings).await, "Redis", REDIS_URL);
    Fixture::new(Arc::new(cache) as Arc<dyn Cache>)
}

async fn memory() -> Fixture<dyn Cache> {
    Fixture::new(Arc::new(MemoryCache::new()) as Arc<dyn Cache>)
}

contract_tests!(
    redis,
    redis,
    [
        set_get_delete,
        values_expire,
        claim_is_exclusive_under_concurrency,
        claim_frees_after_ttl,
        limiter_allows_up_to_limit_then_refuses,
        limiter_is_atomic_under_concurrency,
        invalid_ttl_is_refused,
        ping_answers,
    ]
);
contract_tests!(
    memory,
    memory,
    [
        set_get_delete,
        values_expire,
        claim_is_exclusive_under_concurrency,
        claim_frees_after_ttl,
        limiter_allows_up_to_limit_then_refuses,
        limiter_is_atomic_under_concurrency,
        invalid_ttl_is_refused,
        ping_answers,
    ]
);

mod checks {
    use super::*;
    use infra::Error;

    pub async fn set_get_delete(cache: Arc<dyn Cache>) {
        assert_eq!(cache.get("k").await.unwrap(), None);
        cache.set("k", b"v1", None).await.unwrap();
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
        cache
            .set("k", b"v2", Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
        assert!(cache.delete("k").await.unwrap());
        assert!(
            !cache.delete("k").await.unwrap(),
            "second delete finds nothing"
        );
        assert_eq!(cache.get("k").await.unwrap(), None);
    }

    pub async fn values_expire(cache: Arc<dyn Cache>) {
        cache
            .set("short", b"x", Some(Duration::from_millis(300)))
            .await
            .unwrap();
        cache
            .set("long", b"y", Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert!(cache.get("short").await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(cache.get("short").await.unwrap(), None);
        assert!(cache.get("long").await.unwrap().is_some());
    }

    pub async fn claim_is_exclusive_under_concurrency(cache: Arc<dyn Cache>) {
        let claimants: Vec<_> = (0..16)
            .map(|index| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    let value = format!("request-{index}");
                    cache
                        .claim("idem:order-1", value.as_bytes(), Duration::from_secs(30))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut claims = Vec::new();
        for claimant in claimants {
            claims.push(claimant.await.unwrap());
        }
        let winners: Vec<_> = claims.iter().filter(|claim| claim.claimed).collect();
        assert_eq!(winners.len(), 1, "exactly one claimant wins: {claims:?}");
        let stored = winners[0].value.clone();
        assert!(
            claims.iter().all(|claim| claim.value == stored),
            "everyone sees the winner's value"
        );
        assert_eq!(cache.get("idem:order-1").await.unwrap(), Some(stored));
    }

    pub async fn claim_frees_after_ttl(cache: Arc<dyn Cache>) {
        let ttl = Duration::from_millis(300);
        assert!(cache.claim("idem:x", b"first", ttl).await.unwrap().claimed);
        let second = cache.claim("idem:x", b"second", ttl).await.unwrap();
        assert!(!second.claimed);
        assert_eq!(second.value, b"first");
        tokio::time::sleep(Duration::from_millis(600)).await;
        let third = cache.claim("idem:x", b"third", ttl).await.unwrap();
        assert!(third.claimed, "the claim is free again once it expired");
        assert_eq!(third.value, b"third");
    }

    pub async fn limiter_allows_up_to_limit_then_refuses(cache: Arc<dyn Cache>) {
        let window = Duration::from_millis(800);
        for expected_remaining in [2, 1, 0] {
            let decision = cache.allow("rate:tenant-a", 3, window).await.unwrap();
            assert!(decision.allowed);
            assert_eq!(decision.remaining, expected_remaining);
            assert_eq!(decision.retry_after, Duration::ZERO);
        }
        let refused = cache.allow("rate:tenant-a", 3, window).await.unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= window,
            "{refused:?}"
        );
        // Another key has its own window.
        assert!(
            cache
                .allow("rate:tenant-b", 3, window)
                .await
                .unwrap()
                .allowed
        );
        tokio::time::sleep(refused.retry_after + Duration::from_millis(150)).await;
        let next_window = cache.allow("rate:tenant-a", 3, window).await.unwrap();
        assert!(
            next_window.allowed,
            "a new window starts after retry_after: {next_window:?}"
        );
        assert_eq!(next_window.remaining, 2);
    }

    pub async fn limiter_is_atomic_under_concurrency(cache: Arc<dyn Cache>) {
        let callers: Vec<_> = (0..20)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    cache
                        .allow("rate:burst", 5, Duration::from_secs(30))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut allowed = 0;
        for caller in callers {
            allowed += usize::from(caller.await.unwrap().allowed);
        }
        assert_eq!(allowed, 5);
    }

    pub async fn invalid_ttl_is_refused(cache: Arc<dyn Cache>) {
        let error = cache
            .claim("idem:zero", b"x", Duration::ZERO)
            .await
            .expect_err("zero TTL");
        assert!(matches!(error, Error::Invalid { .. }), "{error:?}");
        assert_eq!(cache.get("idem:zero").await.unwrap(), None);
    }

    pub async fn ping_answers(cache: Arc<dyn Cache>) {
        cache.ping().await.expect("ping");
    }
}
