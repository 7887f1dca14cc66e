//! `hive guardian check|rules|metrics`: Guardian on the command line.
//!
//! `check` walks the paths (skipping hidden folders, `target`,
//! `node_modules`, `__pycache__` and guardian.toml's `exclude`), reads and
//! analyses the files on every core, and prints the findings. Exit codes:
//! 0 below the fail level, 1 at or above it, 2 for usage, configuration or
//! internal errors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

use guardian_engine::analysis::SourceLanguage;
use guardian_engine::review::changed_lines_from_diff;
use guardian_engine::{Config, FileReport, Review, Severity, analyse, report};

#[derive(clap::Args)]
pub struct GuardianArgs {
    #[command(subcommand)]
    command: GuardianCommand,
}

#[derive(clap::Subcommand)]
enum GuardianCommand {
    /// Reviews Python and Rust files against the golden rules.
    Check(CheckArgs),
    /// Lists the rules: id, severity, language, message, help and examples.
    Rules(RulesArgs),
    /// Per-function metrics (length, complexity, public, documented).
    Metrics(MetricsArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Files or folders to check.
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Run only the rules at or above this level.
    #[arg(long, default_value = "info", value_parser = parse_level)]
    level: Severity,
    /// Exit 1 when a finding is at or above this level.
    #[arg(long, default_value = "error", value_parser = parse_level)]
    fail_level: Severity,
    /// Findings whose fingerprint is in this file (the JSON output of an
    /// earlier run) do not count.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Report only findings on lines changed since this git ref.
    #[arg(long)]
    changed_since: Option<String>,
    /// guardian.toml to use; by default the one in the first path or the
    /// current folder.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Extra path globs to skip, as guardian.toml's `exclude`.
    #[arg(long)]
    exclude: Vec<String>,
    /// Files analysed at once; by default one per core.
    #[arg(long)]
    jobs: Option<usize>,
}

#[derive(clap::Args)]
struct RulesArgs {
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct MetricsArgs {
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// JSON (the only format).
    #[arg(long)]
    json: bool,
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    exclude: Vec<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
    Github,
}

fn parse_level(text: &str) -> Result<Severity, String> {
    text.parse()
}

/// A stack large enough for any tree that passes the bracket-depth guard.
const ANALYSIS_STACK: usize = 256 * 1024 * 1024;
/// Folders never walked into.
const SKIPPED: &[&str] = &["target", "node_modules", "__pycache__"];

pub fn guardian(args: GuardianArgs) -> ExitCode {
    match args.command {
        GuardianCommand::Check(args) => check(args),
        GuardianCommand::Rules(args) => rules(args),
        GuardianCommand::Metrics(args) => metrics(args),
    }
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    errln!("hive guardian: {message}");
    ExitCode::from(2)
}

fn rules(args: RulesArgs) -> ExitCode {
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report::rules_json()).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    for rule in guardian_engine::rules::ALL {
        let ruff = rule.ruff.map(|r| format!(" (ruff {r})")).unwrap_or_default();
        outln!("{:<24} {:<8} {:<6} {}{ruff}", rule.id, rule.severity.as_str(), format!("{:?}", rule.language).to_lowercase(), rule.message);
    }
    ExitCode::SUCCESS
}

fn load_config(explicit: Option<&Path>, first: &Path, exclude: &[String]) -> Result<Config, String> {
    let candidate = match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => {
            let dir = if first.is_dir() { first.to_path_buf() } else { PathBuf::from(".") };
            Some(dir.join("guardian.toml")).filter(|p| p.is_file())
        }
    };
    let mut config = match candidate {
        None => Config::standard(),
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            Config::parse(&text).map_err(|e| format!("{}:{}: {}: {}", path.display(), e.line, e.key, e.message))?
        }
    };
    config.exclude.extend(exclude.iter().map(|g| guardian_engine::glob::Glob::new(g)));
    Ok(config)
}

/// One file to analyse: its path as shown, and as matched by globs.
struct Target {
    shown: String,
    relative: String,
    path: PathBuf,
}

fn collect(paths: &[PathBuf], config: &Config) -> Result<Vec<Target>, String> {
    let mut targets = Vec::new();
    for root in paths {
        if root.is_file() {
            let shown = root.to_string_lossy().trim_start_matches("./").to_owned();
            targets.push(Target { relative: shown.clone(), shown, path: root.clone() });
            continue;
        }
        if !root.is_dir() {
            return Err(format!("{}: no such file or folder", root.display()));
        }
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
                let Ok(kind) = entry.file_type() else { continue };
                if kind.is_dir() {
                    if !name.starts_with('.') && !SKIPPED.contains(&name.as_str()) && !config.excluded(&relative) {
                        stack.push(path);
                    }
                } else if kind.is_file() && SourceLanguage::of(&name).is_some() && !config.excluded(&relative) {
                    let shown = path.to_string_lossy().trim_start_matches("./").to_owned();
                    targets.push(Target { shown, relative, path });
                }
            }
        }
    }
    targets.sort_by(|a, b| a.shown.cmp(&b.shown));
    Ok(targets)
}

/// Reads and analyses every target on `jobs` threads.
fn analyse_all(targets: &[Target], config: &Config, level: Severity, jobs: usize) -> Vec<FileReport> {
    let next = AtomicUsize::new(0);
    let mut reports: Vec<FileReport> = Vec::with_capacity(targets.len());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.max(1))
            .filter_map(|_| {
                std::thread::Builder::new()
                    .stack_size(ANALYSIS_STACK)
                    .spawn_scoped(scope, || {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(target) = targets.get(i) else { break };
                            let mut report = match std::fs::read(&target.path) {
                                Ok(bytes) => analyse(&target.relative, &bytes, config, level),
                                Err(error) => {
                                    errln!("hive guardian: {}: {error}", target.shown);
                                    continue;
                                }
                            };
                            report.path = target.shown.clone();
                            for finding in &mut report.findings {
                                finding.path = target.shown.clone();
                            }
                            done.push(report);
                        }
                        done
                    })
                    .map_err(|error| errln!("hive guardian: spawning an analysis thread: {error}"))
                    .ok()
            })
            .collect();
        for worker in workers {
            reports.extend(worker.join().unwrap_or_default());
        }
    });
    reports
}

fn baseline(path: &Path) -> Result<BTreeSet<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let fingerprints = value["findings"]
        .as_array()
        .map(|findings| findings.iter().filter_map(|f| f["fingerprint"].as_str()).map(str::to_owned).collect::<BTreeSet<_>>())
        .or_else(|| value["fingerprints"].as_array().map(|a| a.iter().filter_map(|f| f.as_str()).map(str::to_owned).collect()));
    fingerprints.ok_or_else(|| format!("{}: expected the JSON output of `hive guardian check --format json`", path.display()))
}

fn changed_since(reference: &str, root: &Path) -> Result<guardian_engine::ChangedLines, String> {
    let dir = if root.is_dir() { root } else { root.parent().unwrap_or(Path::new(".")) };
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["diff", "-U0", "--no-color", "--no-ext-diff", "--relative", reference, "--"])
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if !output.status.success() {
        return Err(format!("git diff {reference}: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let prefix = if root.is_dir() { root.to_string_lossy().trim_start_matches("./").trim_end_matches('/').to_owned() } else { String::new() };
    let changed = changed_lines_from_diff(&String::from_utf8_lossy(&output.stdout));
    Ok(changed
        .into_iter()
        .map(|(path, ranges)| (if prefix.is_empty() || prefix == "." { path } else { format!("{prefix}/{path}") }, ranges))
        .collect())
}

fn check(args: CheckArgs) -> ExitCode {
    let first = args.paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
    let config = match load_config(args.config.as_deref(), &first, &args.exclude) {
        Ok(config) => config,
        Err(message) => return usage_error(message),
    };
    let targets = match collect(&args.paths, &config) {
        Ok(targets) => targets,
        Err(message) => return usage_error(message),
    };
    let baseline = match args.baseline.as_deref().map(baseline).transpose() {
        Ok(b) => b.unwrap_or_default(),
        Err(message) => return usage_error(message),
    };
    let changed = match args.changed_since.as_deref().map(|r| changed_since(r, &first)).transpose() {
        Ok(changed) => changed,
        Err(message) => return usage_error(message),
    };
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut reports = analyse_all(&targets, &config, args.level, jobs);
    if !config.contracts.is_empty() {
        match crate::guardian_contracts::check(&config, &args.paths, &reports, args.level) {
            Ok(extra) => {
                for extra in extra {
                    match reports.iter_mut().find(|r| r.path == extra.path) {
                        Some(report) => report.findings.extend(extra.findings),
                        None => reports.push(extra),
                    }
                }
            }
            Err(message) => return usage_error(message),
        }
    }
    let review = Review::new(reports, &baseline, changed.as_ref(), args.fail_level);
    match args.format {
        Format::Text => out!("{}", report::text(&review)),
        Format::Json => outln!("{}", report::json(&review)),
        Format::Sarif => outln!("{}", report::sarif(&review)),
        Format::Github => out!("{}", report::github(&review)),
    }
    if review.summary.failed { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn metrics(args: MetricsArgs) -> ExitCode {
    let first = args.paths.first().cloned().unwrap_or_else(|| PathBuf::from("."));
    let config = match load_config(args.config.as_deref(), &first, &args.exclude) {
        Ok(config) => config,
        Err(message) => return usage_error(message),
    };
    let targets = match collect(&args.paths, &config) {
        Ok(targets) => targets,
        Err(message) => return usage_error(message),
    };
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Metrics only: no rule needs to run past parsing, but parsing is the cost.
    let reports = analyse_all(&targets, &config, Severity::Critical, jobs);
    let review = Review::new(reports, &BTreeSet::new(), None, Severity::Critical);
    let _ = args.json;
    outln!("{}", report::metrics(&review));
    ExitCode::SUCCESS
}
