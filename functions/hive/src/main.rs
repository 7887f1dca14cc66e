//! `hive`: the local platform and the EcoSystemiser command line.
//!
//! `main` stays thin: it parses the command line and hands over to the module
//! that owns the command. Config and clients are built once, there.

/// `println!`, `print!` and `eprintln!` panic when the reader has gone
/// (`hive optimize … | head`); these write and ignore a closed pipe, since
/// nobody is left to tell.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod bench;
mod energy;
mod guardian;
mod guardian_contracts;
mod plan;
mod platform;
mod review;
mod tail;
mod work;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "hive", version, about = "Hive: the local platform and the EcoSystemiser CLI")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks a system file and lists every error with its line.
    Validate(energy::ValidateArgs),
    /// Optimises a system and writes results.json, series.csv and report.html.
    Optimize(energy::OptimizeArgs),
    /// Computes the cost–CO2 Pareto front.
    Pareto(energy::ParetoArgs),
    /// Samples uncertain parameters and summarises the spread of outcomes.
    Uncertainty(energy::UncertaintyArgs),
    /// Runs every function in one process: HTTP, queue consumers, schedules.
    Serve(platform::ServeArgs),
    /// Mints a dev token (HS256) with the configured or the local secret.
    Token(platform::TokenArgs),
    /// The platform's events: `hive events tail [--type T]` follows them.
    Events(tail::EventsArgs),
    /// A reference worker: runs COMMAND for each task it claims.
    Worker(work::WorkerArgs),
    /// The Orchestrator's tasks: `list`, `show ID`, `history ID`.
    Tasks(work::TasksArgs),
    /// Guardian: `check PATH`, `rules [--json]`, `metrics PATH --json`.
    Guardian(guardian::GuardianArgs),
    /// The Reviewer's judgement on local files: `review PATH… [--json]`.
    Review(review::ReviewArgs),
    /// The Planner: `plan FILE|--goal TEXT` prints the critical path, the
    /// makespan, the schedule and the PERT odds.
    Plan(plan::PlanArgs),
    /// Benchmarks: `tasks` burns down tasks through the tasks API.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => energy::validate(args),
        Command::Optimize(args) => energy::optimize_command(args),
        Command::Pareto(args) => energy::pareto_command(args),
        Command::Uncertainty(args) => energy::uncertainty_command(args),
        Command::Serve(args) => platform::serve(args),
        Command::Token(args) => platform::token(args),
        Command::Events(args) => tail::events(args),
        Command::Worker(args) => work::worker(args),
        Command::Tasks(args) => work::tasks(args),
        Command::Guardian(args) => guardian::guardian(args),
        Command::Review(args) => review::review(args),
        Command::Plan(args) => plan::plan(args),
        Command::Bench(args) => bench::bench(args),
    }
}
