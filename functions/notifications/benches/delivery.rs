//! The load benchmark: 10,000 webhook notifications (bulk requests of
//! 1,000) to a loopback receiver, on PostgreSQL and Redis
//! (`HIVE_TEST_POSTGRES_URL`, `HIVE_TEST_REDIS_URL`), with the dispatcher
//! consuming its queue (in-process) as `hive serve` runs it.
//! Prints deliveries per second, request-to-delivery latency (p50, p99,
//! max), lost and duplicated deliveries, and the machine.
//!
//! `cargo bench -p notifications --bench delivery` (`NOTIFICATIONS_BENCH_COUNT`
//! changes the count). Not a test: nothing here fails on speed, only on a
//! lost or duplicated delivery.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

const ENDPOINTS: usize = 4;
const BULK: usize = 1000;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count: usize = std::env::var("NOTIFICATIONS_BENCH_COUNT").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let app = common::app(
        "bench",
        &[("HIVE_NOTIFICATIONS_ALLOW_PRIVATE_TARGETS", "true"), ("HIVE_NOTIFICATIONS_TENANT_RATE_PER_S", "100000"), ("HIVE_NOTIFICATIONS_CONCURRENCY", "64")],
    )
    .await;
    let receiver = common::Receiver::start().await;
    let mut endpoints = Vec::new();
    for n in 0..ENDPOINTS {
        endpoints.push(app.webhook("bench", &receiver.url(&format!("/hook/{n}")), json!({})).await.0);
    }
    let started = Instant::now();
    let mut requested_at: BTreeMap<String, Instant> = BTreeMap::new();
    for chunk in 0..count.div_ceil(BULK) {
        let items: Vec<_> = (chunk * BULK..((chunk + 1) * BULK).min(count))
            .map(|n| json!({"endpoint_id": endpoints[n % ENDPOINTS], "subject": format!("n{n}"), "text": "load"}))
            .collect();
        let at = Instant::now();
        let reply = app.ok("POST", "/v1/notifications/bulk", "bench", json!({"notifications": items})).await;
        for notification in reply["notifications"].as_array().unwrap() {
            requested_at.insert(notification["id"].as_str().unwrap().to_owned(), at);
        }
    }
    let accepted = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while receiver.received.lock().unwrap().len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = receiver.received.lock().unwrap().clone();
    let mut first: BTreeMap<String, Instant> = BTreeMap::new();
    for request in &received {
        let id = request.headers["webhook-id"].to_str().unwrap().to_owned();
        first.entry(id).or_insert(request.at);
    }
    let last = received.iter().map(|r| r.at).max().unwrap_or(started);
    let mut latencies: Vec<Duration> = first.iter().filter_map(|(id, at)| Some(*at - *requested_at.get(id)?)).collect();
    latencies.sort();
    let pick = |p: f64| latencies.get(((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len().max(1)) - 1).copied().unwrap_or_default();
    let lost = requested_at.keys().filter(|id| !first.contains_key(*id)).count();
    let duplicated = received.len() - first.len();
    let elapsed = last - started;
    println!("notifications delivery benchmark: {count} webhook notifications, {ENDPOINTS} endpoints, bulk requests of {BULK}, one dispatcher consuming its queue (64 attempts in flight), PostgreSQL and Redis");
    println!("  accepted by the API in {:.2} s ({:.0} notifications/s)", accepted.as_secs_f64(), count as f64 / accepted.as_secs_f64());
    println!("  delivered {} in {:.2} s from the first request: {:.0} deliveries/s", first.len(), elapsed.as_secs_f64(), first.len() as f64 / elapsed.as_secs_f64());
    println!("  request-to-delivery latency: p50 {} ms, p99 {} ms, max {} ms", pick(0.5).as_millis(), pick(0.99).as_millis(), latencies.last().copied().unwrap_or_default().as_millis());
    println!("  lost {lost}, duplicated {duplicated}");
    println!("  machine: {}", machine());
    assert_eq!((lost, duplicated), (0, 0), "every notification is delivered exactly once");
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| info.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or("unknown memory".into(), |kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0));
    // The machine is shared: the load average says how much of it the run had.
    let load = std::fs::read_to_string("/proc/loadavg").ok().map_or("unknown".into(), |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    format!("{cpu}, {cores} cores, {memory}, {} {}, load average {load}", std::env::consts::OS, std::env::consts::ARCH)
}
