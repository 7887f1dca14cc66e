//! Real PSPLIB instances (copied from the j30 and j60 sets with their
//! optima, best-known makespans and lower bounds): parsed, scheduled
//! feasibly, and never below the known optimum or lower bound.

mod support;

use planner_engine::{Limits, PlanErrorKind, analyse, parse_psplib, validate};
use support::{assert_feasible, options};

const LIMITS: Limits = Limits { max_tasks: 1000, goal_plan: false };

/// (file, lower bound, optimum or best known) from `optimum.csv` and
/// `best_known.csv`; j609_1 is open: 82..87.
const INSTANCES: &[(&str, f64, f64)] = &[
    ("j301_1.sm", 43.0, 43.0),
    ("j3013_4.sm", 72.0, 72.0),
    ("j3025_6.sm", 58.0, 58.0),
    ("j3037_2.sm", 69.0, 69.0),
    ("j3048_10.sm", 54.0, 54.0),
    ("j609_1.sm", 82.0, 87.0),
];

fn read(name: &str) -> String {
    let path = format!("{}/tests/fixtures/psplib/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn j301_1_is_read_as_published() {
    let plan = parse_psplib(&read("j301_1.sm")).unwrap();
    // 32 jobs less the dummy source and sink.
    assert_eq!(plan.tasks.len(), 30);
    assert_eq!(plan.resources.values().copied().collect::<Vec<_>>(), [12, 13, 4, 12]);
    // Job 2: duration 8, 4 of R1; its predecessor is the dropped source.
    let job2 = &plan.tasks[0];
    assert_eq!((job2.id.as_str(), job2.estimate.mean()), ("2", 8.0));
    assert_eq!(job2.resources.get("R1"), Some(&4));
    assert!(job2.depends_on.is_empty());
    // Job 20 follows jobs 5, 11 and 18.
    let job20 = plan.tasks.iter().find(|t| t.id == "20").unwrap();
    assert_eq!(job20.depends_on, ["5", "11", "18"]);
}

#[test]
fn schedules_are_feasible_and_never_beat_the_optimum() {
    for &(name, lower, best) in INSTANCES {
        let plan = parse_psplib(&read(name)).unwrap();
        let a = analyse(&validate(&plan, &LIMITS).unwrap(), &options());
        assert_feasible(&plan, &a);
        assert!(a.makespan >= lower, "{name}: {} is below the bound {lower}", a.makespan);
        // Loose: 300 schedules in a test; the bench measures quality.
        assert!(a.makespan <= best * 1.15, "{name}: {} is far from {best}", a.makespan);
    }
}

#[test]
fn malformed_files_are_errors_with_a_line() {
    let good = read("j301_1.sm");
    let cases = [
        ("", "no `PRECEDENCE RELATIONS:` section"),
        (&good[..good.find("REQUESTS/DURATIONS").unwrap()], "no `REQUESTS/DURATIONS:` section"),
        (&good[..good.find("RESOURCEAVAILABILITIES").unwrap()], "no `RESOURCEAVAILABILITIES:` section"),
        (&good.replacen("  2      1     8       4", "  2      1     x       4", 1), "`x` is not"),
        (&good.replacen("   2        1          3           6  11  15", "   2        1          3           6  11", 1), "a precedence row"),
        (&good.replacen("   2        1          3           6  11  15", "   2        1          3           6  11  99", 1), "unknown successor 99"),
        (&good.replacen("   1        1          3", "   1        2          3", 1), "single-mode"),
    ];
    for (text, expected) in cases {
        let errors = parse_psplib(text).unwrap_err();
        assert_eq!(errors.len(), 1);
        let PlanErrorKind::Syntax { message } = &errors[0].kind else { panic!("{:?}", errors[0]) };
        assert!(message.contains(expected), "{message:?} lacks {expected:?}");
        // A missing section has no line; a bad row names its own.
        assert_eq!(errors[0].line.is_some(), !message.starts_with("no `"), "{message}");
    }
}

#[test]
fn a_cycle_in_a_psplib_file_is_a_validation_error() {
    // Make job 32 (the sink, kept once it has work) lead back to job 2.
    let text = read("j301_1.sm")
        .replacen("  32        1          0        ", "  32        1          1           2", 1)
        .replacen(" 32      1     0       0    0    0    0", " 32      1     1       0    0    0    0", 1);
    let plan = parse_psplib(&text).unwrap();
    let errors = validate(&plan, &LIMITS).unwrap_err();
    assert!(errors.iter().any(|e| matches!(&e.kind, PlanErrorKind::Cycle { cycle } if cycle.contains(&"32".to_string()))), "{errors:?}");
}
