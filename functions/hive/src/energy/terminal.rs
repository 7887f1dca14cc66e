//! Key figures as aligned plain-text tables for the terminal.

use std::collections::BTreeSet;
use std::fmt::Write;

use ecosystemiser_engine::uncertainty::Stats;
use ecosystemiser_engine::{Economics, ParetoFront, Results, Status, UncertaintySummary};

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
    if let Some(e) = &results.economics {
        section(&mut out, &format!("Economics over {} years, against the baseline", e.project_years), &economics_rows(e));
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

/// Annual figures, the baseline's first; what needs a baseline without an
/// optimum says so once instead of showing blanks.
fn economics_rows(e: &Economics) -> Vec<Vec<String>> {
    let money = |v: Option<f64>| optional(v);
    let mut rows = Vec::new();
    match e.baseline_cost_per_year {
        Some(baseline) => rows.push(row(["baseline cost per year", &num(baseline)])),
        None => rows.push(row(["baseline", &format!("{} (no savings, NPV, paybacks or IRR)", status(e.baseline_status))])),
    }
    rows.push(row(["cost per year", &num(e.cost_per_year)]));
    rows.push(row(["operating cost per year", &num(e.operating_cost_per_year)]));
    if e.baseline_cost_per_year.is_some() {
        rows.push(row(["savings per year", &money(e.savings_per_year)]));
    }
    rows.push(row(["capex", &num(e.capex)]));
    if e.baseline_cost_per_year.is_some() {
        rows.push(row(["NPV", &money(e.npv)]));
        rows.push(row(["simple payback", &e.simple_payback_years.map_or("none".into(), |v| format!("{v:.2} years"))]));
        rows.push(row(["discounted payback", &e.discounted_payback_years.map_or("none".into(), |v| format!("{v} years"))]));
        rows.push(row(["IRR", &e.irr.map_or("none".into(), |v| format!("{:.2} %", v * 100.0))]));
    }
    for (source, lcoe) in &e.lcoe_per_kwh {
        rows.push(row([&format!("LCOE {source}"), &format!("{lcoe:.4} per kWh")]));
    }
    rows
}

pub fn pareto_summary(front: &ParetoFront) -> String {
    let keys: BTreeSet<&String> = front.points.iter().flat_map(|p| p.sizes.keys()).collect();
    let with_economics = front.points.iter().any(|p| p.economics.is_some());
    let mut header: Vec<String> = ["#", "status", "CO2 cap kg", "cost", "CO2 kg"].iter().map(|s| s.to_string()).collect();
    if with_economics {
        header.extend(["NPV", "payback", "disc. payback"].map(String::from));
    }
    header.extend(keys.iter().map(|k| k.to_string()));
    let mut rows = vec![header];
    for (i, p) in front.points.iter().enumerate() {
        let mut r = vec![(i + 1).to_string(), status(p.status).to_string(), optional(p.epsilon_co2_kg), optional(p.cost), optional(p.co2_kg)];
        if with_economics {
            let e = p.economics.as_ref();
            r.push(optional(e.and_then(|e| e.npv)));
            r.push(optional(e.and_then(|e| e.simple_payback_years)));
            r.push(e.and_then(|e| e.discounted_payback_years).map_or("—".into(), |v| v.to_string()));
        }
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
    // Gains: their VaR and CVaR are taken from the low tail.
    for (name, s) in [("NPV", &summary.npv), ("savings/year", &summary.savings_per_year)] {
        if let Some(s) = s {
            stats.push(stats_row(name, s));
        }
    }
    section(&mut out, "Statistics over optimal samples", &stats);
    if let Some(p) = summary.p_npv_positive {
        section(&mut out, "Economics", &[row(["P(NPV > 0)", &format!("{:.1} %", p * 100.0)])]);
    }
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
