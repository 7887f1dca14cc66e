//! The RCPSP scheduler against PSPLIB: every j30 and j60 instance, the
//! deviation of the makespan found from the optimum (j30) or best-known
//! makespan (j60), and the time per instance.
//!
//! `cargo bench -p planner-engine --bench psplib`. Options through the
//! environment: `PSPLIB_DIR` (default `../shared/reference/psplib` from the
//! repository), `PSPLIB_SCHEDULES` (schedules per instance, default 5000),
//! `PSPLIB_BUDGET_MS` (time cap per instance, default 45: the clock is read between sampling passes, so a little margin keeps the whole instance, parsing included, within 50 ms), `PSPLIB_SETS`
//! (default `j30,j60`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use planner_engine::analysis::problem;
use planner_engine::rcpsp::{Search, solve};
use planner_engine::{Limits, parse_psplib, validate};

fn main() {
    let dir = std::env::var("PSPLIB_DIR").map(PathBuf::from).unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/psplib")
    });
    let number = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let schedules = number("PSPLIB_SCHEDULES", 5000) as usize;
    let budget = Duration::from_millis(number("PSPLIB_BUDGET_MS", 45));
    let sets = std::env::var("PSPLIB_SETS").unwrap_or_else(|_| "j30,j60".into());

    // Other work on the machine stretches wall times; the load says how much.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    println!("machine: {} cores, {}, load average {load}", cores(), cpu_model());
    println!("search: up to {schedules} schedules or {} ms per instance, one thread", budget.as_millis());
    for set in sets.split(',') {
        run_set(&dir.join(set), set, schedules, budget);
    }
}

fn run_set(dir: &Path, set: &str, schedules: usize, budget: Duration) {
    let reference = references(dir);
    let mut deviations = Vec::new();
    let mut millis = Vec::new();
    let mut at_reference = 0;
    let mut worst = (f64::NEG_INFINITY, String::new());
    let mut open = 0;
    for (name, &(lower, best)) in &reference {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let started = Instant::now();
        let plan = parse_psplib(&text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let plan = validate(&plan, &Limits { max_tasks: 10_000, goal_plan: false }).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let (problem, _) = problem(&plan);
        let found = solve(&problem, &Search { max_schedules: schedules, budget, seed: 1 }, &|_| {}).expect("schedulable");
        millis.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(found.makespan >= lower, "{name}: {} is below the lower bound {lower}", found.makespan);
        if lower < best {
            open += 1;
        }
        let deviation = 100.0 * (found.makespan as f64 - best as f64) / best as f64;
        if found.makespan <= best {
            at_reference += 1;
        }
        if deviation > worst.0 {
            worst = (deviation, name.clone());
        }
        deviations.push(deviation);
    }
    let n = deviations.len();
    let mean = deviations.iter().sum::<f64>() / n as f64;
    let mean_ms = millis.iter().sum::<f64>() / n as f64;
    millis.sort_by(f64::total_cmp);
    let p99 = millis[((0.99 * n as f64).ceil() as usize).clamp(1, n) - 1];
    println!(
        "{set}: {n} instances ({open} open, against the best known), deviation mean {mean:.2} % max {:.2} % ({}), at reference {at_reference}/{n}, time mean {mean_ms:.1} ms p99 {p99:.1} ms max {:.1} ms",
        worst.0,
        worst.1,
        millis[n - 1]
    );
}

/// `problem,optimum` rows from the set's `optimum.csv` or `best_known.csv`,
/// as (lower bound, optimum or best-known makespan).
fn references(dir: &Path) -> BTreeMap<String, (u32, u32)> {
    let file = ["optimum.csv", "best_known.csv"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no optimum.csv or best_known.csv in {}", dir.display()));
    let text = std::fs::read_to_string(&file).expect("readable reference file");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let (name, value) = line.split_once(',')?;
            // j60's open instances read `lower..best`, or `..best` with no
            // published lower bound.
            let (lower, best) = value.trim().split_once("..").unwrap_or((value.trim(), value.trim()));
            let lower = if lower.is_empty() { 0 } else { lower.parse().ok()? };
            Some((name.trim().to_string(), (lower, best.parse().ok()?)))
        })
        .collect()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
