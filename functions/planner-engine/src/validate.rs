//! Validation: every problem of a plan in one pass, and, when there is none,
//! the plan with its graph built once for the analyses.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;

use crate::model::{Estimate, Limits, Plan, PlanError, PlanErrorKind};

/// A plan that passed [`validate`]: ids unique, dependencies known and
/// acyclic, durations in range, demands within capacity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidPlan {
    plan: Plan,
    #[serde(skip)]
    preds: Vec<Vec<usize>>,
    #[serde(skip)]
    succs: Vec<Vec<usize>>,
    /// A topological order; among ready tasks, plan order first.
    #[serde(skip)]
    order: Vec<usize>,
}

impl ValidPlan {
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn into_plan(self) -> Plan {
        self.plan
    }

    pub fn len(&self) -> usize {
        self.plan.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.plan.tasks.is_empty()
    }

    /// Indices of the tasks task `i` depends on.
    pub fn preds(&self, i: usize) -> &[usize] {
        &self.preds[i]
    }

    /// Indices of the tasks that depend on task `i`.
    pub fn succs(&self, i: usize) -> &[usize] {
        &self.succs[i]
    }

    pub fn topological_order(&self) -> &[usize] {
        &self.order
    }

    /// PERT mean durations, in plan order.
    pub fn durations(&self) -> Vec<f64> {
        self.plan.tasks.iter().map(|t| t.estimate.mean()).collect()
    }

    /// The renewable resources as (name, capacity), roles first, and each
    /// task's demand of them, in the same order.
    pub fn demands(&self) -> (Vec<(String, u32)>, Vec<Vec<u32>>) {
        let mut names: Vec<(String, u32)> = self.plan.roles.iter().map(|(r, c)| (format!("role:{r}"), *c)).collect();
        names.extend(self.plan.resources.iter().map(|(r, c)| (r.clone(), *c)));
        let role_index: BTreeMap<&str, usize> = self.plan.roles.keys().enumerate().map(|(i, r)| (r.as_str(), i)).collect();
        let offset = self.plan.roles.len();
        let resource_index: BTreeMap<&str, usize> =
            self.plan.resources.keys().enumerate().map(|(i, r)| (r.as_str(), offset + i)).collect();
        let demands = self
            .plan
            .tasks
            .iter()
            .map(|task| {
                let mut row = vec![0; names.len()];
                if let Some(&k) = role_index.get(task.role.as_str()) {
                    row[k] += 1;
                }
                for (name, amount) in &task.resources {
                    if let Some(&k) = resource_index.get(name.as_str()) {
                        row[k] += amount;
                    }
                }
                row
            })
            .collect();
        (names, demands)
    }
}

/// Checks everything and reports every problem found, not just the first.
pub fn validate(plan: &Plan, limits: &Limits) -> Result<ValidPlan, Vec<PlanError>> {
    let mut errors = Vec::new();
    let tasks = &plan.tasks;
    if tasks.is_empty() {
        errors.push(PlanError::new("tasks", PlanErrorKind::Empty));
    }
    if tasks.len() > limits.max_tasks {
        // The rest is still checked: a user fixing a long plan wants all of it.
        errors.push(PlanError::new("tasks", PlanErrorKind::TooManyTasks { count: tasks.len(), max: limits.max_tasks }));
    }

    let mut index: HashMap<&str, usize> = HashMap::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        if task.id.is_empty() {
            errors.push(PlanError::new(format!("tasks[{i}].id"), PlanErrorKind::EmptyId));
            continue;
        }
        if let Some(&first) = index.get(task.id.as_str()) {
            errors.push(PlanError::new(
                format!("tasks[{i}].id"),
                PlanErrorKind::DuplicateId { id: task.id.clone(), first },
            ));
        } else {
            index.insert(&task.id, i);
        }
    }

    let mut preds = vec![Vec::new(); tasks.len()];
    let mut succs = vec![Vec::new(); tasks.len()];
    for (i, task) in tasks.iter().enumerate() {
        for (k, dep) in task.depends_on.iter().enumerate() {
            let path = format!("tasks[{i}].depends_on[{k}]");
            match index.get(dep.as_str()) {
                None => errors.push(PlanError::new(
                    path,
                    PlanErrorKind::UnknownDependency { id: task.id.clone(), dependency: dep.clone() },
                )),
                Some(&j) if j == i => errors.push(PlanError::new(path, PlanErrorKind::SelfLoop { id: task.id.clone() })),
                // A dependency listed twice is one edge.
                Some(&j) if preds[i].contains(&j) => {}
                Some(&j) => {
                    preds[i].push(j);
                    succs[j].push(i);
                }
            }
        }
        check_estimate(i, &task.id, &task.estimate, limits, &mut errors);
        check_demands(i, plan, &mut errors);
    }

    let order = topological(&preds, &succs);
    if order.len() < tasks.len() {
        for cycle in cycles(&preds, &order) {
            let names = cycle.iter().map(|&j| tasks[j].id.clone()).collect();
            errors.push(PlanError::new(format!("tasks[{}].depends_on", cycle[0]), PlanErrorKind::Cycle { cycle: names }));
        }
    }

    if errors.is_empty() { Ok(ValidPlan { plan: plan.clone(), preds, succs, order }) } else { Err(errors) }
}

fn check_estimate(i: usize, id: &str, estimate: &Estimate, limits: &Limits, errors: &mut Vec<PlanError>) {
    let (o, m, p) = estimate.points();
    let points: Vec<(String, f64)> = match estimate {
        Estimate::Duration { duration } => vec![(format!("tasks[{i}].duration"), *duration)],
        Estimate::ThreePoint { .. } => vec![
            (format!("tasks[{i}].estimate.optimistic"), o),
            (format!("tasks[{i}].estimate.most_likely"), m),
            (format!("tasks[{i}].estimate.pessimistic"), p),
        ],
    };
    let mut in_range = true;
    for (path, value) in points {
        let kind = if limits.goal_plan && !(1.0..=480.0).contains(&value) {
            Some(PlanErrorKind::DurationOutOfRange { id: id.to_string(), value, min: 1.0, max: 480.0 })
        } else if !(value > 0.0 && value.is_finite()) {
            // `!(x > 0)` also catches NaN.
            Some(PlanErrorKind::NonPositiveDuration { id: id.to_string(), value })
        } else {
            None
        };
        if let Some(kind) = kind {
            in_range = false;
            errors.push(PlanError::new(path, kind));
        }
    }
    if in_range && !(o <= m && m <= p) {
        errors.push(PlanError::new(format!("tasks[{i}].estimate"), PlanErrorKind::UnorderedEstimate { id: id.to_string() }));
    }
}

fn check_demands(i: usize, plan: &Plan, errors: &mut Vec<PlanError>) {
    let task = &plan.tasks[i];
    if !task.role.is_empty() {
        match plan.roles.get(&task.role) {
            None => errors.push(PlanError::new(
                format!("tasks[{i}].role"),
                PlanErrorKind::UnknownRole { id: task.id.clone(), role: task.role.clone() },
            )),
            Some(&0) => errors.push(PlanError::new(
                format!("tasks[{i}].role"),
                PlanErrorKind::OverCapacity { id: task.id.clone(), resource: task.role.clone(), demand: 1, capacity: 0 },
            )),
            Some(_) => {}
        }
    }
    for (name, &demand) in &task.resources {
        let path = format!("tasks[{i}].resources.{name}");
        match plan.resources.get(name) {
            None => errors.push(PlanError::new(
                path,
                PlanErrorKind::UnknownResource { id: task.id.clone(), resource: name.clone() },
            )),
            Some(&capacity) if demand > capacity => errors.push(PlanError::new(
                path,
                PlanErrorKind::OverCapacity { id: task.id.clone(), resource: name.clone(), demand, capacity },
            )),
            Some(_) => {}
        }
    }
}

/// Kahn's algorithm, taking ready tasks in plan order; shorter than the plan
/// when there is a cycle.
fn topological(preds: &[Vec<usize>], succs: &[Vec<usize>]) -> Vec<usize> {
    let mut missing: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut ready: VecDeque<usize> = (0..preds.len()).filter(|&i| missing[i] == 0).collect();
    let mut order = Vec::with_capacity(preds.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &j in &succs[i] {
            missing[j] -= 1;
            if missing[j] == 0 {
                ready.push_back(j);
            }
        }
    }
    order
}

/// Cycles among the tasks Kahn's algorithm could not order. Each such task
/// has a predecessor that is also unordered, so walking predecessors from it
/// must come back to a task already on the walk: that loop is a cycle. Each
/// cycle is listed once, starting from its task earliest in the plan, each
/// task depending on the next.
fn cycles(preds: &[Vec<usize>], ordered: &[usize]) -> Vec<Vec<usize>> {
    let n = preds.len();
    let mut done = vec![false; n];
    for &i in ordered {
        done[i] = true;
    }
    let mut found = Vec::new();
    for start in 0..n {
        if done[start] {
            continue;
        }
        let mut walk = Vec::new();
        let mut position: HashMap<usize, usize> = HashMap::new();
        let mut at = start;
        loop {
            if let Some(&p) = position.get(&at) {
                let mut cycle = walk[p..].to_vec();
                let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                cycle.rotate_left(first);
                found.push(cycle);
                break;
            }
            if done[at] {
                break;
            }
            position.insert(at, walk.len());
            walk.push(at);
            match preds[at].iter().copied().find(|&j| !done[j]) {
                Some(next) => at = next,
                None => break,
            }
        }
        for &i in &walk {
            done[i] = true;
        }
    }
    found
}
