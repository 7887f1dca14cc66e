//! The resource-constrained project scheduling problem (RCPSP): start times
//! that respect the precedences and never use more of a renewable resource
//! than exists.
//!
//! The search is multi-pass regret-based biased random sampling (Kolisch)
//! over the LFT, LST, MTS and GRPW priority rules, each list decoded by the
//! serial schedule-generation scheme (SGS), and each schedule improved by
//! forward–backward improvement (double justification, Valls et al.): the
//! activities are rescheduled right-justified in order of decreasing finish
//! and then left-justified in order of increasing start, for as long as the
//! makespan shrinks. Every schedule the serial SGS builds is feasible by
//! construction, so any one of them may be returned. The search stops at the
//! schedule limit, the time budget, or a lower bound.
//!
//! Times are integer ticks: the serial SGS keeps a per-tick resource profile.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One instance: activities with integer durations, predecessors and
/// per-resource demands, and the resources' capacities.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub durations: Vec<u32>,
    pub preds: Vec<Vec<usize>>,
    /// One row per activity, one column per resource.
    pub demands: Vec<Vec<u32>>,
    pub capacities: Vec<u32>,
}

/// How long the search may run. It stops at whichever limit comes first;
/// a search that stops on `max_schedules` is deterministic for its seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Search {
    pub max_schedules: usize,
    pub budget: Duration,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub starts: Vec<u32>,
    pub makespan: u32,
    /// How many schedules the search generated.
    pub schedules: usize,
}

/// Why a problem cannot be scheduled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unschedulable {
    #[error("activity {0} needs more of a resource than exists")]
    OverCapacity(usize),
    #[error("the precedences have a cycle")]
    Cycle,
    #[error("the problem's vectors have different lengths")]
    Shape,
}

/// The best schedule found within `search`, calling `progress` with the
/// fraction of the schedule limit used.
pub fn solve(problem: &Problem, search: &Search, progress: &dyn Fn(f64)) -> Result<Schedule, Unschedulable> {
    let net = Network::new(problem)?;
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(search.seed);
    let mut sgs = Sgs::new(&net);
    let rules = [Rule::Lft, Rule::Lst, Rule::Mts, Rule::Grpw];
    let lower_bound = net.lower_bound();
    let mut best: Option<(Vec<u32>, u32)> = None;
    let mut schedules = 0;
    let mut pass = 0;
    let report_every = (search.max_schedules / 100).max(1);
    while schedules < search.max_schedules.max(1) {
        let rule = rules[pass % rules.len()];
        // The first pass of each rule is its deterministic list.
        let list = if pass < rules.len() { net.priority_list(rule, None) } else { net.priority_list(rule, Some(&mut rng)) };
        pass += 1;
        let (starts, makespan, used) = sgs.improve(&net, &list);
        let before = schedules;
        schedules += used;
        if best.as_ref().is_none_or(|(_, m)| makespan < *m) {
            best = Some((starts, makespan));
        }
        if before / report_every != schedules / report_every {
            progress((schedules as f64 / search.max_schedules as f64).min(1.0));
        }
        let best_makespan = best.as_ref().map_or(u32::MAX, |b| b.1);
        if best_makespan <= lower_bound || started.elapsed() >= search.budget {
            break;
        }
    }
    progress(1.0);
    // The loop runs at least once, and each pass yields a schedule.
    // guardian: ignore[rust-unwrap]
    let (starts, makespan) = best.expect("at least one pass runs");
    Ok(Schedule { starts, makespan, schedules })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Latest finish time, smallest first.
    Lft,
    /// Latest start time, smallest first.
    Lst,
    /// Most total successors first.
    Mts,
    /// Greatest rank positional weight (own and direct successors' durations) first.
    Grpw,
}

/// The problem with everything the search looks up often computed once.
struct Network {
    n: usize,
    k: usize,
    durations: Vec<u32>,
    preds: Vec<Vec<usize>>,
    succs: Vec<Vec<usize>>,
    /// The (resource, amount) pairs each activity needs, zero demands left out.
    needs: Vec<Vec<(usize, u32)>>,
    capacities: Vec<u32>,
    /// Position of each activity in a topological order.
    rank: Vec<usize>,
    /// Priority values per rule, smaller is better.
    values: [Vec<f64>; 4],
    cpm_makespan: u32,
}

impl Network {
    fn new(problem: &Problem) -> Result<Network, Unschedulable> {
        let n = problem.durations.len();
        let k = problem.capacities.len();
        if problem.preds.len() != n || problem.demands.len() != n || problem.demands.iter().any(|d| d.len() != k) {
            return Err(Unschedulable::Shape);
        }
        if problem.preds.iter().flatten().any(|&p| p >= n) {
            return Err(Unschedulable::Shape);
        }
        let mut needs = Vec::with_capacity(n);
        for (i, row) in problem.demands.iter().enumerate() {
            if row.iter().zip(&problem.capacities).any(|(d, c)| d > c) {
                return Err(Unschedulable::OverCapacity(i));
            }
            needs.push(row.iter().enumerate().filter(|&(_, &d)| d > 0).map(|(r, &d)| (r, d)).collect());
        }
        let mut succs = vec![Vec::new(); n];
        for (i, ps) in problem.preds.iter().enumerate() {
            for &p in ps {
                succs[p].push(i);
            }
        }
        let order = topological(&problem.preds, &succs).ok_or(Unschedulable::Cycle)?;
        let mut rank = vec![0; n];
        for (pos, &i) in order.iter().enumerate() {
            rank[i] = pos;
        }

        let d = &problem.durations;
        let mut ef = vec![0u32; n];
        for &i in &order {
            ef[i] = problem.preds[i].iter().map(|&p| ef[p]).max().unwrap_or(0) + d[i];
        }
        let cpm_makespan = ef.iter().copied().max().unwrap_or(0);
        let mut lf = vec![cpm_makespan; n];
        for &i in order.iter().rev() {
            lf[i] = succs[i].iter().map(|&s| lf[s] - d[s]).min().unwrap_or(cpm_makespan);
        }
        let lft: Vec<f64> = lf.iter().map(|&f| f as f64).collect();
        let lst: Vec<f64> = (0..n).map(|i| (lf[i] - d[i]) as f64).collect();
        let mts: Vec<f64> = total_successors(&order, &succs).into_iter().map(|c| -(c as f64)).collect();
        let grpw: Vec<f64> = (0..n).map(|i| -((d[i] + succs[i].iter().map(|&s| d[s]).sum::<u32>()) as f64)).collect();

        Ok(Network {
            n,
            k,
            durations: d.clone(),
            preds: problem.preds.clone(),
            succs,
            needs,
            capacities: problem.capacities.clone(),
            rank,
            values: [lft, lst, mts, grpw],
            cpm_makespan,
        })
    }

    /// The longer of the critical path and, per resource, its total work
    /// divided by its capacity (rounded up).
    fn lower_bound(&self) -> u32 {
        let mut bound = self.cpm_makespan;
        for r in 0..self.k {
            let work: u64 = (0..self.n)
                .map(|i| self.needs[i].iter().filter(|(q, _)| *q == r).map(|(_, a)| *a as u64 * self.durations[i] as u64).sum::<u64>())
                .sum();
            let cap = self.capacities[r] as u64;
            if cap > 0 {
                bound = bound.max(u32::try_from(work.div_ceil(cap)).unwrap_or(u32::MAX));
            }
        }
        bound
    }

    /// A precedence-feasible activity list: at each step an eligible activity
    /// (all predecessors listed) with the best priority, or, with `rng`, one
    /// drawn with probability proportional to its regret + 1 (how much worse
    /// the worst eligible activity is), squared.
    fn priority_list(&self, rule: Rule, mut rng: Option<&mut StdRng>) -> Vec<usize> {
        let values = &self.values[rule as usize];
        let mut missing: Vec<usize> = self.preds.iter().map(Vec::len).collect();
        let mut eligible: Vec<usize> = (0..self.n).filter(|&i| missing[i] == 0).collect();
        let mut list = Vec::with_capacity(self.n);
        let mut weights = Vec::with_capacity(self.n);
        while !eligible.is_empty() {
            let better = |a: usize, b: usize| values[a].total_cmp(&values[b]).then(self.rank[a].cmp(&self.rank[b]));
            let pick = match rng.as_deref_mut() {
                None => (0..eligible.len()).min_by(|&a, &b| better(eligible[a], eligible[b])).unwrap_or(0),
                Some(rng) => {
                    let worst = eligible.iter().map(|&i| values[i]).fold(f64::NEG_INFINITY, f64::max);
                    weights.clear();
                    weights.extend(eligible.iter().map(|&i| (worst - values[i] + 1.0).powi(2)));
                    let total: f64 = weights.iter().sum();
                    let mut draw = rng.random::<f64>() * total;
                    let mut pick = eligible.len() - 1;
                    for (pos, w) in weights.iter().enumerate() {
                        if draw < *w {
                            pick = pos;
                            break;
                        }
                        draw -= w;
                    }
                    pick
                }
            };
            let i = eligible.swap_remove(pick);
            list.push(i);
            for &s in &self.succs[i] {
                missing[s] -= 1;
                if missing[s] == 0 {
                    eligible.push(s);
                }
            }
        }
        list
    }
}

/// The serial SGS with its per-tick resource profile kept between runs.
struct Sgs {
    /// Resource use at tick t of resource r at `t * k + r`.
    usage: Vec<u32>,
    finish: Vec<u32>,
}

impl Sgs {
    fn new(net: &Network) -> Sgs {
        Sgs { usage: Vec::new(), finish: vec![0; net.n] }
    }

    /// Schedules `list` (precedence-feasible for `preds`) activity by activity,
    /// each at the earliest tick its predecessors and the resources allow.
    /// Returns the finish times and the makespan.
    fn run(&mut self, net: &Network, preds: &[Vec<usize>], list: &[usize]) -> (Vec<u32>, u32) {
        let k = net.k;
        let mut makespan = 0;
        for &j in list {
            let d = net.durations[j];
            let mut t = preds[j].iter().map(|&p| self.finish[p]).max().unwrap_or(0);
            let needs = &net.needs[j];
            if d > 0 && !needs.is_empty() {
                'search: loop {
                    let end = (t + d) as usize;
                    if self.usage.len() < end * k {
                        self.usage.resize(end * k, 0);
                    }
                    for tau in t as usize..end {
                        let row = &self.usage[tau * k..tau * k + k];
                        if needs.iter().any(|&(r, a)| a > net.capacities[r] - row[r]) {
                            t = tau as u32 + 1;
                            continue 'search;
                        }
                    }
                    break;
                }
                for tau in t as usize..(t + d) as usize {
                    for &(r, a) in needs {
                        self.usage[tau * k + r] += a;
                    }
                }
            }
            self.finish[j] = t + d;
            makespan = makespan.max(t + d);
        }
        let finish = self.finish.clone();
        let used = (makespan as usize * k).min(self.usage.len());
        self.usage[..used].fill(0);
        (finish, makespan)
    }

    /// A forward schedule of `list`, then backward and forward justification
    /// passes while they shorten it. Returns forward start times, the
    /// makespan and the number of schedules generated.
    fn improve(&mut self, net: &Network, list: &[usize]) -> (Vec<u32>, u32, usize) {
        let (finish, mut best) = self.run(net, &net.preds, list);
        let mut starts: Vec<u32> = (0..net.n).map(|i| finish[i] - net.durations[i]).collect();
        let mut used = 1;
        let mut forward_finish = finish;
        loop {
            // Right-justify: the reversed network, latest finish first.
            let order = by_finish_desc(&forward_finish, &net.rank, true);
            let (back_finish, back_makespan) = self.run(net, &net.succs, &order);
            // Left-justify again: earliest reversed-finish last.
            let order = by_finish_desc(&back_finish, &net.rank, false);
            let (finish, makespan) = self.run(net, &net.preds, &order);
            used += 2;
            if makespan.min(back_makespan) >= best {
                return (starts, best, used);
            }
            starts = if makespan <= back_makespan {
                (0..net.n).map(|i| finish[i] - net.durations[i]).collect()
            } else {
                // The mirrored backward schedule is itself feasible.
                back_finish.iter().map(|&f| back_makespan - f).collect()
            };
            best = makespan.min(back_makespan);
            forward_finish = finish;
        }
    }
}

/// Activities by decreasing finish; ties by topological rank, decreasing in
/// the direction the finishes were computed in, so that an activity never
/// precedes its (reversed-direction) predecessor even at zero duration.
fn by_finish_desc(finish: &[u32], rank: &[usize], forward: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..finish.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        let tie = if forward { rank[b].cmp(&rank[a]) } else { rank[a].cmp(&rank[b]) };
        finish[b].cmp(&finish[a]).then(tie)
    });
    order
}

fn topological(preds: &[Vec<usize>], succs: &[Vec<usize>]) -> Option<Vec<usize>> {
    let mut missing: Vec<usize> = preds.iter().map(Vec::len).collect();
    let mut ready: Vec<usize> = (0..preds.len()).rev().filter(|&i| missing[i] == 0).collect();
    let mut order = Vec::with_capacity(preds.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &s in &succs[i] {
            missing[s] -= 1;
            if missing[s] == 0 {
                ready.push(s);
            }
        }
    }
    (order.len() == preds.len()).then_some(order)
}

/// The number of transitive successors of each activity, by bit sets.
fn total_successors(order: &[usize], succs: &[Vec<usize>]) -> Vec<u32> {
    let n = succs.len();
    let words = n.div_ceil(64);
    let mut reach = vec![0u64; n * words];
    for &i in order.iter().rev() {
        for &s in &succs[i] {
            reach[i * words + s / 64] |= 1 << (s % 64);
            for w in 0..words {
                let bits = reach[s * words + w];
                reach[i * words + w] |= bits;
            }
        }
    }
    (0..n).map(|i| reach[i * words..(i + 1) * words].iter().map(|w| w.count_ones()).sum()).collect()
}
