//! Hand-checked CPM and PERT cases; the working is in the comments.

mod support;

use planner_engine::{Estimate, Limits, ThreePoint, analyse, validate};
use support::{assert_feasible, options, plan, task};

const LIMITS: Limits = Limits { max_tasks: 100, goal_plan: false };

#[test]
fn five_task_network() {
    // A(3) and B(2) start; C(4) needs A and B; D(1) needs B; E(2) needs C and D.
    // Forward:  A 0–3, B 0–2, C max(3,2)=3–7, D 2–3, E max(7,3)=7–9; makespan 9.
    // Backward: E 7–9; C lf 7, ls 3; D lf 7, ls 6; A lf 3, ls 0;
    //           B lf min(ls C 3, ls D 6) = 3, ls 1.
    // Total float ls−es: A 0, B 1, C 0, D 4, E 0.
    // Free float (earliest successor start − ef): A 3−3=0, B min(3,2)−2=0,
    // C 7−7=0, D 7−3=4, E 9−9=0. Critical path A, C, E.
    let p = plan(
        vec![
            task("A", 3.0, "", &[]),
            task("B", 2.0, "", &[]),
            task("C", 4.0, "", &["A", "B"]),
            task("D", 1.0, "", &["B"]),
            task("E", 2.0, "", &["C", "D"]),
        ],
        &[],
    );
    let a = analyse(&validate(&p, &LIMITS).unwrap(), &options());
    let rows: Vec<(f64, f64, f64, f64, f64, f64)> = ["A", "B", "C", "D", "E"]
        .iter()
        .map(|id| {
            let c = a.cpm[*id];
            (c.es, c.ef, c.ls, c.lf, c.total_float, c.free_float)
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (0.0, 3.0, 0.0, 3.0, 0.0, 0.0),
            (0.0, 2.0, 1.0, 3.0, 1.0, 0.0),
            (3.0, 7.0, 3.0, 7.0, 0.0, 0.0),
            (2.0, 3.0, 6.0, 7.0, 4.0, 4.0),
            (7.0, 9.0, 7.0, 9.0, 0.0, 0.0),
        ]
    );
    assert_eq!(a.cpm_makespan, 9.0);
    assert_eq!(a.critical_path, ["A", "C", "E"]);
    // No roles or resources: the schedule is the early-start schedule.
    assert_eq!(a.makespan, 9.0);
    assert_feasible(&p, &a);
}

#[test]
fn ties_go_to_the_task_earlier_in_the_plan() {
    // A(2) and B(2) both lead into C(1): two critical paths of length 3.
    let p = plan(vec![task("A", 2.0, "", &[]), task("B", 2.0, "", &[]), task("C", 1.0, "", &["A", "B"])], &[]);
    assert_eq!(analyse(&validate(&p, &LIMITS).unwrap(), &options()).critical_path, ["A", "C"]);
    let mut swapped = p.clone();
    swapped.tasks.swap(0, 1);
    assert_eq!(analyse(&validate(&swapped, &LIMITS).unwrap(), &options()).critical_path, ["B", "C"]);
}

#[test]
fn pert_along_the_critical_path() {
    // X (2, 4, 6): mean (2 + 16 + 6)/6 = 4, variance (4/6)² = 0.4444.
    // Y (3, 5, 13) after X: mean (3 + 20 + 13)/6 = 6, variance (10/6)² = 2.7778.
    // Z (1, 2, 3) alone: mean 2, off the critical path.
    // Critical path X, Y: mean 10, variance 3.2222, σ = 1.79505.
    // Deadline 12: z = 2/1.79505 = 1.11417, Φ(z) = 0.867397.
    let three = |o, m, p| Estimate::ThreePoint { estimate: ThreePoint { optimistic: o, most_likely: m, pessimistic: p } };
    let mut x = task("X", 0.0, "", &[]);
    x.estimate = three(2.0, 4.0, 6.0);
    let mut y = task("Y", 0.0, "", &["X"]);
    y.estimate = three(3.0, 5.0, 13.0);
    let mut z = task("Z", 0.0, "", &[]);
    z.estimate = three(1.0, 2.0, 3.0);
    let mut p = plan(vec![x, y, z], &[]);
    p.deadline = Some(12.0);
    let a = analyse(&validate(&p, &LIMITS).unwrap(), &options());
    assert_eq!(a.critical_path, ["X", "Y"]);
    assert!((a.pert.mean - 10.0).abs() < 1e-12);
    assert!((a.pert.std_dev - 1.795_055).abs() < 1e-6, "{}", a.pert.std_dev);
    let p_normal = a.pert.probability_by_deadline.unwrap();
    assert!((p_normal - 0.867_397).abs() < 1e-5, "{p_normal}");
    // Z can never overtake X→Y (3 < 2 + 3), so Monte Carlo estimates the same
    // P(X + Y ≤ 12) with beta draws instead of a normal: 2000 draws give a
    // standard error of about 0.008, and the two shapes differ a little.
    let p_mc = a.pert.monte_carlo_probability.unwrap();
    assert!((p_mc - p_normal).abs() < 0.05, "{p_mc} vs {p_normal}");
    let (p50, p90) = (a.pert.monte_carlo_p50.unwrap(), a.pert.monte_carlo_p90.unwrap());
    assert!((5.0..=19.0).contains(&p50) && p50 <= p90 && p90 <= 19.0, "{p50} {p90}");
}

#[test]
fn near_critical_paths_lower_the_monte_carlo_odds() {
    // Two independent tasks, each (10, 10, 30): mean (10 + 40 + 30)/6 =
    // 13.33, σ = 20/6. The normal approximation looks at one critical path:
    // P(T ≤ 13.33) = 0.5. PERT-beta draws are 10 + 20·Beta(1, 5) (α = 1 +
    // 4·0/20, β = 1 + 4·20/20), and P(Beta(1, 5) ≤ 1/6) = 1 − (5/6)⁵ =
    // 0.59812. The project ends when both are done: 0.59812² = 0.35775,
    // which Monte Carlo sees and the analytic figure does not. 2000 draws
    // give a standard error of 0.0107; 0.04 is more than 3.5 of them.
    let three = Estimate::ThreePoint { estimate: ThreePoint { optimistic: 10.0, most_likely: 10.0, pessimistic: 30.0 } };
    let mut a = task("a", 0.0, "", &[]);
    a.estimate = three;
    let mut b = task("b", 0.0, "", &[]);
    b.estimate = three;
    let mut p = plan(vec![a, b], &[]);
    p.deadline = Some(80.0 / 6.0);
    let result = analyse(&validate(&p, &LIMITS).unwrap(), &options());
    assert!((result.pert.probability_by_deadline.unwrap() - 0.5).abs() < 1e-6);
    let mc = result.pert.monte_carlo_probability.unwrap();
    assert!((mc - 0.357_75).abs() < 0.04, "{mc}");
}

#[test]
fn one_worker_serialises_the_work() {
    // Three independent 10-minute backend tasks: CPM says 10; one backend
    // engineer needs 30, two need 20.
    let tasks = vec![task("a", 10.0, "backend", &[]), task("b", 10.0, "backend", &[]), task("c", 10.0, "backend", &[])];
    for (workers, makespan) in [(1, 30.0), (2, 20.0), (3, 10.0)] {
        let p = plan(tasks.clone(), &[("backend", workers)]);
        let a = analyse(&validate(&p, &LIMITS).unwrap(), &options());
        assert_eq!(a.cpm_makespan, 10.0);
        assert_eq!(a.makespan, makespan, "{workers} workers");
        assert_feasible(&p, &a);
    }
}

#[test]
fn fractional_pert_means_are_scheduled_exactly() {
    // (1, 2, 4) has mean 13/6 minutes; two of them on one worker end at 26/6.
    let three = Estimate::ThreePoint { estimate: ThreePoint { optimistic: 1.0, most_likely: 2.0, pessimistic: 4.0 } };
    let mut a = task("a", 0.0, "ops", &[]);
    a.estimate = three;
    let mut b = task("b", 0.0, "ops", &[]);
    b.estimate = three;
    let p = plan(vec![a, b], &[("ops", 1)]);
    let result = analyse(&validate(&p, &LIMITS).unwrap(), &options());
    assert!((result.makespan - 26.0 / 6.0).abs() < 1e-9, "{}", result.makespan);
    assert_feasible(&p, &result);
}
