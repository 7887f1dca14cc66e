//! PSPLIB `.sm` files (single-mode RCPSP instances) as plans.
//!
//! The sections used are PRECEDENCE RELATIONS (job, modes, successors),
//! REQUESTS/DURATIONS (job, mode, duration, one demand per renewable
//! resource) and RESOURCEAVAILABILITIES. Jobs become tasks with ids "1".."N"
//! and no role; resources are "R1".."RK". The zero-duration dummy source and
//! sink carry no work and are left out, which changes no makespan.

use std::collections::BTreeMap;

use crate::model::{Estimate, Plan, PlanError, PlanErrorKind, PlanTask};

pub fn parse_psplib(text: &str) -> Result<Plan, Vec<PlanError>> {
    let lines: Vec<&str> = text.lines().collect();
    let precedence = section(&lines, "PRECEDENCE RELATIONS:")?;
    let requests = section(&lines, "REQUESTS/DURATIONS:")?;
    let availability = section(&lines, "RESOURCEAVAILABILITIES:")?;

    let mut successors: BTreeMap<u64, (usize, Vec<u64>)> = BTreeMap::new();
    // The title, then a header line.
    for &(line, row) in precedence.iter().skip(2) {
        let numbers = numbers(line, row)?;
        if numbers.len() < 3 || numbers.len() != 3 + numbers[2] as usize {
            return Err(error(line, "a precedence row is: job, modes, count of successors, successors"));
        }
        if numbers[1] != 1 {
            return Err(error(line, "only single-mode instances (.sm) are supported"));
        }
        successors.insert(numbers[0], (line, numbers[3..].to_vec()));
    }

    let capacities = match availability.get(2) {
        Some(&(line, row)) => numbers(line, row)?,
        None => return Err(error(availability[0].0, "RESOURCEAVAILABILITIES has no capacities")),
    };
    let resources: BTreeMap<String, u32> =
        capacities.iter().enumerate().map(|(k, &c)| (format!("R{}", k + 1), clamp(c))).collect();

    let mut jobs = Vec::new();
    // The title, a header line, then a line of dashes.
    for &(line, row) in requests.iter().skip(3) {
        let numbers = numbers(line, row)?;
        if numbers.len() != 3 + capacities.len() {
            return Err(error(line, "a request row is: job, mode, duration, one demand per resource"));
        }
        jobs.push((line, numbers[0], numbers[2], numbers[3..].to_vec()));
    }
    if jobs.len() != successors.len() {
        return Err(error(requests[0].0, "REQUESTS/DURATIONS and PRECEDENCE RELATIONS list different jobs"));
    }

    let dummy = |duration: u64, demand: &[u64]| duration == 0 && demand.iter().all(|&d| d == 0);
    let first = jobs.first().map(|j| j.1);
    let last = jobs.last().map(|j| j.1);
    let dropped: Vec<u64> = jobs
        .iter()
        .filter(|(_, job, duration, demand)| (Some(*job) == first || Some(*job) == last) && dummy(*duration, demand))
        .map(|j| j.1)
        .collect();

    let mut depends_on: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for (job, (line, succ)) in &successors {
        for s in succ {
            if !successors.contains_key(s) {
                return Err(error(*line, &format!("job {job} has an unknown successor {s}")));
            }
            if !dropped.contains(job) && !dropped.contains(s) {
                depends_on.entry(*s).or_default().push(job.to_string());
            }
        }
    }

    let tasks = jobs
        .into_iter()
        .filter(|(_, job, ..)| !dropped.contains(job))
        .map(|(_, job, duration, demand)| PlanTask {
            id: job.to_string(),
            title: format!("job {job}"),
            role: String::new(),
            depends_on: depends_on.remove(&job).unwrap_or_default(),
            estimate: Estimate::fixed(duration as f64),
            resources: demand
                .iter()
                .enumerate()
                .filter(|&(_, &d)| d > 0)
                .map(|(k, &d)| (format!("R{}", k + 1), clamp(d)))
                .collect(),
            phase: None,
            complexity: None,
            acceptance_criteria: Vec::new(),
        })
        .collect();
    Ok(Plan { tasks, roles: BTreeMap::new(), resources, deadline: None })
}

/// The non-blank lines (with their 1-based numbers) from a section's title up
/// to the next line of asterisks.
fn section<'a>(lines: &[&'a str], title: &str) -> Result<Vec<(usize, &'a str)>, Vec<PlanError>> {
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with(title))
        .ok_or_else(|| vec![PlanError::new("", PlanErrorKind::Syntax { message: format!("no `{title}` section") })])?;
    let mut rows = vec![(start + 1, lines[start])];
    rows.extend(
        lines[start + 1..]
            .iter()
            .enumerate()
            .take_while(|(_, l)| !l.starts_with('*'))
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(k, l)| (start + k + 2, *l)),
    );
    Ok(rows)
}

fn numbers(line: usize, row: &str) -> Result<Vec<u64>, Vec<PlanError>> {
    row.split_whitespace()
        .map(|word| word.parse::<u64>().map_err(|_| error(line, &format!("`{word}` is not a non-negative integer"))))
        .collect()
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn error(line: usize, message: &str) -> Vec<PlanError> {
    vec![PlanError { path: String::new(), line: Some(line), kind: PlanErrorKind::Syntax { message: message.to_string() } }]
}
