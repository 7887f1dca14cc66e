//! The EcoSystemiser commands: `validate`, `optimize`, `pareto`, `uncertainty`.
//!
//! The engine is pure, so this module does what it cannot: reads the system
//! file and its profiles, shows progress, prints the key figures, writes the
//! reports, and turns the outcome into an exit code.

mod output;
mod progress;
mod terminal;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ecosystemiser_engine::parallel;
use ecosystemiser_engine::pareto::pareto;
use ecosystemiser_engine::uncertainty::uncertainty;
use ecosystemiser_engine::{
    optimize, parse_system, FileSource, Invalid, Objective, Options, ParetoFront, Results, Sampling, SolverKind, Status,
    System, UncertainParameter, UncertaintySpec, UncertaintySummary, ValidationError,
};

/// Exit codes beyond success: the outcome is part of the interface, so that
/// scripts can tell a bad file from an infeasible system from a solver failure.
const EXIT_ERROR: u8 = 1;
const EXIT_INVALID: u8 = 2;
const EXIT_INFEASIBLE: u8 = 3;
const EXIT_NOT_SOLVED: u8 = 4;

#[derive(Args)]
pub struct ValidateArgs {
    /// The system file (YAML or JSON).
    pub file: PathBuf,
}

#[derive(Args)]
pub struct OptimizeArgs {
    /// The system file (YAML or JSON).
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = SolverArg::Lp)]
    pub solver: SolverArg,
    /// Steps per window of the rolling solver.
    #[arg(long, default_value_t = 168)]
    pub window: usize,
    /// Steps each rolling window overlaps the next.
    #[arg(long, default_value_t = 24)]
    pub overlap: usize,
    /// Overrides the file's objective.
    #[arg(long, value_enum)]
    pub objective: Option<ObjectiveArg>,
    /// Weights of a weighted objective, as COST,CO2; implies `--objective weighted`
    /// (without them, a weighted objective takes the file's weights, else 1,0).
    #[arg(long, value_name = "COST,CO2", value_parser = parse_weights)]
    pub weights: Option<Weights>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct ParetoArgs {
    /// The system file (YAML or JSON).
    pub file: PathBuf,
    /// Points on the front, both anchors included.
    #[arg(long)]
    pub points: usize,
    #[command(flatten)]
    pub jobs: JobsArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct UncertaintyArgs {
    /// The system file (YAML or JSON).
    pub file: PathBuf,
    #[arg(long)]
    pub samples: usize,
    #[arg(long)]
    pub seed: u64,
    /// An uncertain multiplier, e.g. `grid.import_price=uniform(0.8,1.2)`; repeat for more.
    #[arg(long = "param", value_name = "TARGET=DIST", required = true, value_parser = UncertainParameter::parse)]
    pub params: Vec<UncertainParameter>,
    #[arg(long, value_enum, default_value_t = SamplingArg::Lhs)]
    pub sampling: SamplingArg,
    #[command(flatten)]
    pub jobs: JobsArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args)]
pub struct JobsArgs {
    /// Jobs solved at once, each on its own thread [default: the available cores].
    #[arg(long = "jobs", short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

impl JobsArgs {
    fn threads(&self) -> usize {
        self.jobs.map_or_else(parallel::available_threads, usize::from)
    }
}

#[derive(Args)]
pub struct CommonArgs {
    /// Seconds each LP may take.
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: Option<f64>,
    /// Where to write results.json, series.csv and report.html [default: out/<system name>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SolverArg {
    Lp,
    RuleBased,
    Rolling,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectiveArg {
    Cost,
    Co2,
    Weighted,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplingArg {
    Lhs,
    Sobol,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    cost: f64,
    co2: f64,
}

pub fn validate(args: ValidateArgs) -> ExitCode {
    let system = match load(&args.file) {
        Ok(system) => system,
        Err(code) => return code,
    };
    outln!(
        "{}: valid — `{}`, {} steps × {} h, {} components, buses: {}",
        args.file.display(),
        system.name,
        system.timesteps,
        system.dt,
        system.components.len(),
        system.buses().join(", ")
    );
    ExitCode::SUCCESS
}

pub fn optimize_command(args: OptimizeArgs) -> ExitCode {
    report_errors(run_optimize(&args))
}

pub fn pareto_command(args: ParetoArgs) -> ExitCode {
    report_errors(run_pareto(&args))
}

pub fn uncertainty_command(args: UncertaintyArgs) -> ExitCode {
    report_errors(run_uncertainty(&args))
}

/// Failures outside the energy model (an output directory that cannot be
/// written) end here.
fn report_errors(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|error| {
        errln!("error: {error:#}");
        ExitCode::from(EXIT_ERROR)
    })
}

fn run_optimize(args: &OptimizeArgs) -> anyhow::Result<ExitCode> {
    let system = match load(&args.file) {
        Ok(system) => system,
        Err(code) => return Ok(code),
    };
    let options = Options {
        solver: match args.solver {
            SolverArg::Lp => SolverKind::Lp,
            SolverArg::RuleBased => SolverKind::RuleBased,
            SolverArg::Rolling => SolverKind::Rolling { window: args.window, overlap: args.overlap },
        },
        // Weights alone mean a weighted objective.
        objective: match (args.objective, args.weights) {
            (None, Some(_)) => Some(objective(ObjectiveArg::Weighted, args.weights, &system)),
            (arg, _) => arg.map(|o| objective(o, args.weights, &system)),
        },
        time_limit_s: args.common.time_limit,
        with_series: true,
    };
    let results = match progress::with_spinner("solving", || optimize(&system, &options)) {
        Ok(results) => results,
        Err(invalid) => return Ok(print_invalid(&args.file, &invalid)),
    };
    match results.status {
        Status::Optimal => out!("{}", terminal::run_summary(&results)),
        _ => print_not_solved(&results),
    }
    let dir = output::dir(args.common.out.as_deref(), &system);
    output::write_run(&dir, &system, &results)?;
    Ok(exit_for(results.status))
}

fn run_pareto(args: &ParetoArgs) -> anyhow::Result<ExitCode> {
    let system = match load(&args.file) {
        Ok(system) => system,
        Err(code) => return Ok(code),
    };
    let options = study_options(&args.common);
    let threads = args.jobs.threads();
    let front = progress::with_bar("Pareto points", |progress| pareto(&system, args.points, &options, threads, progress));
    out!("{}", terminal::pareto_summary(&front));
    let (status, objective) = pareto_outcome(&front);
    let dir = output::dir(args.common.out.as_deref(), &system);
    output::write_pareto(&dir, &system, &front, status, objective)?;
    Ok(exit_for(status))
}

fn run_uncertainty(args: &UncertaintyArgs) -> anyhow::Result<ExitCode> {
    let system = match load(&args.file) {
        Ok(system) => system,
        Err(code) => return Ok(code),
    };
    let sampling = match args.sampling {
        SamplingArg::Lhs => Sampling::LatinHypercube,
        SamplingArg::Sobol => Sampling::Sobol,
    };
    let spec = UncertaintySpec { parameters: args.params.clone(), samples: args.samples, seed: args.seed, sampling };
    if let Err(invalid) = spec.check(&system) {
        return Ok(print_invalid(&args.file, &invalid));
    }
    let options = study_options(&args.common);
    let threads = args.jobs.threads();
    let summary = progress::with_bar("samples", |progress| uncertainty(&system, &spec, &options, threads, progress));
    out!("{}", terminal::uncertainty_summary(&summary));
    let (status, objective) = uncertainty_outcome(&summary);
    let dir = output::dir(args.common.out.as_deref(), &system);
    output::write_uncertainty(&dir, &system, &summary, status, objective)?;
    Ok(exit_for(status))
}

/// Studies solve many LPs and keep only totals, so they skip the series.
fn study_options(common: &CommonArgs) -> Options {
    Options { solver: SolverKind::Lp, objective: None, time_limit_s: common.time_limit, with_series: false }
}

fn objective(arg: ObjectiveArg, weights: Option<Weights>, system: &System) -> Objective {
    match arg {
        ObjectiveArg::Cost => Objective::Cost,
        ObjectiveArg::Co2 => Objective::Co2,
        ObjectiveArg::Weighted => match (weights, system.objective) {
            (Some(w), _) => Objective::Weighted { cost: w.cost, co2: w.co2 },
            (None, Objective::Weighted { cost, co2 }) => Objective::Weighted { cost, co2 },
            (None, _) => Objective::Weighted { cost: 1.0, co2: 0.0 },
        },
    }
}

fn parse_weights(text: &str) -> Result<Weights, String> {
    let parse = |s: &str| s.trim().parse::<f64>().map_err(|e| format!("`{s}`: {e}"));
    match text.split_once(',') {
        Some((cost, co2)) => Ok(Weights { cost: parse(cost)?, co2: parse(co2)? }),
        None => Err("expected COST,CO2, e.g. 1,0.05".into()),
    }
}

/// The study succeeds when any point is solved; its objective is the cheapest cost.
fn pareto_outcome(front: &ParetoFront) -> (Status, Option<f64>) {
    let solved = front.points.iter().filter(|p| p.status.is_optimal());
    let cheapest = solved.filter_map(|p| p.cost).min_by(f64::total_cmp);
    match (cheapest, front.points.first()) {
        (Some(cost), _) => (Status::Optimal, Some(cost)),
        (None, Some(first)) => (first.status, None),
        (None, None) => (Status::Unreliable, None),
    }
}

/// The study succeeds when any sample is solved; its objective is the mean.
fn uncertainty_outcome(summary: &UncertaintySummary) -> (Status, Option<f64>) {
    if summary.optimal > 0 {
        return (Status::Optimal, Some(summary.objective.mean));
    }
    (summary.results.first().map_or(Status::Unreliable, |r| r.status), None)
}

fn exit_for(status: Status) -> ExitCode {
    match status {
        Status::Optimal => ExitCode::SUCCESS,
        Status::Infeasible => ExitCode::from(EXIT_INFEASIBLE),
        Status::Unbounded | Status::Unreliable | Status::TimeLimit => ExitCode::from(EXIT_NOT_SOLVED),
    }
}

fn print_not_solved(results: &Results) {
    errln!("{}: {:?}", results.system, results.status);
    let Some(diagnosis) = &results.diagnosis else { return };
    errln!("{}", diagnosis.message);
    for s in &diagnosis.shortfalls {
        errln!("  bus {} step {}: demand {:.4} kW > max supply {:.4} kW", s.bus, s.step, s.demand_kw, s.max_supply_kw);
    }
}

/// Reads and validates a system file; on failure prints why and returns the exit code.
fn load(file: &Path) -> Result<System, ExitCode> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        errln!("error: cannot read {}: {e}", file.display());
        ExitCode::from(EXIT_INVALID)
    })?;
    let dir = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    parse_system(&text, &DirFiles { dir }).map_err(|invalid| print_invalid(file, &invalid))
}

fn print_invalid(file: &Path, invalid: &Invalid) -> ExitCode {
    for error in &invalid.errors {
        errln!("{}", located(file, error));
    }
    ExitCode::from(EXIT_INVALID)
}

/// `FILE:LINE: path: message`, the shape editors and terminals link to.
fn located(file: &Path, error: &ValidationError) -> String {
    let path = if error.path.is_empty() { "(document)" } else { &error.path };
    match error.line {
        Some(line) => format!("{}:{line}: {path}: {}", file.display(), error.message),
        None => format!("{}: {path}: {}", file.display(), error.message),
    }
}

/// Profiles and other referenced files, relative to the system file.
struct DirFiles {
    dir: PathBuf,
}

impl FileSource for DirFiles {
    fn read_text(&self, relative_path: &str) -> Result<String, String> {
        let path = self.dir.join(relative_path);
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_located() {
        let error = ValidationError { path: "components[1].capacity".into(), line: Some(7), message: "must be >= 0".into() };
        assert_eq!(located(Path::new("sys.yaml"), &error), "sys.yaml:7: components[1].capacity: must be >= 0");
        let error = ValidationError { path: String::new(), line: None, message: "empty".into() };
        assert_eq!(located(Path::new("sys.yaml"), &error), "sys.yaml: (document): empty");
    }

    #[test]
    fn weights_parse() {
        assert_eq!(parse_weights("1, 0.05"), Ok(Weights { cost: 1.0, co2: 0.05 }));
        assert!(parse_weights("1").is_err());
        assert!(parse_weights("a,b").is_err());
    }
}
