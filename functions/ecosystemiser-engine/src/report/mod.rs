//! Reports as strings: the series as CSV, and self-contained HTML pages for a
//! run, a Pareto front and an uncertainty study. Writing them is the
//! caller's business; this module does no I/O.

mod buses;
mod economics;
mod page;
mod studies;
mod svg;

use std::fmt::Write;

use crate::model::System;
use crate::results::{Results, Status};

pub use studies::{pareto_html, uncertainty_html};

use page::{escape, fmt_num, key_values, section, table};

/// Every series as a column `component.variable`, one row per step, after a
/// `step` and an `hour` (= step × dt) column. Values keep full precision.
pub fn series_csv(results: &Results) -> String {
    let mut header = vec!["step".to_string(), "hour".to_string()];
    let mut columns: Vec<&[f64]> = Vec::new();
    for (component, variables) in &results.series {
        for (variable, values) in variables {
            header.push(csv_field(&format!("{component}.{variable}")));
            columns.push(values);
        }
    }
    let rows = columns.iter().map(|c| c.len()).max().unwrap_or(0);
    let mut out = header.join(",");
    out.push('\n');
    for step in 0..rows {
        let _ = write!(out, "{step},{}", step as f64 * results.timestep_hours);
        for column in &columns {
            match column.get(step) {
                Some(v) => {
                    let _ = write!(out, ",{v}");
                }
                None => out.push(','),
            }
        }
        out.push('\n');
    }
    out
}

/// Quotes a CSV field only when it has to.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// The report of one run: economics against the baseline first (for a
/// system with an `economics` section), then outcome, KPIs, costs, sizes,
/// dispatch per bus and storage levels. A run without a solution shows its
/// diagnosis instead.
pub fn html(system: &System, results: &Results) -> String {
    let (title, details) = header(results);
    let mut body = title;
    if !results.status.is_optimal() {
        body.push_str(&details);
        body.push_str(&diagnosis(results));
        return page::page(&format!("{} — {}", results.system, status_name(results.status)), &body);
    }
    // What the investment saves comes before how the solver got there.
    if let Some(e) = &results.economics {
        body.push_str(&economics::economics_section(system, e));
    }
    body.push_str(&details);
    body.push_str(&kpi_section(results));
    body.push_str(&cost_section(results));
    body.push_str(&sizes_section(results));
    body.push_str(&buses::dispatch_sections(system, results));
    body.push_str(&buses::storage_section(system, results));
    page::page(&format!("{} — EcoSystemiser report", results.system), &body)
}

pub(crate) fn status_name(status: Status) -> &'static str {
    match status {
        Status::Optimal => "optimal",
        Status::Infeasible => "infeasible",
        Status::Unbounded => "unbounded",
        Status::Unreliable => "unreliable",
        Status::TimeLimit => "time limit",
    }
}

pub(crate) fn status_badge(status: Status) -> String {
    let class = if status.is_optimal() { "optimal" } else { "bad" };
    format!(r#"<span class="status {class}">{}</span>"#, status_name(status))
}

/// The title with the status, and the run's details.
fn header(results: &Results) -> (String, String) {
    let t = &results.timings;
    let mut rows = vec![
        ("Status", status_name(results.status).to_string()),
        ("Objective", results.objective.map_or("—".into(), |o| format!("{} ({})", fmt_num(o), results.objective_kind))),
        ("Solver", results.solver.clone()),
        ("Horizon", format!("{} steps × {} h", results.timesteps, results.timestep_hours)),
        ("Build / solve / total", format!("{:.3} s / {:.3} s / {:.3} s", t.build_s, t.solve_s, t.total_s)),
    ];
    if let Some(iterations) = t.iterations {
        rows.push(("Iterations", iterations.to_string()));
    }
    if let (Some(n), Some(m)) = (t.variables, t.constraints) {
        rows.push(("LP size", format!("{n} variables, {m} constraints")));
    }
    (format!("<h1>{} {}</h1>", escape(&results.system), status_badge(results.status)), key_values(&rows))
}

fn diagnosis(results: &Results) -> String {
    let Some(diagnosis) = &results.diagnosis else {
        return r#"<div class="diagnosis">No solution, and the solver gave no diagnosis.</div>"#.into();
    };
    let mut out = format!(r#"<div class="diagnosis"><strong>Diagnosis.</strong> {}</div>"#, escape(&diagnosis.message));
    if !diagnosis.shortfalls.is_empty() {
        let rows: Vec<Vec<String>> = diagnosis
            .shortfalls
            .iter()
            .map(|s| vec![s.bus.clone(), s.step.to_string(), fmt_num(s.demand_kw), fmt_num(s.max_supply_kw)])
            .collect();
        out.push_str(&section("Shortfalls", &table(&["Bus", "Step", "Demand (kW)", "Max supply (kW)"], &rows)));
    }
    out
}

fn kpi_section(results: &Results) -> String {
    let Some(kpis) = &results.kpis else { return String::new() };
    let mut rows = vec![("CO2", format!("{} kg", fmt_num(kpis.co2_kg))), ("Total cost", fmt_num(kpis.cost.total))];
    if let Some(v) = kpis.self_consumption {
        rows.push(("Self-consumption", format!("{:.1} %", v * 100.0)));
    }
    if let Some(v) = kpis.self_sufficiency {
        rows.push(("Self-sufficiency", format!("{:.1} %", v * 100.0)));
    }
    let cycles: Vec<(String, String)> = kpis.storage_cycles.iter().map(|(k, v)| (format!("{k} cycles"), fmt_num(*v))).collect();
    let mut body = key_values(&rows);
    if !cycles.is_empty() {
        let cycle_rows: Vec<(&str, String)> = cycles.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        body.push_str(&key_values(&cycle_rows));
    }
    let header = ["Bus", "Demand served (kWh)", "Unmet", "Generation", "Curtailed", "Import", "Export", "Peak demand (kW)", "Peak import"];
    let rows: Vec<Vec<String>> = kpis
        .buses
        .iter()
        .map(|(bus, k)| {
            let values = [
                k.demand_served_kwh,
                k.unmet_kwh,
                k.generation_kwh,
                k.curtailed_kwh,
                k.grid_import_kwh,
                k.grid_export_kwh,
                k.peak_demand_kw,
                k.peak_import_kw,
            ];
            std::iter::once(bus.clone()).chain(values.iter().map(|v| fmt_num(*v))).collect()
        })
        .collect();
    body.push_str(&table(&header, &rows));
    section("Key figures", &body)
}

fn cost_section(results: &Results) -> String {
    let Some(cost) = &results.cost else { return String::new() };
    let items: Vec<(String, f64)> = cost.parts().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let rows: Vec<Vec<String>> = items.iter().map(|(k, v)| vec![k.clone(), fmt_num(*v)]).collect();
    // Zero terms are in the table; in the chart they would only be gaps.
    let bars: Vec<(String, f64)> = items.into_iter().filter(|(k, v)| *v != 0.0 || k == "total").collect();
    let body = format!("{}{}", table(&["Cost", "Value"], &rows), svg::bar_chart("Cost split", "cost", &bars, None));
    section("Cost split", &body)
}

fn sizes_section(results: &Results) -> String {
    if results.sizes.is_empty() {
        return String::new();
    }
    let items: Vec<(String, f64)> = results.sizes.iter().map(|(k, v)| (k.clone(), *v)).collect();
    let rows: Vec<Vec<String>> = items.iter().map(|(k, v)| vec![k.clone(), fmt_num(*v), unit_of(k).into()]).collect();
    let body = format!("{}{}", table(&["Capacity", "Size", "Unit"], &rows), svg::bar_chart("Chosen sizes", "kW / kWh", &items, None));
    section("Sizes", &body)
}

/// Storage energy is in kWh; every other capacity is a power.
pub(crate) fn unit_of(size_key: &str) -> &'static str {
    if size_key.ends_with(".energy_kwh") { "kWh" } else { "kW" }
}

#[cfg(test)]
mod tests;
