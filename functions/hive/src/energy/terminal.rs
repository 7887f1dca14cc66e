//! Key figures as aligned plain-text tables for the terminal.

use std::collections::BTreeSet;
use std::fmt::Write;

use ecosystemiser_engine::uncertainty::Stats;
use ecosystemiser_engine::{ParetoFront, Results, Status, UncertaintySummary};

pub fn run_summary(results: &Results) -> String {
    let mut out = String::new();
    let t = &results.timings;
    let mut run = vec![
        row(["status", status(results.status)]),
        row(["objective", &results.objective.map_or("—".into(), |o| format!("{} ({})", num(o), results.objective_kind))]),
        row(["solver", &format!("{}, {} steps × {} h", results.solver, results.timesteps, results.timestep_hours)]),
        row(["time", &format!("build {:.3} s, solve {:.3} s, total {:.3} s", t.build_s, t.solve_s, t.total_s)]),
    ];
    if let Some(iterations) = t.iterations {
        run.push(row(["iterations", &iterations.to_string()]));
    }
    section(&mut out, "Run", &run);
    if let Some(cost) = &results.cost {
        section(&mut out, "Cost", &cost.parts().iter().map(|(k, v)| row([k, &num(*v)])).collect::<Vec<_>>());
    }
    if let Some(co2) = results.co2_kg {
        section(&mut out, "CO2", &[row(["total", &format!("{} kg", num(co2))])]);
    }
    if !results.sizes.is_empty() {
        let sizes: Vec<Vec<String>> = results.sizes.iter().map(|(k, v)| row([k, &format!("{v:.4}"), unit_of(k)])).collect();
        section(&mut out, "Sizes", &sizes);
    }
    if let Some(kpis) = &results.kpis {
        let mut buses = vec![row(["bus", "served", "unmet", "generation", "curtailed", "import", "export", "peak import kW"])];
        for (bus, k) in &kpis.buses {
            let values = [k.demand_served_kwh, k.unmet_kwh, k.generation_kwh, k.curtailed_kwh, k.grid_import_kwh, k.grid_export_kwh, k.peak_import_kw];
            buses.push(std::iter::once(bus.clone()).chain(values.iter().map(|v| num(*v))).collect());
        }
        section(&mut out, "Energy per bus (kWh)", &buses);
        let mut shares = Vec::new();
        if let Some(v) = kpis.self_consumption {
            shares.push(row(["self-consumption", &format!("{:.1} %", v * 100.0)]));
        }
        if let Some(v) = kpis.self_sufficiency {
            shares.push(row(["self-sufficiency", &format!("{:.1} %", v * 100.0)]));
        }
        for (storage, cycles) in &kpis.storage_cycles {
            shares.push(row([&format!("{storage} cycles"), &num(*cycles)]));
        }
        if !shares.is_empty() {
            section(&mut out, "Electricity and storage", &shares);
        }
    }
    out
}

pub fn pareto_summary(front: &ParetoFront) -> String {
    let keys: BTreeSet<&String> = front.points.iter().flat_map(|p| p.sizes.keys()).collect();
    let mut rows = vec![["#", "status", "CO2 cap kg", "cost", "CO2 kg"].iter().map(|s| s.to_string()).chain(keys.iter().map(|k| k.to_string())).collect()];
    for (i, p) in front.points.iter().enumerate() {
        let mut r = vec![(i + 1).to_string(), status(p.status).to_string(), optional(p.epsilon_co2_kg), optional(p.cost), optional(p.co2_kg)];
        r.extend(keys.iter().map(|k| p.sizes.get(*k).map_or("—".into(), |v| format!("{v:.4}"))));
        rows.push(r);
    }
    let mut out = String::new();
    section(&mut out, &format!("Pareto front of {}", front.system), &rows);
    out
}

pub fn uncertainty_summary(summary: &UncertaintySummary) -> String {
    let mut out = String::new();
    let samples = [row(["samples", &summary.samples.to_string()]), row(["optimal", &summary.optimal.to_string()])];
    section(&mut out, &format!("Uncertainty study of {}", summary.system), &samples);
    let mut stats = vec![row(["", "mean", "std", "P10", "P50", "P90", "VaR 95", "CVaR 95"])];
    for (name, s) in [("objective", &summary.objective), ("cost", &summary.cost), ("CO2 kg", &summary.co2_kg)] {
        stats.push(stats_row(name, s));
    }
    section(&mut out, "Statistics over optimal samples", &stats);
    let mut sensitivity: Vec<_> = summary.sensitivity.iter().collect();
    sensitivity.sort_by(|a, b| b.spearman.abs().total_cmp(&a.spearman.abs()));
    let rows: Vec<Vec<String>> = sensitivity.iter().map(|s| row([&s.target, &format!("{:+.3}", s.spearman)])).collect();
    section(&mut out, "Spearman rank correlation with the objective", &rows);
    out
}

fn stats_row(name: &str, s: &Stats) -> Vec<String> {
    std::iter::once(name.to_string()).chain([s.mean, s.std, s.p10, s.p50, s.p90, s.var95, s.cvar95].iter().map(|v| num(*v))).collect()
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// A titled block whose columns are padded to line up: text left, numbers right.
fn section(out: &mut String, title: &str, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let is_number = |cell: &String| cell.parse::<f64>().is_ok() || cell == "—";
    // A column of numbers right-aligns its first row too, which may be a header.
    let numeric: Vec<bool> =
        (0..columns).map(|c| c > 0 && rows.len() > 1 && rows[1..].iter().filter_map(|r| r.get(c)).all(is_number)).collect();
    let _ = writeln!(out, "{title}");
    for r in rows {
        let mut line = String::from(" ");
        for (c, cell) in r.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            let right = numeric[c];
            if right {
                let _ = write!(line, " {}{cell}", " ".repeat(pad));
            } else {
                let _ = write!(line, " {cell}{}", " ".repeat(pad));
            }
            line.push(' ');
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn status(status: Status) -> &'static str {
    match status {
        Status::Optimal => "optimal",
        Status::Infeasible => "infeasible",
        Status::Unbounded => "unbounded",
        Status::Unreliable => "unreliable",
        Status::TimeLimit => "time limit",
    }
}

fn unit_of(key: &str) -> &'static str {
    if key.ends_with(".energy_kwh") { "kWh" } else { "kW" }
}

fn optional(value: Option<f64>) -> String {
    value.map_or("—".into(), num)
}

fn num(value: f64) -> String {
    if value.abs() >= 1e7 { format!("{value:.3e}") } else { format!("{value:.2}") }
}
