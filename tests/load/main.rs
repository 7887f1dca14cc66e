//! Load test for the studies API on a running `hive serve` (loopback only).
//!
//! `studies-load BASE_URL TOKEN [REQUESTS] [CONCURRENCY] [MAX_SECONDS]`
//!
//! CONCURRENCY clients each loop: submit a small optimisation, read it
//! back, list the tenant's newest studies; until REQUESTS requests were sent
//! or MAX_SECONDS passed. Then it waits (bounded) for every accepted study
//! to finish and pages through the listing. It prints throughput, p50/p99
//! latency per operation, and how many accepted studies were lost (not
//! listed, or not finished). Exits non-zero if any request failed or any
//! study was lost. `tests/load/run.sh` starts the server and runs this.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::Mutex;

#[derive(Default)]
struct Samples {
    submit: Vec<Duration>,
    read: Vec<Duration>,
    list: Vec<Duration>,
    errors: Vec<String>,
    accepted: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        bail!("usage: studies-load BASE_URL TOKEN [REQUESTS=600] [CONCURRENCY=16] [MAX_SECONDS=60]");
    }
    let base = args[1].trim_end_matches('/').to_owned();
    if !(base.starts_with("http://127.0.0.1:") || base.starts_with("http://localhost:")) {
        bail!("the load test runs against loopback only, not {base}");
    }
    let token = args[2].clone();
    let requests: usize = args.get(3).map_or(Ok(600), |a| a.parse()).context("REQUESTS")?;
    let concurrency: usize = args.get(4).map_or(Ok(16), |a| a.parse()).context("CONCURRENCY")?;
    let max_seconds: u64 = args.get(5).map_or(Ok(60), |a| a.parse()).context("MAX_SECONDS")?;
    let deadline = Instant::now() + Duration::from_secs(max_seconds);

    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let sent = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(Mutex::new(Samples::default()));
    let body = serde_json::json!({"kind": "optimize", "system": {
        "name": "load", "timesteps": 24, "timestep_hours": 1.0,
        "profiles": {"inline": {"load": (0..24).map(|t| 1.0 + (t % 5) as f64).collect::<Vec<f64>>()}},
        "components": [
            {"name": "grid", "type": "grid", "import_price": 0.2, "import_max_kw": 10},
            {"name": "house", "type": "electric_demand", "profile": "load"}
        ]
    }});

    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, token, sent, samples, body) =
            (client.clone(), base.clone(), token.clone(), sent.clone(), samples.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline && sent.fetch_add(3, Ordering::SeqCst) + 3 <= requests {
                let t = Instant::now();
                let response = client.post(format!("{base}/v1/studies")).bearer_auth(&token).json(&body).send().await;
                let elapsed = t.elapsed();
                let id = match response {
                    Ok(r) if r.status() == 202 => {
                        r.json::<serde_json::Value>().await.ok().and_then(|j| j["id"].as_str().map(str::to_owned))
                    }
                    Ok(r) => {
                        samples.lock().await.errors.push(format!("submit: {}", r.status()));
                        None
                    }
                    Err(error) => {
                        samples.lock().await.errors.push(format!("submit: {error}"));
                        None
                    }
                };
                samples.lock().await.submit.push(elapsed);
                let Some(id) = id else { continue };
                samples.lock().await.accepted.push(id.clone());

                let t = Instant::now();
                let read = client.get(format!("{base}/v1/studies/{id}")).bearer_auth(&token).send().await;
                let elapsed = t.elapsed();
                let mut guard = samples.lock().await;
                guard.read.push(elapsed);
                match read {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => guard.errors.push(format!("read: {}", r.status())),
                    Err(error) => guard.errors.push(format!("read: {error}")),
                }
                drop(guard);

                let t = Instant::now();
                let list = client.get(format!("{base}/v1/studies?limit=10")).bearer_auth(&token).send().await;
                let elapsed = t.elapsed();
                let mut guard = samples.lock().await;
                guard.list.push(elapsed);
                match list {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => guard.errors.push(format!("list: {}", r.status())),
                    Err(error) => guard.errors.push(format!("list: {error}")),
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let load_time = started.elapsed();
    let samples = std::mem::take(&mut *samples.lock().await);
    let total = samples.submit.len() + samples.read.len() + samples.list.len();

    // Every accepted study must finish and be listed.
    let accepted: BTreeSet<String> = samples.accepted.iter().cloned().collect();
    let drain_started = Instant::now();
    let mut unfinished = accepted.clone();
    let mut listed = BTreeSet::new();
    while drain_started.elapsed() < Duration::from_secs(120) {
        listed.clear();
        unfinished = accepted.clone();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{base}/v1/studies?limit=100");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let page: serde_json::Value = client.get(&url).bearer_auth(&token).send().await?.json().await?;
            for item in page["items"].as_array().context("items")? {
                let id = item["id"].as_str().unwrap_or_default().to_owned();
                if item["status"] == "succeeded" {
                    unfinished.remove(&id);
                }
                listed.insert(id);
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        if unfinished.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drained_in = drain_started.elapsed();
    let missing = accepted.difference(&listed).count();

    println!("studies load test against {base}");
    println!("  clients {concurrency}, requests {total} in {:.2} s: {:.0} req/s", load_time.as_secs_f64(), total as f64 / load_time.as_secs_f64());
    for (name, latencies) in [("submit", &samples.submit), ("read", &samples.read), ("list", &samples.list)] {
        let (p50, p99, max) = percentiles(latencies);
        println!("  {name:<6} n={:<5} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms", latencies.len(), p50, p99, max);
    }
    println!(
        "  studies accepted {}, finished {} ({} s after the load), not listed {missing}, lost {}",
        accepted.len(),
        accepted.len() - unfinished.len(),
        drained_in.as_secs(),
        unfinished.len().max(missing)
    );
    println!("  request errors {}", samples.errors.len());
    for error in samples.errors.iter().take(5) {
        println!("    {error}");
    }
    if !samples.errors.is_empty() || !unfinished.is_empty() || missing > 0 {
        bail!("load test failed");
    }
    Ok(())
}

/// p50, p99 and max in milliseconds (nearest rank).
fn percentiles(latencies: &[Duration]) -> (f64, f64, f64) {
    if latencies.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut ms: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let rank = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    (rank(0.50), rank(0.99), ms[ms.len() - 1])
}
