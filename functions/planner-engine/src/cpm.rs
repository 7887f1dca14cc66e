//! The critical path method on the precedence network alone: earliest and
//! latest start and finish, floats and the critical path.

use crate::validate::ValidPlan;

/// Times per task, in plan order, and the project's length.
#[derive(Debug, Clone, PartialEq)]
pub struct Times {
    pub es: Vec<f64>,
    pub ef: Vec<f64>,
    pub ls: Vec<f64>,
    pub lf: Vec<f64>,
    pub makespan: f64,
}

impl Times {
    pub fn total_float(&self, i: usize) -> f64 {
        self.ls[i] - self.es[i]
    }

    /// How far task `i` can slip without delaying any successor's earliest
    /// start (or, with no successor, the project).
    pub fn free_float(&self, plan: &ValidPlan, i: usize) -> f64 {
        let next = plan.succs(i).iter().map(|&j| self.es[j]).fold(self.makespan, f64::min);
        next - self.ef[i]
    }

    /// A tolerance for "zero float" that survives summing fractional means.
    fn epsilon(&self) -> f64 {
        1e-9 * self.makespan.max(1.0)
    }

    pub fn is_critical(&self, i: usize) -> bool {
        self.total_float(i).abs() <= self.epsilon()
    }
}

/// The earliest finish of every task and the makespan: the forward pass only,
/// which is all Monte Carlo needs.
pub fn earliest(plan: &ValidPlan, durations: &[f64]) -> (Vec<f64>, f64) {
    let mut ef = vec![0.0; plan.len()];
    let mut makespan: f64 = 0.0;
    for &i in plan.topological_order() {
        let es = plan.preds(i).iter().map(|&j| ef[j]).fold(0.0, f64::max);
        ef[i] = es + durations[i];
        makespan = makespan.max(ef[i]);
    }
    (ef, makespan)
}

pub fn times(plan: &ValidPlan, durations: &[f64]) -> Times {
    let (ef, makespan) = earliest(plan, durations);
    let es: Vec<f64> = ef.iter().zip(durations).map(|(f, d)| f - d).collect();
    let mut lf = vec![makespan; plan.len()];
    for &i in plan.topological_order().iter().rev() {
        lf[i] = plan.succs(i).iter().map(|&j| lf[j] - durations[j]).fold(makespan, f64::min);
    }
    let ls = lf.iter().zip(durations).map(|(f, d)| f - d).collect();
    Times { es, ef, ls, lf, makespan }
}

/// The critical path as task indices in order: from the zero-float task that
/// starts at 0 earliest in the plan, each step to the zero-float successor
/// that starts when it finishes, again earliest in the plan. Such a
/// successor always exists until the project's end (a zero-float task's
/// latest finish is some successor's latest start).
pub fn critical_path(plan: &ValidPlan, times: &Times) -> Vec<usize> {
    let eps = times.epsilon();
    let Some(mut at) = (0..plan.len()).find(|&i| times.is_critical(i) && times.es[i].abs() <= eps) else {
        return Vec::new();
    };
    let mut path = vec![at];
    while let Some(next) = plan
        .succs(at)
        .iter()
        .copied()
        .filter(|&j| times.is_critical(j) && (times.es[j] - times.ef[at]).abs() <= eps)
        .min()
    {
        path.push(next);
        at = next;
    }
    path
}
