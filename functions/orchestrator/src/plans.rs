//! `plan.created`: an approved plan becomes tasks, with its dependency
//! edges, in one transaction.
//!
//! The Planner fixes each task's id (`task_id`), so `task.*` events map
//! back to the plan; the event id is recorded in the same transaction, so
//! a redelivery creates nothing. A plan's tasks go to review before they
//! complete: that is the work-automation loop (the Reviewer decides).

use std::collections::BTreeMap;

use infra::Error;
use infra::edge::ApiError;
use infra::events::{PlanCreated, PlannedTask};
use orchestrator_engine::{Priority, topological_order};

use crate::Orchestrator;
use crate::api::TaskBody;
use crate::repo::{Denied, NewTask};

impl Orchestrator {
    /// Creates the plan's tasks; `Ok` also for a redelivery. A plan that
    /// cannot become tasks (a cycle, an unknown role, a bad id) is a
    /// permanent error: the message goes to the dead-letter queue.
    pub async fn create_plan(&self, tenant: &str, event_id: &str, plan: &PlanCreated) -> Result<usize, Error> {
        let tasks = self.planned_tasks(tenant, plan).await?;
        match self.repo.create_for_event(tenant, &format!("plan:{}", plan.plan_id), &tasks, event_id).await {
            Ok(Some(created)) => Ok(created.len()),
            Ok(None) => Ok(0),
            Err(Denied::Store(error)) => Err(error),
            Err(denied) => Err(Error::invalid("plan", denied.to_string())),
        }
    }

    /// The plan's tasks, parents first, checked as the batch route checks them.
    async fn planned_tasks(&self, tenant: &str, plan: &PlanCreated) -> Result<Vec<NewTask>, Error> {
        let graph: Vec<(&str, Vec<&str>)> = plan.tasks.iter().map(|t| (t.key.as_str(), t.depends_on.iter().map(String::as_str).collect())).collect();
        let order = topological_order(&graph).map_err(|error| Error::invalid("tasks", error.to_string()))?;
        // Every key is known: the graph check refused unknown dependencies.
        let ids: BTreeMap<&str, &str> = plan.tasks.iter().map(|t| (t.key.as_str(), t.task_id.as_str())).collect();
        let mut tasks = Vec::with_capacity(plan.tasks.len());
        let mut roles = Vec::new();
        for index in order {
            let planned = &plan.tasks[index];
            let field = format!("tasks[{index}]");
            uuid::Uuid::parse_str(&planned.task_id).map_err(|_| Error::invalid(format!("{field}.task_id"), "a task id is a UUID"))?;
            let body = task_body(plan, planned, &ids, &field)?;
            roles.push((format!("{field}.role"), planned.role.as_str()));
            tasks.push(self.new_task(planned.task_id.clone(), body, &field).map_err(invalid_plan)?);
        }
        self.check_roles(tenant, &roles).await.map_err(invalid_plan)?;
        Ok(tasks)
    }
}

/// The API's refusal of a task, as the consumer's permanent error.
fn invalid_plan(error: ApiError) -> Error {
    Error::invalid(error.field().unwrap_or("tasks"), error.message())
}

fn task_body(plan: &PlanCreated, task: &PlannedTask, ids: &BTreeMap<&str, &str>, field: &str) -> Result<TaskBody, Error> {
    let priority = match task.priority.as_deref() {
        None => Priority::Normal,
        Some(name) => serde_json::from_value(name.into()).map_err(|_| Error::invalid(format!("{field}.priority"), format!("unknown priority {name:?}")))?,
    };
    let mut input = serde_json::Map::new();
    input.insert("plan_id".into(), plan.plan_id.clone().into());
    input.insert("key".into(), task.key.clone().into());
    input.insert("estimate_min".into(), task.estimate_min.into());
    if let Some(goal) = &plan.goal {
        input.insert("goal".into(), goal.clone().into());
    }
    if let Some(description) = &task.description {
        input.insert("description".into(), description.clone().into());
    }
    Ok(TaskBody {
        title: task.title.clone(),
        role: task.role.clone(),
        priority,
        review: true,
        max_retries: None,
        rework_limit: None,
        acceptance_criteria: task.acceptance_criteria.clone(),
        input,
        depends_on: task.depends_on.iter().map(|key| ids.get(key.as_str()).copied().unwrap_or_default().to_owned()).collect(),
        cancel_on_upstream_failure: true,
        timeouts: None,
    })
}
