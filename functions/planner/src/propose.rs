//! A plan from a goal: the model proposes, the engine checks.
//!
//! The answer is parsed (code fences stripped), read against the schema
//! the model was given and validated with the engine's rules. An invalid
//! answer goes back once with the list of its errors; if the second is
//! invalid too, or the model gives no answer at all, or the tenant's
//! monthly budget is spent, the deterministic heuristic plans instead and
//! the result says why.

use std::collections::BTreeMap;

use infra::config::LlmConfig;
use infra::llm::{Completion, Llm, LlmRequest, Outcome, json_text};
use planner_engine::{
    Complexity, Estimate, Limits, Plan, PlanError, PlanErrorKind, PlanTask, ThreePoint, ValidPlan,
    heuristic, validate,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// Which path produced a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The model's first answer was valid.
    Llm,
    /// The model's second answer, after it was shown its errors, was valid.
    LlmRepaired,
    /// No model is configured.
    Heuristic,
    /// A model is configured but its plan was not used; the reason says why.
    HeuristicFallback,
    /// The user wrote the plan.
    User,
}

impl Source {
    pub const ALL: [&str; 5] = [
        "llm",
        "llm_repaired",
        "heuristic",
        "heuristic_fallback",
        "user",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Llm => "llm",
            Source::LlmRepaired => "llm_repaired",
            Source::Heuristic => "heuristic",
            Source::HeuristicFallback => "heuristic_fallback",
            Source::User => "user",
        }
    }
}

/// What to plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    pub goal: String,
    pub roles: BTreeMap<String, u32>,
    pub max_tasks: usize,
    pub deadline: Option<f64>,
}

/// A checked plan and how it was made.
#[derive(Debug)]
pub struct Planned {
    pub plan: ValidPlan,
    pub source: Source,
    pub fallback_reason: Option<String>,
}

/// The result of planning a goal, and every model call it made (for the
/// usage records).
#[derive(Debug)]
pub struct Proposal {
    /// `Err` only if even the heuristic's plan is invalid (its errors).
    pub planned: Result<Planned, Vec<String>>,
    pub calls: Vec<Completion>,
}

/// The schema's name: the response format's or the tool's.
pub const SCHEMA_NAME: &str = "plan";
const MAX_ANSWER_TOKENS: u32 = 8192;

/// Plans `goal`; `spent_usd` is what the tenant's model calls cost this
/// month so far.
pub async fn propose(llm: &dyn Llm, config: &LlmConfig, goal: &Goal, spent_usd: f64) -> Proposal {
    let mut calls = Vec::new();
    if !llm.enabled() {
        return Proposal {
            planned: fallback(goal, Source::Heuristic, None),
            calls,
        };
    }
    let over_budget = |spent: f64| config.monthly_budget_usd.filter(|budget| spent >= *budget);
    if let Some(budget) = over_budget(spent_usd) {
        let reason =
            format!("the monthly LLM budget of ${budget:.2} is spent (${spent_usd:.4} this month)");
        return Proposal {
            planned: fallback(goal, Source::HeuristicFallback, Some(reason)),
            calls,
        };
    }
    let mut request = request(goal);
    let first = llm.complete(&request).await;
    let mut spent = spent_usd + config.cost_usd(first.tokens_in, first.tokens_out);
    let first_outcome = first.outcome.clone();
    calls.push(first);
    let errors = match answer(&first_outcome).map(|text| check(text, goal)) {
        Err(reason) => {
            return Proposal {
                planned: fallback(goal, Source::HeuristicFallback, Some(reason)),
                calls,
            };
        }
        Ok(Ok(plan)) => {
            return Proposal {
                planned: Ok(Planned {
                    plan,
                    source: Source::Llm,
                    fallback_reason: None,
                }),
                calls,
            };
        }
        Ok(Err(errors)) => errors,
    };
    if let Some(budget) = over_budget(spent) {
        let reason = format!(
            "the model's plan was invalid and the monthly LLM budget of ${budget:.2} is now spent"
        );
        return Proposal {
            planned: fallback(goal, Source::HeuristicFallback, Some(reason)),
            calls,
        };
    }
    request.user = repair_prompt(goal, answer(&first_outcome).unwrap_or_default(), &errors);
    let second = llm.complete(&request).await;
    spent += config.cost_usd(second.tokens_in, second.tokens_out);
    let second_outcome = second.outcome.clone();
    calls.push(second);
    tracing::debug!(spent, "model calls of this plan");
    let planned = match answer(&second_outcome).map(|text| check(text, goal)) {
        Err(reason) => fallback(
            goal,
            Source::HeuristicFallback,
            Some(format!("the repair failed: {reason}")),
        ),
        Ok(Ok(plan)) => Ok(Planned {
            plan,
            source: Source::LlmRepaired,
            fallback_reason: None,
        }),
        Ok(Err(again)) => {
            let reason = format!("the model's plan was invalid twice: {}", summary(&again));
            fallback(goal, Source::HeuristicFallback, Some(reason))
        }
    };
    Proposal { planned, calls }
}

/// The heuristic's plan for the goal.
pub fn fallback(
    goal: &Goal,
    source: Source,
    reason: Option<String>,
) -> Result<Planned, Vec<String>> {
    let mut plan = heuristic(&goal.goal, &goal.roles, goal.max_tasks);
    plan.roles = goal.roles.clone();
    plan.deadline = goal.deadline;
    let limits = Limits {
        max_tasks: goal.max_tasks,
        goal_plan: true,
    };
    let plan = validate(&plan, &limits)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    Ok(Planned {
        plan,
        source,
        fallback_reason: reason,
    })
}

/// The answer's text, or why there is none.
fn answer(outcome: &Outcome) -> Result<&str, String> {
    match outcome {
        Outcome::Answered { text } => Ok(text),
        Outcome::Refused { reason } => Err(format!("the model refused: {reason}")),
        Outcome::TimedOut => Err("the model timed out".into()),
        Outcome::RateLimited => Err("the model is rate limited".into()),
        Outcome::Unavailable { message } => Err(format!("the model is unavailable: {message}")),
        Outcome::Invalid { message } => {
            Err(format!("the model's response was unreadable: {message}"))
        }
        Outcome::Disabled => Err("no model is configured".into()),
    }
}

fn summary(errors: &[String]) -> String {
    let mut text = errors
        .iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > 5 {
        text.push_str(&format!("; and {} more", errors.len() - 5));
    }
    text
}

/// A plan as the model writes it: the schema below, field for field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelPlan {
    tasks: Vec<ModelTask>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelTask {
    id: String,
    title: String,
    role: String,
    depends_on: Vec<String>,
    complexity: Complexity,
    estimate_min: ThreePoint,
    phase: String,
    acceptance_criteria: Vec<String>,
}

const PHASES: [&str; 5] = ["design", "implementation", "testing", "review", "deploy"];

/// Reads and validates one answer: `Err` lists every problem, each with
/// its path.
pub fn check(text: &str, goal: &Goal) -> Result<ValidPlan, Vec<String>> {
    let text = json_text(text);
    let mut reader = serde_json::Deserializer::from_str(text);
    let model: ModelPlan = match serde_path_to_error::deserialize(&mut reader) {
        Ok(model) => model,
        Err(error) => {
            let path = error.path().to_string();
            let path = if path == "." {
                "answer".to_owned()
            } else {
                path
            };
            return Err(vec![format!("{path}: {}", error.inner())]);
        }
    };
    let mut errors = Vec::new();
    for (i, task) in model.tasks.iter().enumerate() {
        if !PHASES.contains(&task.phase.as_str()) {
            errors.push(format!(
                "tasks[{i}].phase: `{}` is not one of {}",
                task.phase,
                PHASES.join(", ")
            ));
        }
    }
    let plan = Plan {
        tasks: model
            .tasks
            .into_iter()
            .map(|task| PlanTask {
                id: task.id,
                title: task.title,
                role: task.role,
                depends_on: task.depends_on,
                estimate: Estimate::ThreePoint {
                    estimate: task.estimate_min,
                },
                resources: BTreeMap::new(),
                phase: Some(task.phase),
                complexity: Some(task.complexity),
                acceptance_criteria: task.acceptance_criteria,
            })
            .collect(),
        roles: goal.roles.clone(),
        resources: BTreeMap::new(),
        deadline: goal.deadline,
    };
    errors.extend(task_rules(&plan).iter().map(ToString::to_string));
    let limits = Limits {
        max_tasks: goal.max_tasks,
        goal_plan: true,
    };
    match validate(&plan, &limits) {
        Ok(valid) if errors.is_empty() => Ok(valid),
        Ok(_) => Err(errors),
        Err(found) => {
            errors.extend(found.iter().map(ToString::to_string));
            Err(errors)
        }
    }
}

/// The request for a goal: the strict schema, with the roles as an enum.
pub fn request(goal: &Goal) -> LlmRequest {
    let roles: Vec<&str> = goal.roles.keys().map(String::as_str).collect();
    let system = format!(
        "You plan software work. Break the goal into at most {max} subtasks. Each has a short kebab-case `id`, a `title`, \
         a `role` (one of: {roles}), `depends_on` (ids of the tasks that must finish first; the graph must have no cycles, \
         and work that can run in parallel should), a `complexity` (small ≈ 15, medium ≈ 60, large ≈ 180 minutes), \
         `estimate_min` (optimistic ≤ most_likely ≤ pessimistic, each 1 to 480 minutes), a `phase` ({phases}) and \
         `acceptance_criteria`. Answer with the JSON object only.",
        max = goal.max_tasks,
        roles = roles.join(", "),
        phases = PHASES.join(", "),
    );
    let deadline = goal.deadline.map_or(String::new(), |d| {
        format!("\nDeadline: {d} minutes from the start.")
    });
    LlmRequest {
        system,
        user: format!("Goal: {}{deadline}", goal.goal),
        schema: schema(&roles),
        schema_name: SCHEMA_NAME.into(),
        max_tokens: MAX_ANSWER_TOKENS,
    }
}

fn repair_prompt(goal: &Goal, previous: &str, errors: &[String]) -> String {
    let deadline = goal.deadline.map_or(String::new(), |d| {
        format!("\nDeadline: {d} minutes from the start.")
    });
    let list: String = errors.iter().take(50).map(|e| format!("- {e}\n")).collect();
    format!(
        "Goal: {}{deadline}\n\nYour previous answer was:\n{previous}\n\nIt has these problems:\n{list}\nAnswer again with the whole corrected plan.",
        goal.goal
    )
}

/// Strict mode: every property required, no others.
fn schema(roles: &[&str]) -> Value {
    let point = json!({"type": "number"});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["tasks"],
        "properties": {"tasks": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": false,
            "required": ["id", "title", "role", "depends_on", "complexity", "estimate_min", "phase", "acceptance_criteria"],
            "properties": {
                "id": {"type": "string"},
                "title": {"type": "string"},
                "role": {"type": "string", "enum": roles},
                "depends_on": {"type": "array", "items": {"type": "string"}},
                "complexity": {"type": "string", "enum": ["small", "medium", "large"]},
                "estimate_min": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["optimistic", "most_likely", "pessimistic"],
                    "properties": {"optimistic": point, "most_likely": point, "pessimistic": point},
                },
                "phase": {"type": "string", "enum": PHASES},
                "acceptance_criteria": {"type": "array", "items": {"type": "string"}},
            },
        }}},
    })
}

/// What the Orchestrator needs of a plan's tasks to create them.
pub fn task_rules(plan: &Plan) -> Vec<PlanError> {
    let syntax = |path: String, message: &str| {
        PlanError::new(
            path,
            PlanErrorKind::Syntax {
                message: message.to_owned(),
            },
        )
    };
    let mut errors = Vec::new();
    for (i, task) in plan.tasks.iter().enumerate() {
        if task.id.len() > 64
            || !task
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        {
            errors.push(syntax(
                format!("tasks[{i}].id"),
                "a task id is 1 to 64 of A-Z, a-z, 0-9, _, . and -",
            ));
        }
        if task.role.is_empty()
            || task.role.len() > 40
            || !task
                .role
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-".contains(&b))
        {
            errors.push(syntax(
                format!("tasks[{i}].role"),
                "a role is 1 to 40 of a-z, 0-9, - and _",
            ));
        }
        if task.title.chars().count() > 200 {
            errors.push(syntax(
                format!("tasks[{i}].title"),
                "a title is at most 200 characters",
            ));
        }
        if task.depends_on.len() > 100 {
            errors.push(syntax(
                format!("tasks[{i}].depends_on"),
                "at most 100 dependencies",
            ));
        }
        if task.acceptance_criteria.len() > 50 {
            errors.push(syntax(
                format!("tasks[{i}].acceptance_criteria"),
                "at most 50 criteria",
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn goal() -> Goal {
        Goal {
            goal: "add login".into(),
            roles: BTreeMap::from([("backend".into(), 2)]),
            max_tasks: 3,
            deadline: Some(120.0),
        }
    }

    fn task(id: &str, role: &str, depends_on: &[&str], most_likely: f64) -> Value {
        json!({
            "id": id, "title": id, "role": role, "depends_on": depends_on, "complexity": "small",
            "estimate_min": {"optimistic": most_likely, "most_likely": most_likely, "pessimistic": most_likely},
            "phase": "implementation", "acceptance_criteria": [],
        })
    }

    /// The problems `check` finds in an answer, `[]` when it is valid.
    fn problems(answer: &str) -> Vec<String> {
        check(answer, &goal()).err().unwrap_or_default()
    }

    #[test]
    fn a_valid_answer_becomes_a_plan_with_the_goals_roles_and_deadline() {
        let answer =
            json!({"tasks": [task("a", "backend", &[], 30.0), task("b", "backend", &["a"], 60.0)]})
                .to_string();
        let plan = check(&answer, &goal()).unwrap();
        assert_eq!(plan.plan().roles, goal().roles);
        assert_eq!(plan.plan().deadline, Some(120.0));
        assert_eq!(plan.plan().tasks[1].estimate.mean(), 60.0);
    }

    #[test]
    fn each_problem_is_named_with_its_path() {
        let not_json = problems("Sure! First design, then build.");
        assert_eq!(not_json.len(), 1);
        assert!(not_json[0].starts_with("answer:"), "{not_json:?}");
        let missing = problems(&json!({"tasks": [{"id": "a"}]}).to_string());
        assert!(missing[0].starts_with("tasks[0]"), "{missing:?}");
        let long = problems(&json!({"tasks": [task("a", "backend", &[], 600.0)]}).to_string());
        assert!(
            long.iter()
                .any(|p| p.contains("tasks[0]") && p.contains("480")),
            "{long:?}"
        );
        let role = problems(&json!({"tasks": [task("a", "designer", &[], 10.0)]}).to_string());
        assert!(role.iter().any(|p| p.contains("designer")), "{role:?}");
        let mut phased = task("a", "backend", &[], 10.0);
        phased["phase"] = json!("party");
        let phase = problems(&json!({"tasks": [phased]}).to_string());
        assert!(
            phase.iter().any(|p| p.starts_with("tasks[0].phase")),
            "{phase:?}"
        );
        let many: Vec<Value> = (0..4)
            .map(|i| task(&format!("t{i}"), "backend", &[], 10.0))
            .collect();
        assert!(
            problems(&json!({"tasks": many}).to_string())
                .iter()
                .any(|p| p.contains("maximum of 3"))
        );
        let key = problems(&json!({"tasks": [task("a b", "backend", &[], 10.0)]}).to_string());
        assert!(key.iter().any(|p| p.starts_with("tasks[0].id")), "{key:?}");
        let extra = problems(&json!({"tasks": [], "notes": "x"}).to_string());
        assert!(extra[0].contains("notes"), "{extra:?}");
    }

    #[test]
    fn the_schema_is_strict_and_lists_the_roles() {
        let request = request(&goal());
        let item = &request.schema["properties"]["tasks"]["items"];
        assert_eq!(item["additionalProperties"], false);
        let required: Vec<&str> = item["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let properties: Vec<&str> = item["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            required
                .iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>(),
            properties.into_iter().collect()
        );
        assert_eq!(item["properties"]["role"]["enum"], json!(["backend"]));
        assert!(request.system.contains("at most 3"));
        assert!(request.user.contains("Deadline: 120"));
    }
}
