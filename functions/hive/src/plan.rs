//! `hive plan FILE|--goal TEXT`: the Planner on the command line.
//!
//! A YAML or JSON plan (or a PSPLIB `.sm` file), or a goal turned into a
//! plan, is validated and analysed: the critical path, the makespan under
//! the role capacities, the schedule and the PERT odds. Exit codes: 0 done,
//! 1 the file could not be read or the chart written, 2 the plan is invalid
//! (each error on stderr with its path and line) or the command line is.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use planner_engine::{
    Analysis, AnalysisOptions, Distribution, Format, Limits, Plan, PlanError, SourceMap, ValidPlan, analyse_with_progress,
    gantt_svg, heuristic, parse_plan_located, parse_psplib, validate,
};

const EXIT_UNREADABLE: u8 = 1;
const EXIT_INVALID: u8 = 2;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["file", "goal"])))]
pub struct PlanArgs {
    /// A plan in YAML (.yaml, .yml), JSON (.json) or PSPLIB (.sm).
    file: Option<PathBuf>,
    /// Plan this goal instead of reading a file.
    #[arg(long)]
    goal: Option<String>,
    /// Workers per role, e.g. backend=2,frontend=2,infra=1; they replace
    /// the file's counts for the roles named.
    #[arg(long, value_parser = parse_roles)]
    roles: Option<BTreeMap<String, u32>>,
    /// The deadline in minutes, for the odds of finishing by it.
    #[arg(long)]
    deadline: Option<f64>,
    /// Print the analysis as JSON.
    #[arg(long)]
    json: bool,
    /// Also write the Gantt chart as SVG to this file.
    #[arg(long)]
    gantt: Option<PathBuf>,
    /// The most tasks a plan may have.
    #[arg(long, default_value_t = 1000)]
    max_tasks: usize,
}

/// Monte Carlo draws and the RCPSP search: the schedule limit keeps the
/// result the same run after run; the time cap bounds huge plans.
const OPTIONS: AnalysisOptions = AnalysisOptions {
    monte_carlo_samples: 10_000,
    seed: 1,
    rcpsp_budget: Duration::from_secs(5),
    rcpsp_schedules: 5000,
    distribution: Distribution::PertBeta,
};

pub fn plan(args: PlanArgs) -> ExitCode {
    let (plan, source, map, planner) = match (&args.file, &args.goal) {
        (Some(file), _) => match read_plan(file) {
            Ok((plan, map)) => (plan, file.display().to_string(), map, "file"),
            Err(code) => return code,
        },
        (None, Some(goal)) => {
            let roles = args.roles.clone().unwrap_or_default();
            let (plan, planner) = plan_for_goal(goal, &roles, args.max_tasks);
            (plan, "goal".to_string(), SourceMap::default(), planner)
        }
        (None, None) => unreachable!("clap requires FILE or --goal"),
    };
    let mut plan = plan;
    if let Some(roles) = &args.roles {
        plan.roles.extend(roles.clone());
    }
    if args.deadline.is_some() {
        plan.deadline = args.deadline;
    }
    let limits = Limits { max_tasks: args.max_tasks, goal_plan: args.goal.is_some() };
    let valid = match validate(&plan, &limits) {
        Ok(valid) => valid,
        Err(mut errors) => {
            map.locate(&mut errors);
            return invalid(&source, &errors);
        }
    };
    let analysis = with_progress(|progress| analyse_with_progress(&valid, &OPTIONS, progress));
    if let Some(path) = &args.gantt
        && let Err(e) = std::fs::write(path, gantt_svg(&valid, &analysis))
    {
        errln!("{}: {e}", path.display());
        return ExitCode::from(EXIT_UNREADABLE);
    }
    if args.json {
        let document = serde_json::to_value(&analysis).and_then(|mut document| {
            document["planner"] = planner.into();
            serde_json::to_string_pretty(&document)
        });
        match document {
            Ok(text) => outln!("{text}"),
            Err(e) => {
                errln!("the analysis did not serialise: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print_text(&valid, &analysis, planner);
    }
    ExitCode::SUCCESS
}

/// The one place a goal becomes a plan. The command line has no LLM, so
/// it is the deterministic heuristic; the name of the planner comes back
/// with the plan.
fn plan_for_goal(goal: &str, roles: &BTreeMap<String, u32>, max_tasks: usize) -> (Plan, &'static str) {
    (heuristic(goal, roles, max_tasks), "heuristic")
}

fn read_plan(file: &Path) -> Result<(Plan, SourceMap), ExitCode> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        errln!("{}: {e}", file.display());
        ExitCode::from(EXIT_UNREADABLE)
    })?;
    let source = file.display().to_string();
    let extension = file.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let parsed = match extension.as_str() {
        "sm" => parse_psplib(&text).map(|plan| (plan, SourceMap::default())),
        "json" => parse_plan_located(&text, Format::Json),
        _ => parse_plan_located(&text, Format::Yaml),
    };
    parsed.map_err(|errors| invalid(&source, &errors))
}

/// Every error as `FILE:LINE: PATH: message`, and exit code 2.
fn invalid(source: &str, errors: &[PlanError]) -> ExitCode {
    for e in errors {
        let at = match e.line {
            Some(line) => format!("{source}:{line}"),
            None => source.to_string(),
        };
        let path = if e.path.is_empty() { String::new() } else { format!(" {}:", e.path) };
        errln!("{at}:{path} {}", e.kind);
    }
    errln!("{} error{} in the plan", errors.len(), if errors.len() == 1 { "" } else { "s" });
    ExitCode::from(EXIT_INVALID)
}

/// A bar on stderr while the analysis runs, when stderr is a terminal.
fn with_progress<T>(work: impl FnOnce(&dyn Fn(f64)) -> T) -> T {
    let bar = if std::io::stderr().is_terminal() {
        let style = ProgressStyle::with_template("analysing [{bar:30}] {percent}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        ProgressBar::new(1000).with_style(style)
    } else {
        ProgressBar::hidden()
    };
    let result = work(&|fraction| bar.set_position((fraction * 1000.0) as u64));
    bar.finish_and_clear();
    result
}

fn print_text(plan: &ValidPlan, analysis: &Analysis, planner: &str) {
    let plan = plan.plan();
    let roles: Vec<String> = plan.roles.iter().map(|(r, c)| format!("{r}={c}")).collect();
    outln!("plan: {} tasks from the {planner}; roles {}", plan.tasks.len(), if roles.is_empty() { "none".into() } else { roles.join(",") });
    outln!("makespan: {} min with the roles and resources ({} min by precedence alone)", minutes(analysis.makespan), minutes(analysis.cpm_makespan));
    outln!("critical path: {}", analysis.critical_path.join(" -> "));
    outln!("schedule:");
    let width = analysis.schedule.iter().map(|s| s.id.chars().count()).max().unwrap_or(2).max(2);
    outln!("  {:width$}  {:>8}  {:>8}  {:>8}  role", "id", "start", "finish", "float");
    for (slot, task) in analysis.schedule.iter().zip(&plan.tasks) {
        let float = analysis.cpm.get(&slot.id).map_or(0.0, |c| c.total_float);
        let mark = if analysis.critical_path.contains(&slot.id) { "  critical" } else { "" };
        let role = if task.role.is_empty() { "-" } else { &task.role };
        outln!(
            "  {:width$}  {:>8}  {:>8}  {:>8}  {role}{mark}",
            slot.id,
            minutes(slot.start),
            minutes(slot.finish),
            minutes(float)
        );
    }
    let pert = &analysis.pert;
    outln!("PERT: mean {} min, std dev {} min along the critical path", minutes(pert.mean), minutes(pert.std_dev));
    if let (Some(p50), Some(p90)) = (pert.monte_carlo_p50, pert.monte_carlo_p90) {
        outln!("Monte Carlo: p50 {} min, p90 {} min", minutes(p50), minutes(p90));
    }
    if let (Some(deadline), Some(p)) = (plan.deadline, pert.probability_by_deadline) {
        let mc = pert.monte_carlo_probability.map_or(String::new(), |m| format!(", {:.1} % by Monte Carlo", 100.0 * m));
        outln!("P(finish by {} min) = {:.1} % (normal approximation){mc}", minutes(deadline), 100.0 * p);
        if analysis.makespan > deadline {
            outln!("note: the resource-constrained schedule ends at {} min, after the deadline", minutes(analysis.makespan));
        }
    }
}

fn minutes(t: f64) -> String {
    if (t - t.round()).abs() < 1e-9 { format!("{}", t.round() as i64) } else { format!("{t:.1}") }
}

fn parse_roles(text: &str) -> Result<BTreeMap<String, u32>, String> {
    text.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (name, count) = part.split_once('=').ok_or_else(|| format!("`{part}` is not ROLE=COUNT"))?;
            let count = count.trim().parse::<u32>().map_err(|_| format!("`{count}` is not a count of workers"))?;
            Ok((name.trim().to_string(), count))
        })
        .collect()
}
