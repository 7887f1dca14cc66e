//! Reports of studies: a Pareto front and an uncertainty study.

use std::collections::BTreeSet;

use crate::model::System;
use crate::pareto::ParetoFront;
use crate::uncertainty::{Stats, UncertaintySummary};

use super::page::{escape, fmt_num, key_values, page, section, table};
use super::svg::{bar_chart, colour, Chart};
use super::{status_name, unit_of};

/// The front as cost against CO2 (and, with economics, NPV against CO2),
/// and every point with its sizes.
pub fn pareto_html(system: &System, front: &ParetoFront) -> String {
    let solved: Vec<(f64, f64)> = front.points.iter().filter_map(|p| Some((p.co2_kg?, p.cost?))).collect();
    let mut body = format!("<h1>{} — cost–CO2 Pareto front</h1>", escape(&front.system));
    body.push_str(&key_values(&[
        ("Points", front.points.len().to_string()),
        ("Solved", solved.len().to_string()),
        ("Components", system.components.len().to_string()),
    ]));
    if solved.is_empty() {
        body.push_str(r#"<div class="diagnosis">No point of the front was solved; see the statuses below.</div>"#);
    } else {
        let (xs, ys): (Vec<f64>, Vec<f64>) = solved.iter().copied().unzip();
        let range = |v: &[f64]| (v.iter().copied().fold(f64::INFINITY, f64::min), v.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        let mut chart = Chart::new("Pareto front", range(&xs), range(&ys)).labels("CO2 (kg)", "cost");
        chart.line(&xs, &ys, colour(0), None);
        chart.dots(&xs, &ys, colour(0), Some("solved point"));
        body.push_str(&section("Front", &chart.finish()));
        let npv: Vec<(f64, f64)> = front.points.iter().filter_map(|p| Some((p.co2_kg?, p.economics.as_ref()?.npv?))).collect();
        if !npv.is_empty() {
            let (xs, ys): (Vec<f64>, Vec<f64>) = npv.iter().copied().unzip();
            let mut chart = Chart::new("NPV along the front", range(&xs), range(&ys)).labels("CO2 (kg)", "NPV against the baseline");
            chart.line(&xs, &ys, colour(2), None);
            chart.dots(&xs, &ys, colour(2), Some("NPV of the point"));
            body.push_str(&section("NPV", &chart.finish()));
        }
    }
    let size_keys: BTreeSet<&String> = front.points.iter().flat_map(|p| p.sizes.keys()).collect();
    let with_economics = front.points.iter().any(|p| p.economics.is_some());
    let mut header: Vec<String> = ["#", "Status", "CO2 cap (kg)", "Cost", "CO2 (kg)"].map(String::from).to_vec();
    if with_economics {
        header.extend(["NPV", "Simple payback (years)", "Discounted payback (years)"].map(String::from));
    }
    header.extend(size_keys.iter().map(|k| format!("{k} ({})", unit_of(k))));
    let optional = |v: Option<f64>| v.map_or("—".to_string(), fmt_num);
    let rows: Vec<Vec<String>> = front
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut row = vec![(i + 1).to_string(), status_name(p.status).into(), optional(p.epsilon_co2_kg), optional(p.cost), optional(p.co2_kg)];
            if with_economics {
                let e = p.economics.as_ref();
                row.push(optional(e.and_then(|e| e.npv)));
                row.push(optional(e.and_then(|e| e.simple_payback_years)));
                row.push(e.and_then(|e| e.discounted_payback_years).map_or("—".into(), |n| n.to_string()));
            }
            row.extend(size_keys.iter().map(|k| optional(p.sizes.get(*k).copied())));
            row
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    body.push_str(&section("Points", &table(&header, &rows)));
    page(&format!("{} — Pareto front", front.system), &body)
}

/// The spread of the objective, its statistics, and which parameters drive it.
pub fn uncertainty_html(system: &System, summary: &UncertaintySummary) -> String {
    let mut body = format!("<h1>{} — uncertainty study</h1>", escape(&summary.system));
    let mut facts = vec![
        ("Samples", summary.samples.to_string()),
        ("Optimal", summary.optimal.to_string()),
        ("Objective", system.objective.name().to_string()),
    ];
    if let Some(p) = summary.p_npv_positive {
        facts.push(("P(NPV > 0)", format!("{:.1} %", p * 100.0)));
    }
    body.push_str(&key_values(&facts));
    let objectives: Vec<f64> =
        summary.results.iter().filter(|r| r.status.is_optimal()).filter_map(|r| r.objective).collect();
    if objectives.is_empty() {
        body.push_str(r#"<div class="diagnosis">No sample was solved to optimality, so there is no distribution to show.</div>"#);
    } else {
        body.push_str(&section("Objective distribution", &histogram("Objective over the samples", "objective", &objectives, &summary.objective)));
    }
    let npv: Vec<f64> = summary.results.iter().filter(|r| r.status.is_optimal()).filter_map(|r| r.npv).collect();
    if let (Some(stats), false) = (&summary.npv, npv.is_empty()) {
        body.push_str(&section("NPV distribution", &histogram("NPV over the samples", "NPV against the baseline", &npv, stats)));
    }
    let mut stats: Vec<(&str, &Stats)> = vec![("objective", &summary.objective), ("cost", &summary.cost), ("CO2 (kg)", &summary.co2_kg)];
    stats.extend(summary.npv.as_ref().map(|s| ("NPV", s)));
    stats.extend(summary.savings_per_year.as_ref().map(|s| ("savings per year", s)));
    let stats_rows: Vec<Vec<String>> = stats
        .into_iter()
        .map(|(name, s)| {
            let values = [s.mean, s.std, s.min, s.p10, s.p50, s.p90, s.max, s.var95, s.cvar95];
            std::iter::once(name.to_string()).chain(values.iter().map(|v| fmt_num(*v))).collect()
        })
        .collect();
    let header = ["", "Mean", "Std", "Min", "P10", "P50", "P90", "Max", "VaR 95", "CVaR 95"];
    body.push_str(&section("Statistics (optimal samples)", &table(&header, &stats_rows)));
    if summary.npv.is_some() {
        body.push_str(r#"<p class="note">NPV and savings are gains, so their VaR and CVaR are taken from the low tail: the 5th percentile, and the mean of the worst 5 %.</p>"#);
    }
    if !summary.sensitivity.is_empty() {
        let mut items: Vec<(String, f64)> = summary.sensitivity.iter().map(|s| (s.target.clone(), s.spearman)).collect();
        items.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        let chart = bar_chart("Spearman rank correlation with the objective", "rank correlation", &items, Some((-1.0, 1.0)));
        body.push_str(&section("Sensitivity", &chart));
    }
    let failed: Vec<Vec<String>> = summary
        .results
        .iter()
        .filter(|r| !r.status.is_optimal())
        .map(|r| vec![r.index.to_string(), status_name(r.status).to_string()])
        .collect();
    if !failed.is_empty() {
        body.push_str(&section("Samples without a solution", &table(&["Sample", "Status"], &failed)));
    }
    page(&format!("{} — uncertainty", summary.system), &body)
}

/// Equal-width bins, about √n of them, with the P10/P50/P90 marked.
fn histogram(title: &str, label: &str, values: &[f64], stats: &Stats) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let bins = ((values.len() as f64).sqrt().ceil() as usize).clamp(5, 30);
    let width = if max > min { (max - min) / bins as f64 } else { 1.0 };
    let mut counts = vec![0usize; bins];
    for v in values {
        counts[(((v - min) / width) as usize).min(bins - 1)] += 1;
    }
    let highest = counts.iter().copied().max().unwrap_or(1) as f64;
    let mut chart = Chart::new(title, (min, min + width * bins as f64), (0.0, highest)).labels(label, "samples");
    for (i, count) in counts.iter().enumerate() {
        let lo = min + i as f64 * width;
        let hover = format!("{} to {}: {count}", fmt_num(lo), fmt_num(lo + width));
        chart.rect((lo, lo + width), (0.0, *count as f64), colour(0), &hover);
    }
    for (label, value, c) in [("P10", stats.p10, 1), ("P50", stats.p50, 3), ("P90", stats.p90, 1)] {
        chart.line(&[value, value], &[0.0, highest], colour(c), Some(label));
    }
    chart.finish()
}
