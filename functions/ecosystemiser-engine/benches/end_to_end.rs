//! End to end on the reference case: parse, build, solve, KPIs, the
//! economics baseline (for the economics case), and the results JSON, series
//! CSV and HTML report strings.
//!
//! Each case runs in a fresh child process (this binary, re-executed with
//! `--case NAME`) so that the peak memory it reports (`VmHWM`) is that case's
//! alone. Phase times are medians over the runs.
//!
//!     cargo bench -p ecosystemiser-engine --bench end_to_end            # 5 runs per case
//!     cargo bench -p ecosystemiser-engine --bench end_to_end -- --quick # 1 run per case
//!     cargo bench -p ecosystemiser-engine --bench end_to_end -- sizing  # cases whose name contains `sizing`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ecosystemiser_engine::{optimize, parse_system, report, FileSource, Options, Status};

/// A case, and the numbers the issue measures it against.
struct Case {
    name: &'static str,
    file: &'static str,
    /// Quarter-hourly: 4 × 8760 steps, every profile value repeated 4 times.
    quarter_hourly: bool,
    target_s: f64,
    anchors: &'static [(&'static str, f64)],
}

const CASES: &[Case] = &[
    Case {
        name: "dispatch_8760",
        file: "dispatch.yaml",
        quarter_hourly: false,
        target_s: 0.55,
        anchors: &[("HiGHS simplex", 0.56), ("clarabel via Python", 0.89)],
    },
    Case {
        name: "sizing_8760",
        file: "sizing.yaml",
        quarter_hourly: false,
        target_s: 1.1,
        anchors: &[("HiGHS IPM", 5.7), ("clarabel via Python", 1.46)],
    },
    Case { name: "dispatch_35040", file: "dispatch.yaml", quarter_hourly: true, target_s: 5.0, anchors: &[] },
    // The sizing case with capex and a baseline: the baseline (grid only, no
    // sizing columns) must not double the run, so the target is twice sizing's.
    Case { name: "economics_8760", file: "economics.yaml", quarter_hourly: false, target_s: 2.2, anchors: &[] },
];

const PEAK_TARGET_MB: f64 = 250.0;

const PHASES: [&str; 8] = ["parse", "build", "solve", "kpis", "base", "json", "csv", "html"];
/// Where `solve` and the baseline's `base` sit in [`PHASES`].
const SOLVE: usize = 2;
const BASELINE: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--case") {
        let runs = value_after(&args, "--runs").unwrap_or(5);
        run_case(&args[i + 1], runs);
        return;
    }
    let runs = if args.iter().any(|a| a == "--quick") { 1 } else { 5 };
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    println!("end to end, median of {runs} run(s) per case; each case in its own process");
    // The machine may be shared; the load says how far to trust the times.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("load average {} on {cores} cores", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    println!("{:<16} {}  {:>8} {:>9}  objective", "case", PHASES.map(|p| format!("{p:>7}")).join(" "), "total s", "peak MB");
    for case in CASES.iter().filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str()))) {
        match measure_in_child(case, runs) {
            Ok(line) => report_case(case, &line),
            Err(error) => println!("{:<16} failed: {error}", case.name),
        }
    }
}

fn value_after(args: &[String], flag: &str) -> Option<usize> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1)?.parse().ok()
}

/// What a child reports: phase medians, total, peak memory, outcome.
struct Measured {
    phases: Vec<f64>,
    total_s: f64,
    peak_mb: f64,
    objective: String,
}

fn measure_in_child(case: &Case, runs: usize) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args(["--case", case.name, "--runs", &runs.to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
        return Err(format!("no result ({}): {}", output.status, String::from_utf8_lossy(&output.stderr)));
    };
    let fields: Vec<&str> = line.split_whitespace().collect();
    let numbers: Vec<f64> = fields[..PHASES.len() + 2].iter().map(|f| f.parse().unwrap_or(f64::NAN)).collect();
    Ok(Measured {
        phases: numbers[..PHASES.len()].to_vec(),
        total_s: numbers[PHASES.len()],
        peak_mb: numbers[PHASES.len() + 1],
        objective: fields[PHASES.len() + 2..].join(" "),
    })
}

fn report_case(case: &Case, m: &Measured) {
    let phases: Vec<String> = m.phases.iter().map(|s| format!("{s:>7.3}")).collect();
    println!("{:<16} {}  {:>8.3} {:>9.1}  {}", case.name, phases.join(" "), m.total_s, m.peak_mb, m.objective);
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "{:<16} target total <= {} s: {:.2}x of target, {}",
        "",
        case.target_s,
        m.total_s / case.target_s,
        verdict(m.total_s <= case.target_s)
    );
    for (anchor, seconds) in case.anchors {
        println!("{:<16} anchor {anchor} {seconds} s: total is {:.2}x, solve alone {:.2}x", "", m.total_s / seconds, m.phases[SOLVE] / seconds);
    }
    if m.phases[BASELINE] > 0.0 {
        let ratio = m.phases[BASELINE] / m.phases[SOLVE];
        println!(
            "{:<16} baseline solve {:.3} s against the sizing solve {:.3} s: {ratio:.2}x, {}",
            "",
            m.phases[BASELINE],
            m.phases[SOLVE],
            if ratio < 1.0 { "ok (does not double the run)" } else { "MISSED (doubles the run)" }
        );
    }
    if !case.quarter_hourly {
        println!("{:<16} peak memory <= {PEAK_TARGET_MB} MB: {}", "", verdict(m.peak_mb <= PEAK_TARGET_MB));
    }
}

/// In the child: runs the case `runs` times and prints one `RESULT` line.
fn run_case(name: &str, runs: usize) {
    let case = CASES.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("unknown case {name}"));
    let (text, files) = load(case);
    let mut samples: Vec<[f64; PHASES.len()]> = Vec::new();
    let mut objective = String::new();
    for _ in 0..runs.max(1) {
        let (phases, outcome) = run_once(&text, &files);
        samples.push(phases);
        objective = outcome;
    }
    let medians: Vec<f64> = (0..PHASES.len()).map(|p| median(samples.iter().map(|s| s[p]).collect())).collect();
    let total = median(samples.iter().map(|s| s.iter().sum()).collect());
    let values: Vec<String> = medians.iter().map(|v| format!("{v:.6}")).collect();
    println!("RESULT {} {total:.6} {:.1} {objective}", values.join(" "), peak_mb());
}

/// The phases of one run, in the order of [`PHASES`], and the outcome.
fn run_once(text: &str, files: &Memory) -> ([f64; PHASES.len()], String) {
    let started = Instant::now();
    let system = parse_system(text, files).unwrap_or_else(|e| panic!("reference case is valid: {e}"));
    let parse = started.elapsed().as_secs_f64();
    let results = optimize(&system, &Options::lp()).expect("options fit");
    let t = &results.timings;
    // `total_s` ends before the baseline, which is timed on its own.
    let kpis = t.total_s - t.build_s - t.solve_s;
    let baseline = results.economics.as_ref().map_or(0.0, |e| e.baseline_solve_s);
    let timed = |f: &dyn Fn() -> String| {
        let started = Instant::now();
        let text = f();
        std::hint::black_box(text.len());
        started.elapsed().as_secs_f64()
    };
    let json = timed(&|| serde_json::to_string(&results).expect("results serialise"));
    let csv = timed(&|| report::series_csv(&results));
    let html = timed(&|| report::html(&system, &results));
    let outcome = match (results.status, results.objective) {
        (Status::Optimal, Some(objective)) => format!("{objective:.6}"),
        (status, _) => format!("{status:?}"),
    };
    ([parse, t.build_s, t.solve_s, kpis, baseline, json, csv, html], outcome)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The peak resident set of this process so far, from the kernel.
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    kb / 1024.0
}

/// Files read up front, so that parse time is not disk time.
struct Memory(Vec<(String, String)>);

impl FileSource for Memory {
    fn read_text(&self, relative_path: &str) -> Result<String, String> {
        self.0.iter().find(|(p, _)| p == relative_path).map(|(_, t)| t.clone()).ok_or_else(|| format!("{relative_path} not loaded"))
    }
}

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/residential_year")
}

fn load(case: &Case) -> (String, Memory) {
    let read = |name: &str| std::fs::read_to_string(example_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let text = read(case.file);
    let csv = read("profiles.csv");
    if case.quarter_hourly {
        (quarter_hourly(&text, &csv), Memory(Vec::new()))
    } else {
        (text, Memory(vec![("profiles.csv".into(), csv)]))
    }
}

/// The same system at 15-minute steps: 4 × the steps, dt / 4, and every
/// profile value repeated 4 times as an inline profile.
fn quarter_hourly(text: &str, csv: &str) -> String {
    let mut rows = csv.lines();
    let names: Vec<&str> = rows.next().expect("csv header").split(',').collect();
    let mut columns: Vec<Vec<&str>> = vec![Vec::new(); names.len()];
    for row in rows.filter(|r| !r.trim().is_empty()) {
        for (column, value) in columns.iter_mut().zip(row.split(',')) {
            column.extend([value.trim(); 4]);
        }
    }
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        match line.split(':').next().unwrap_or("") {
            "timesteps" => out.push_str(&format!("timesteps: {}\n", columns[0].len())),
            "timestep_hours" => out.push_str("timestep_hours: 0.25\n"),
            "profiles" => {
                lines.next(); // `  csv: profiles.csv`
                out.push_str("profiles:\n  inline:\n");
                for (name, values) in names.iter().zip(&columns) {
                    out.push_str(&format!("    {name}: [{}]\n", values.join(", ")));
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
