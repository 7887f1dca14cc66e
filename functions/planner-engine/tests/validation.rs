//! Bad plans: every problem reported in one pass, each with its path (and
//! its line, for YAML), and never a panic.

mod support;

use std::collections::BTreeMap;

use planner_engine::{Format, Limits, PlanErrorKind, analyse, gantt_svg, heuristic, parse_plan, parse_plan_located, validate};
use support::{options, plan, task};

const USER: Limits = Limits { max_tasks: 100, goal_plan: false };
const GOAL: Limits = Limits { max_tasks: 100, goal_plan: true };

/// Parses and validates a YAML plan; the errors as "path@line: kind" lines.
fn errors(yaml: &str, limits: &Limits) -> Vec<String> {
    let (plan, map) = match parse_plan_located(yaml, Format::Yaml) {
        Ok(parsed) => parsed,
        Err(errors) => return errors.iter().map(|e| format!("{}@{:?}: {}", e.path, e.line, e.kind)).collect(),
    };
    let mut errors = validate(&plan, limits).err().unwrap_or_default();
    map.locate(&mut errors);
    errors.iter().map(|e| format!("{}@{}: {}", e.path, e.line.unwrap_or(0), e.kind)).collect()
}

#[test]
fn every_problem_in_one_pass_with_its_line() {
    let yaml = "\
roles: {backend: 1}
resources: {gpu: 1}
tasks:
  - id: a
    role: backend
    duration: 10
  - id: a
    role: designer
    duration: -5
  - id: b
    role: backend
    depends_on: [a, ghost, b]
    duration: 10
    resources: {gpu: 2, tpu: 1}
";
    assert_eq!(
        errors(yaml, &USER),
        [
            "tasks[1].id@7: duplicate task id `a` (first used by tasks[0])",
            "tasks[1].duration@9: `a` has duration -5; durations must be positive",
            "tasks[1].role@8: `a` needs role `designer`, which the plan's roles do not list",
            "tasks[2].depends_on[1]@12: `b` depends on `ghost`, which is not a task",
            "tasks[2].depends_on[2]@12: `b` depends on itself",
            "tasks[2].resources.gpu@14: `b` needs 2 of `gpu` but only 1 exist",
            "tasks[2].resources.tpu@14: `b` needs resource `tpu`, which the plan's resources do not list",
        ]
    );
}

#[test]
fn a_cycle_is_named() {
    let yaml = "\
tasks:
  - {id: start, duration: 1}
  - {id: a, duration: 1, depends_on: [start, c]}
  - {id: b, duration: 1, depends_on: [a]}
  - {id: c, duration: 1, depends_on: [b]}
  - {id: d, duration: 1, depends_on: [c]}
  - {id: x, duration: 1, depends_on: [y]}
  - {id: y, duration: 1, depends_on: [x]}
";
    // a depends on c, c on b, b on a; and x and y on each other.
    assert_eq!(
        errors(yaml, &USER),
        [
            "tasks[1].depends_on@3: dependency cycle: a -> c -> b -> a",
            "tasks[5].depends_on@7: dependency cycle: x -> y -> x",
        ]
    );
}

#[test]
fn goal_plans_keep_durations_within_a_working_day() {
    let yaml = "\
tasks:
  - {id: a, duration: 0.5}
  - {id: b, duration: 481}
  - {id: c, estimate: {optimistic: 10, most_likely: 5, pessimistic: 20}}
";
    assert_eq!(
        errors(yaml, &GOAL),
        [
            "tasks[0].duration@2: `a` has duration 0.5, outside 1..=480 minutes",
            "tasks[1].duration@3: `b` has duration 481, outside 1..=480 minutes",
            "tasks[2].estimate@4: `c` has an estimate that is not optimistic ≤ most likely ≤ pessimistic",
        ]
    );
    // A user plan may take longer than a day.
    assert_eq!(errors(yaml, &USER), ["tasks[2].estimate@4: `c` has an estimate that is not optimistic ≤ most likely ≤ pessimistic"]);
}

#[test]
fn a_ten_thousand_task_plan_is_refused_without_fuss() {
    let tasks: Vec<_> = (0..10_000)
        .map(|i| {
            let dep = if i > 0 { vec![format!("t{}", i - 1)] } else { vec![] };
            let dep: Vec<&str> = dep.iter().map(String::as_str).collect();
            task(&format!("t{i}"), 1.0, "", &dep)
        })
        .collect();
    let p = plan(tasks, &[]);
    let errors = validate(&p, &Limits { max_tasks: 500, goal_plan: false }).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].to_string(), "tasks: 10000 tasks is more than the maximum of 500");
    // Within a larger limit the same plan is fine, and its 10,000-long
    // chain is analysed without recursion.
    let valid = validate(&p, &Limits { max_tasks: 10_000, goal_plan: false }).unwrap();
    let mut quick = options();
    quick.monte_carlo_samples = 10;
    quick.rcpsp_schedules = 1;
    let a = analyse(&valid, &quick);
    assert_eq!((a.makespan, a.critical_path.len()), (10_000.0, 10_000));
}

#[test]
fn an_empty_plan_and_malformed_text_are_errors() {
    assert_eq!(errors("tasks: []\n", &USER), ["tasks@1: the plan has no tasks"]);
    let not_a_plan = parse_plan("just words", Format::Yaml).unwrap_err();
    assert!(matches!(not_a_plan[0].kind, PlanErrorKind::Syntax { .. }), "{not_a_plan:?}");
    let bad_json = parse_plan("{\"tasks\": [{\"id\": 1, \"duration\": 2}]}", Format::Json).unwrap_err();
    assert_eq!(bad_json[0].path, "tasks[0].id");
    let unknown = parse_plan("tasks: []\nowner: me\n", Format::Yaml).unwrap_err();
    assert!(unknown[0].to_string().contains("unknown field `owner`"), "{}", unknown[0]);
    // A negative capacity does not fit a count.
    let negative = parse_plan("roles: {backend: -1}\ntasks: []\n", Format::Yaml).unwrap_err();
    assert_eq!((negative[0].path.as_str(), negative[0].line), ("roles.backend", Some(1)));
}

#[test]
fn the_heuristic_is_deterministic_valid_and_sensible() {
    let roles: BTreeMap<String, u32> = [("backend".to_string(), 2), ("frontend".to_string(), 2), ("infra".to_string(), 1)].into();
    let goal = "Add OAuth login to the customer portal";
    let p = heuristic(goal, &roles, 20);
    assert_eq!(p, heuristic(goal, &roles, 20));
    let ids: Vec<&str> = p.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["design", "implement-backend", "implement-frontend", "tests", "review", "deploy"]);
    let valid = validate(&p, &GOAL).unwrap();
    let a = analyse(&valid, &options());
    assert_eq!(a.critical_path.first().map(String::as_str), Some("design"));
    assert_eq!(a.critical_path.last().map(String::as_str), Some("deploy"));
    // "oauth" and "login"... one hard word (oauth) makes it medium: 60-minute
    // implementation, 15-minute design, tests, review and deploy.
    assert_eq!(a.cpm_makespan, 15.0 + 60.0 + 15.0 + 15.0 + 15.0);
    assert!(gantt_svg(&valid, &a).contains("class=\"task critical\""));
    // Every limit gives a valid plan within it.
    for max in 1..8 {
        let small = heuristic("migrate the billing database and the API to AWS lambda", &roles, max);
        assert!(!small.tasks.is_empty() && small.tasks.len() <= max, "{max}: {}", small.tasks.len());
        validate(&small, &Limits { max_tasks: max, goal_plan: true }).unwrap();
    }
    // No roles at all: the plan brings its own.
    assert!(validate(&heuristic("write docs", &BTreeMap::new(), 10), &GOAL).is_ok());
}
