//! `planner-worker`: one `plan.requested` is one plan made, checked,
//! analysed and stored; a `task.failed` of a plan's task names the plan's
//! tasks it now blocks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use infra::Error;
use infra::edge::Message;
use infra::events::{
    Envelope, EventName, PlanCreated, PlanFailed, PlanGenerated, PlanRequested, PlannedTask,
    TaskFailed, TaskRejected, TaskTransition, WorkflowBlocked,
};
use infra::time::now_ms;
use planner_engine::{Analysis, Complexity, Limits, Plan, analyse, validate};
use serde::{Deserialize, Serialize};

use crate::propose::{Goal, Planned, Source, propose};
use crate::repo::{Call, Delivery, Finish, month_of};
use crate::{Planner, WORKER};

/// What a plan was requested from, as stored with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Goal {
        goal: String,
        roles: BTreeMap<String, u32>,
        max_tasks: usize,
        deadline_min: Option<f64>,
    },
    User {
        plan: Plan,
    },
}

impl Planner {
    pub async fn handle_message(&self, message: Message) -> Result<(), Error> {
        let envelope = message.envelope()?;
        let tenant = envelope
            .tenant
            .clone()
            .ok_or_else(|| Error::invalid("tenant", "a planner event names its tenant"))?;
        match envelope.name()? {
            EventName::PlanRequested => {
                let requested: PlanRequested = envelope.decode()?;
                self.make(&tenant, &requested.plan, &envelope).await
            }
            EventName::TaskFailed => {
                let failed: TaskFailed = envelope.decode()?;
                self.blocked(&tenant, &failed.0, &envelope).await
            }
            // A rejected task is as final as a failed one.
            EventName::TaskRejected => {
                let rejected: TaskRejected = envelope.decode()?;
                self.blocked(&tenant, &rejected.0, &envelope).await
            }
            _ => Ok(()),
        }
    }

    async fn make(&self, tenant: &str, id: &str, envelope: &Envelope) -> Result<(), Error> {
        let Some(row) = self.repo.get(tenant, id).await? else {
            tracing::warn!(plan = %id, "plan.requested for a plan that does not exist");
            return Ok(());
        };
        if row.status != "queued" {
            return Ok(());
        }
        let planned = match serde_json::from_value::<Request>(row.request) {
            Err(error) => Err(format!("the stored request is unreadable: {error}")),
            Ok(Request::User { plan }) => {
                let limits = Limits {
                    max_tasks: self.settings.max_user_tasks,
                    goal_plan: false,
                };
                validate(&plan, &limits)
                    .map(|plan| Planned {
                        plan,
                        source: Source::User,
                        fallback_reason: None,
                    })
                    .map_err(|errors| {
                        errors
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
            }
            Ok(Request::Goal {
                goal,
                roles,
                max_tasks,
                deadline_min,
            }) => {
                let goal = Goal {
                    goal,
                    roles,
                    max_tasks,
                    deadline: deadline_min,
                };
                self.propose(tenant, id, &goal).await?
            }
        };
        let now = now_ms();
        let correlation = envelope.correlationid.as_str();
        let (finish, events) = match planned {
            Err(reason) => {
                let failed = PlanFailed {
                    plan: id.to_owned(),
                    reason: reason.clone(),
                };
                (
                    Finish::Failed { error: reason },
                    vec![self.event(tenant, correlation, &failed)?],
                )
            }
            Ok(planned) => {
                let options = self.settings.analysis;
                let (plan, analysis) = tokio::task::spawn_blocking(move || {
                    let analysis = analyse(&planned.plan, &options);
                    (planned, analysis)
                })
                .await
                .map_err(|e| Error::Backend {
                    service: "planner",
                    message: format!("the analysis panicked: {e}"),
                })?;
                let generated = PlanGenerated {
                    plan: id.to_owned(),
                    planner: plan.source.as_str().to_owned(),
                    fallback_reason: plan.fallback_reason.clone(),
                    tasks: plan.plan.len() as u64,
                    makespan_min: analysis.makespan,
                    critical_path: analysis.critical_path.clone(),
                    probability_by_deadline: analysis.pert.probability_by_deadline,
                };
                let mut events = vec![self.event(tenant, correlation, &generated)?];
                let approved = row.auto_approve.then(|| new_task_ids(plan.plan.plan()));
                if let Some(ids) = &approved {
                    let created =
                        plan_created(id, row.goal.as_deref(), plan.plan.plan(), &analysis, ids);
                    events.push(self.event(tenant, correlation, &created)?);
                }
                let finish = Finish::Ready {
                    planner: plan.source.as_str().to_owned(),
                    fallback_reason: plan.fallback_reason,
                    plan: serde_json::to_value(plan.plan.plan())
                        .map_err(|e| Error::invalid("plan", e.to_string()))?,
                    analysis: serde_json::to_value(&analysis)
                        .map_err(|e| Error::invalid("analysis", e.to_string()))?,
                    approved,
                };
                (finish, events)
            }
        };
        if let Some(staged) = self
            .repo
            .finish(
                tenant,
                id,
                Delivery {
                    consumer: WORKER.name,
                    event_id: &envelope.id,
                },
                finish,
                now,
                events,
            )
            .await?
        {
            self.outbox.relay(staged, now).await;
            tracing::info!(plan = %id, "plan finished");
        }
        Ok(())
    }

    /// Proposes a plan for the goal, metering every model call.
    async fn propose(
        &self,
        tenant: &str,
        id: &str,
        goal: &Goal,
    ) -> Result<Result<Planned, String>, Error> {
        let config = &self.settings.llm;
        let spent = self.repo.month_cost(tenant, &month_of(now_ms())).await?;
        let proposal = propose(self.llm.as_ref(), config, goal, spent).await;
        for completion in &proposal.calls {
            let call = Call {
                plan: id,
                model: &completion.model,
                outcome: completion.outcome.as_str(),
                tokens_in: completion.tokens_in,
                tokens_out: completion.tokens_out,
                cost_usd: config.cost_usd(completion.tokens_in, completion.tokens_out),
                latency_ms: i64::try_from(completion.latency.as_millis()).unwrap_or(i64::MAX),
            };
            self.repo.record_call(tenant, &call, now_ms()).await?;
        }
        Ok(proposal.planned.map_err(|errors| {
            format!(
                "even the heuristic's plan is invalid: {}",
                errors.join("; ")
            )
        }))
    }

    /// A plan's task failed for good (or was rejected): every task of the
    /// plan that depends on it, directly or not, is blocked.
    async fn blocked(
        &self,
        tenant: &str,
        failed: &TaskTransition,
        envelope: &Envelope,
    ) -> Result<(), Error> {
        let task = &failed.task;
        let Some((plan_id, key)) = self.repo.plan_task(tenant, task).await? else {
            return Ok(());
        };
        let Some(row) = self.repo.get(tenant, &plan_id).await? else {
            return Ok(());
        };
        let Some(plan) = row
            .plan
            .and_then(|plan| serde_json::from_value::<Plan>(plan).ok())
        else {
            return Ok(());
        };
        let blocked = WorkflowBlocked {
            plan_id: plan_id.clone(),
            failed_key: key.clone(),
            failed_task: task.clone(),
            blocked: dependents(&plan, &key),
            reason: failed.reason.clone(),
        };
        let now = now_ms();
        let event = self.event(tenant, &envelope.correlationid, &blocked)?;
        if let Some(staged) = self
            .repo
            .announce_once(WORKER.name, &envelope.id, now, event)
            .await?
        {
            self.outbox.relay(staged, now).await;
            tracing::info!(plan = %plan_id, failed = %key, blocked = blocked.blocked.len(), "workflow blocked");
        }
        Ok(())
    }
}

/// Every task that depends on `key`, directly or not, in plan order.
pub fn dependents(plan: &Plan, key: &str) -> Vec<String> {
    let mut successors: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for task in &plan.tasks {
        for dependency in &task.depends_on {
            successors
                .entry(dependency.as_str())
                .or_default()
                .push(task.id.as_str());
        }
    }
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut queue = VecDeque::from([key]);
    while let Some(next) = queue.pop_front() {
        for &successor in successors.get(next).into_iter().flatten() {
            if seen.insert(successor) {
                queue.push_back(successor);
            }
        }
    }
    plan.tasks
        .iter()
        .filter(|t| seen.contains(t.id.as_str()))
        .map(|t| t.id.clone())
        .collect()
}

/// A fresh Orchestrator task id for every task of the plan.
pub fn new_task_ids(plan: &Plan) -> BTreeMap<String, String> {
    plan.tasks
        .iter()
        .map(|task| (task.id.clone(), uuid::Uuid::new_v4().to_string()))
        .collect()
}

/// `plan.created`: the tasks as the Orchestrator's batch names them.
pub fn plan_created(
    id: &str,
    goal: Option<&str>,
    plan: &Plan,
    analysis: &Analysis,
    ids: &BTreeMap<String, String>,
) -> PlanCreated {
    let critical: BTreeSet<&str> = analysis.critical_path.iter().map(String::as_str).collect();
    let tasks = plan
        .tasks
        .iter()
        .map(|task| {
            let described: Vec<String> = [
                task.phase.as_ref().map(|p| format!("phase: {p}")),
                task.complexity
                    .map(|c| format!("complexity: {}", complexity_word(c))),
                goal.map(|g| format!("goal: {g}")),
            ]
            .into_iter()
            .flatten()
            .collect();
            PlannedTask {
                key: task.id.clone(),
                task_id: ids.get(&task.id).cloned().unwrap_or_default(),
                title: if task.title.trim().is_empty() {
                    task.id.clone()
                } else {
                    task.title.clone()
                },
                role: task.role.clone(),
                depends_on: task.depends_on.clone(),
                description: (!described.is_empty()).then(|| described.join("; ")),
                acceptance_criteria: task.acceptance_criteria.clone(),
                estimate_min: task.estimate.mean(),
                priority: Some(
                    if critical.contains(task.id.as_str()) {
                        "high"
                    } else {
                        "normal"
                    }
                    .to_owned(),
                ),
            }
        })
        .collect();
    PlanCreated {
        plan_id: id.to_owned(),
        goal: goal.map(str::to_owned),
        tasks,
    }
}

fn complexity_word(complexity: Complexity) -> &'static str {
    match complexity {
        Complexity::Small => "small",
        Complexity::Medium => "medium",
        Complexity::Large => "large",
    }
}
