//! Shared by the engine's tests: plan building and an independent
//! feasibility checker that knows only the plan, not the engine's internals.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use planner_engine::{Analysis, AnalysisOptions, Distribution, Estimate, Plan, PlanTask};

pub fn options() -> AnalysisOptions {
    AnalysisOptions {
        monte_carlo_samples: 2000,
        seed: 42,
        rcpsp_budget: Duration::from_secs(60),
        rcpsp_schedules: 300,
        distribution: Distribution::PertBeta,
    }
}

pub fn task(id: &str, duration: f64, role: &str, deps: &[&str]) -> PlanTask {
    PlanTask {
        id: id.into(),
        title: format!("task {id}"),
        role: role.into(),
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        estimate: Estimate::fixed(duration),
        resources: BTreeMap::new(),
        phase: None,
        complexity: None,
        acceptance_criteria: Vec::new(),
    }
}

pub fn plan(tasks: Vec<PlanTask>, roles: &[(&str, u32)]) -> Plan {
    Plan {
        tasks,
        roles: roles.iter().map(|(r, c)| (r.to_string(), *c)).collect(),
        resources: BTreeMap::new(),
        deadline: None,
    }
}

/// Panics with the reason when the schedule breaks a precedence, a
/// duration or a capacity. Resource use only changes at a start, so
/// checking the use just after every start checks every instant.
pub fn assert_feasible(plan: &Plan, analysis: &Analysis) {
    let slot: HashMap<&str, (f64, f64)> = analysis.schedule.iter().map(|s| (s.id.as_str(), (s.start, s.finish))).collect();
    assert_eq!(slot.len(), plan.tasks.len(), "every task is scheduled once");
    let eps = 1e-6;
    for task in &plan.tasks {
        let (start, finish) = slot[task.id.as_str()];
        assert!(start >= -eps, "{} starts before 0", task.id);
        assert!((finish - start - task.estimate.mean()).abs() < eps, "{} runs for its duration", task.id);
        for dep in &task.depends_on {
            assert!(start + eps >= slot[dep.as_str()].1, "{} starts at {start} before {dep} finishes", task.id);
        }
    }
    let mut capacity: BTreeMap<String, u32> = plan.resources.clone();
    for (role, c) in &plan.roles {
        capacity.insert(format!("role {role}"), *c);
    }
    let demand = |task: &PlanTask| {
        let mut d: BTreeMap<String, u32> = task.resources.clone();
        if !task.role.is_empty() {
            *d.entry(format!("role {}", task.role)).or_default() += 1;
        }
        d
    };
    for probe in &plan.tasks {
        let t = slot[probe.id.as_str()].0;
        let mut used: BTreeMap<String, u32> = BTreeMap::new();
        for task in &plan.tasks {
            let (s, f) = slot[task.id.as_str()];
            if s <= t + eps && t + eps < f {
                for (r, a) in demand(task) {
                    *used.entry(r).or_default() += a;
                }
            }
        }
        for (r, u) in used {
            let cap = capacity.get(&r).copied().unwrap_or(0);
            assert!(u <= cap, "at {t}, {u} of {r} are in use but only {cap} exist");
        }
    }
    let last = analysis.schedule.iter().map(|s| s.finish).fold(0.0, f64::max);
    assert!((last - analysis.makespan).abs() < eps, "the makespan is the last finish");
}
