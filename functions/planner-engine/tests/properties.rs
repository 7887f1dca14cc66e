//! Properties on random DAGs from a small seeded generator: the CPM
//! makespan is the longest path (found by enumerating every path), every
//! resource-constrained schedule is feasible (checked by `support`, which
//! knows only the plan) and never shorter than the CPM bound, and with
//! unlimited capacity the schedule is the CPM early-start schedule.

mod support;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use planner_engine::{Limits, Plan, analyse, validate};
use support::{assert_feasible, options, plan, task};

const LIMITS: Limits = Limits { max_tasks: 1000, goal_plan: false };

/// A random DAG: edges only from lower to higher generation index, then the
/// tasks shuffled so that plan order is not a topological order. Roles and
/// extra resources with random capacities and demands.
fn random_plan(rng: &mut StdRng, n: usize) -> Plan {
    let density = rng.random_range(0.05..0.5);
    let roles = [("backend", rng.random_range(1..4)), ("frontend", rng.random_range(1..3))];
    let mut tasks: Vec<_> = (0..n)
        .map(|j| {
            let deps: Vec<String> = (0..j).filter(|_| rng.random_bool(density)).map(|i| format!("t{i}")).collect();
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            let role = ["backend", "frontend", ""][rng.random_range(0..3)];
            let mut t = task(&format!("t{j}"), rng.random_range(1..20) as f64, role, &deps);
            if rng.random_bool(0.5) {
                t.resources.insert("gpu".into(), rng.random_range(1..=3));
            }
            t
        })
        .collect();
    tasks.shuffle(rng);
    let mut p = plan(tasks, &roles);
    p.resources.insert("gpu".into(), 3);
    p
}

/// The longest path by depth-first enumeration of every path from every
/// task, following "is depended on by" edges: exponential, so only for
/// small plans, but it shares nothing with the engine's passes.
fn longest_path(p: &Plan) -> f64 {
    fn walk(p: &Plan, id: &str) -> f64 {
        let task = p.tasks.iter().find(|t| t.id == id).unwrap();
        let next = p.tasks.iter().filter(|t| t.depends_on.iter().any(|d| d == id));
        task.estimate.mean() + next.map(|t| walk(p, &t.id)).fold(0.0, f64::max)
    }
    p.tasks.iter().map(|t| walk(p, &t.id)).fold(0.0, f64::max)
}

#[test]
fn cpm_makespan_is_the_longest_path() {
    let mut rng = StdRng::seed_from_u64(1);
    for case in 0..200 {
        let n = rng.random_range(1..13);
        let p = random_plan(&mut rng, n);
        let a = analyse(&validate(&p, &LIMITS).unwrap(), &options());
        assert_eq!(a.cpm_makespan, longest_path(&p), "case {case}");
        // The critical path is a chain of dependencies as long as the project.
        let length: f64 = a.critical_path.iter().map(|id| p.tasks.iter().find(|t| &t.id == id).unwrap().estimate.mean()).sum();
        assert_eq!(length, a.cpm_makespan, "case {case}");
        for pair in a.critical_path.windows(2) {
            let next = p.tasks.iter().find(|t| t.id == pair[1]).unwrap();
            assert!(next.depends_on.contains(&pair[0]), "case {case}: {pair:?} is not an edge");
        }
        for (id, c) in &a.cpm {
            assert!(c.total_float >= 0.0 && c.free_float >= 0.0 && c.free_float <= c.total_float, "case {case} {id}");
            assert_eq!(c.ef - c.es, c.lf - c.ls, "case {case} {id}");
        }
    }
}

#[test]
fn every_schedule_is_feasible_and_no_shorter_than_cpm() {
    let mut rng = StdRng::seed_from_u64(2);
    for case in 0..150 {
        let n = rng.random_range(1..60);
        let p = random_plan(&mut rng, n);
        let a = analyse(&validate(&p, &LIMITS).unwrap(), &options());
        assert_feasible(&p, &a);
        assert!(a.makespan >= a.cpm_makespan, "case {case}: {} < {}", a.makespan, a.cpm_makespan);
    }
}

#[test]
fn with_unlimited_capacity_the_schedule_is_cpm() {
    let mut rng = StdRng::seed_from_u64(3);
    for case in 0..150 {
        let n = rng.random_range(1..60);
        let mut p = random_plan(&mut rng, n);
        let n = p.tasks.len() as u32;
        for capacity in p.roles.values_mut() {
            *capacity = n;
        }
        p.resources.insert("gpu".into(), 3 * n);
        let a = analyse(&validate(&p, &LIMITS).unwrap(), &options());
        assert_eq!(a.makespan, a.cpm_makespan, "case {case}");
        for slot in &a.schedule {
            assert_eq!(slot.start, a.cpm[&slot.id].es, "case {case} {}", slot.id);
        }
        assert_feasible(&p, &a);
    }
}

#[test]
fn the_same_plan_gives_the_same_analysis() {
    let mut rng = StdRng::seed_from_u64(4);
    let p = random_plan(&mut rng, 40);
    let valid = validate(&p, &LIMITS).unwrap();
    assert_eq!(analyse(&valid, &options()), analyse(&valid, &options()));
}

#[test]
fn durations_that_are_not_whole_ticks_still_give_feasible_schedules() {
    // 1.2345 minutes is no whole number of 1, 6 or 60 ticks a minute, and ten
    // million-minute tasks would make the per-tick profile too long: both are
    // rounded up to coarser ticks, which may lengthen the schedule but never
    // make it infeasible.
    let mut rng = StdRng::seed_from_u64(5);
    for scale in [1.2345, 1e7] {
        for case in 0..20 {
            let n = rng.random_range(1..30);
            let mut p = random_plan(&mut rng, n);
            for t in &mut p.tasks {
                t.estimate = planner_engine::Estimate::fixed(t.estimate.mean() * scale);
            }
            // Few schedules: this is about rounding, not search quality.
            let mut few = options();
            few.rcpsp_schedules = 10;
            let a = analyse(&validate(&p, &LIMITS).unwrap(), &few);
            assert_feasible(&p, &a);
            assert!(a.makespan >= a.cpm_makespan * (1.0 - 1e-12), "scale {scale} case {case}");
        }
    }
}
