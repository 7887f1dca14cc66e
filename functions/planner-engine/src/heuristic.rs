//! The deterministic planner: the goal's keywords, scored into a standard
//! plan of design, implementation per component, tests, review and deploy.
//! It needs no model, so it is the default and the fallback, and the same
//! goal always gives the same plan.

use std::collections::BTreeMap;

use crate::model::{Complexity, Estimate, Plan, PlanTask};

/// A part of the work the goal may touch: its name, the words that reveal
/// it and the role that does it.
struct Component {
    name: &'static str,
    words: &'static [&'static str],
    role: &'static str,
}

const COMPONENTS: &[Component] = &[
    Component {
        name: "data",
        words: &["database", "db", "schema", "migration", "migrations", "table", "sql", "model", "storage", "index"],
        role: "backend",
    },
    Component {
        name: "backend",
        words: &[
            "api", "endpoint", "endpoints", "backend", "server", "service", "oauth", "auth", "login", "webhook",
            "webhooks", "queue", "integration", "payment", "payments", "sso", "token", "email",
        ],
        role: "backend",
    },
    Component {
        name: "frontend",
        words: &[
            "ui", "frontend", "page", "pages", "portal", "form", "button", "screen", "dashboard", "web", "css",
            "component", "mobile", "app",
        ],
        role: "frontend",
    },
    Component {
        name: "infra",
        words: &[
            "deploy", "deployment", "infrastructure", "infra", "aws", "lambda", "terraform", "ci", "pipeline",
            "docker", "kubernetes", "monitoring", "alerting", "dns", "cdn",
        ],
        role: "infra",
    },
];

/// Words that make the work bigger: each one found moves the size up.
const HARD_WORDS: &[&str] = &[
    "oauth", "auth", "security", "migration", "migrations", "payment", "payments", "distributed", "integration",
    "realtime", "real-time", "encryption", "performance", "scale", "scaling", "sso", "compliance", "concurrency",
    "multi-tenant", "legacy", "refactor",
];

/// The plan for `goal` with the given role capacities (roles the plan uses
/// but `roles` lacks are added with one worker) and at most `max_tasks`
/// tasks (at least one).
pub fn heuristic(goal: &str, roles: &BTreeMap<String, u32>, max_tasks: usize) -> Plan {
    let goal = goal.split_whitespace().collect::<Vec<_>>().join(" ");
    let words: Vec<String> = goal
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    let has = |w: &str| words.iter().any(|x| x == w);

    let hard = HARD_WORDS.iter().filter(|w| has(w)).count() + words.len() / 12;
    let size = match hard {
        0 => Complexity::Small,
        1 | 2 => Complexity::Medium,
        _ => Complexity::Large,
    };
    let smaller = match size {
        Complexity::Large => Complexity::Medium,
        _ => Complexity::Small,
    };
    let mut components: Vec<&Component> = COMPONENTS.iter().filter(|c| c.words.iter().any(|w| has(w))).collect();
    if components.is_empty() {
        components.push(&COMPONENTS[1]);
    }

    let mut roles = roles.clone();
    let mut role_for = |wanted: &str| -> String {
        if roles.contains_key(wanted) {
            return wanted.to_string();
        }
        // The role with the most workers (the first by name among equals),
        // or the wanted one, added, when there are none.
        match roles.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) {
            Some((name, _)) => name.clone(),
            None => {
                roles.insert(wanted.to_string(), 1);
                wanted.to_string()
            }
        }
    };

    // Drafts in order of what to keep when `max_tasks` is small.
    let max_tasks = max_tasks.max(1);
    let merge = components.len() + 4 > max_tasks;
    let mut implement = Vec::new();
    if merge {
        let role = role_for(components[0].role);
        implement.push(draft("implement", format!("Implement: {goal}"), &role, "implementation", size));
    } else {
        for c in &components {
            let role = role_for(c.role);
            let title = format!("Implement the {} part: {goal}", c.name);
            implement.push(draft(&format!("implement-{}", c.name), title, &role, "implementation", size));
        }
    }
    let design = draft("design", format!("Design: {goal}"), &role_for("backend"), "design", smaller);
    let tests = draft("tests", format!("Test: {goal}"), &role_for("backend"), "testing", smaller);
    let review = draft("review", format!("Review: {goal}"), &role_for("backend"), "review", Complexity::Small);
    let deploy_size = if components.iter().any(|c| c.name == "infra") { Complexity::Medium } else { Complexity::Small };
    let deploy = draft("deploy", format!("Deploy: {goal}"), &role_for("infra"), "deployment", deploy_size);

    let budget = max_tasks.saturating_sub(implement.len());
    let keep = |rank: usize| rank < budget;
    // Ranks: tests 0, deploy 1, design 2, review 3.
    let (design, tests, review, deploy) =
        (keep(2).then_some(design), keep(0).then_some(tests), keep(3).then_some(review), keep(1).then_some(deploy));

    let mut tasks = Vec::new();
    if let Some(design) = design {
        tasks.push(design);
    }
    let design_id = tasks.first().map(|t| t.id.clone());
    let has_data = implement.iter().any(|t| t.id == "implement-data");
    for mut task in implement {
        task.depends_on.extend(design_id.clone());
        // The data model comes before the backend that uses it.
        if has_data && task.id == "implement-backend" {
            task.depends_on.push("implement-data".into());
        }
        tasks.push(task);
    }
    let implemented: Vec<String> = tasks.iter().filter(|t| t.id.starts_with("implement")).map(|t| t.id.clone()).collect();
    let mut previous = implemented;
    for next in [tests, review, deploy].into_iter().flatten() {
        let mut next = next;
        next.depends_on = previous;
        previous = vec![next.id.clone()];
        tasks.push(next);
    }
    Plan { tasks, roles, resources: BTreeMap::new(), deadline: None }
}

fn draft(id: &str, title: String, role: &str, phase: &str, size: Complexity) -> PlanTask {
    let criteria = match phase {
        "design" => "The approach, interfaces and risks are written down and agreed",
        "implementation" => "The change is implemented behind tests and builds cleanly",
        "testing" => "Automated tests cover the new behaviour and pass",
        "review" => "A second engineer has reviewed and approved the change",
        _ => "The change runs in production and is monitored",
    };
    PlanTask {
        id: id.to_string(),
        title,
        role: role.to_string(),
        depends_on: Vec::new(),
        estimate: Estimate::fixed(size.minutes()),
        resources: BTreeMap::new(),
        phase: Some(phase.to_string()),
        complexity: Some(size),
        acceptance_criteria: vec![criteria.to_string()],
    }
}
