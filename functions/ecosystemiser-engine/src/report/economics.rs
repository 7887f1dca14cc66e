//! The economics section that leads a run's report: headline figures
//! against the baseline, the cumulative discounted cash flow with its
//! payback crossing, and the annual cost by part beside the baseline's.

use std::fmt::Write;

use crate::economics::{Economics, cumulative_discounted_cash_flow};
use crate::model::System;

use super::page::{escape, fmt_num, section, table};
use super::status_name;
use super::svg::{Chart, colour, paired_bar_chart};

pub fn economics_section(system: &System, e: &Economics) -> String {
    let mut body = headline(e);
    if e.baseline_cost_per_year.is_none() {
        let why = e.baseline_diagnosis.as_ref().map_or(String::new(), |d| format!(" {}", d.message));
        let _ = write!(
            body,
            r#"<div class="diagnosis"><strong>The baseline is {}.</strong>{} Savings, NPV, paybacks and IRR need it and are left out; the optimisation itself stands.</div>"#,
            status_name(e.baseline_status),
            escape(&why)
        );
    }
    if let Some(savings) = e.savings_per_year {
        body.push_str(&cash_flow_chart(system, e, savings));
    }
    body.push_str(&cost_comparison(e));
    section(&format!("Economics over {} years against the baseline", e.project_years), &body)
}

/// The figures a planner asks for first, large.
fn headline(e: &Economics) -> String {
    let years = |v: f64| format!("{} years", fmt_num(v));
    let mut figures: Vec<(String, String)> = Vec::new();
    let mut add = |label: &str, value: String| figures.push((label.to_string(), value));
    if let Some(savings) = e.savings_per_year {
        add("Savings per year", fmt_num(savings));
    }
    if let Some(npv) = e.npv {
        add("NPV", fmt_num(npv));
    }
    if e.savings_per_year.is_some() {
        add("Simple payback", e.simple_payback_years.map_or("none".into(), years));
        add("Discounted payback", e.discounted_payback_years.map_or("none".into(), |n| format!("{n} years")));
        add("IRR", e.irr.map_or("none".into(), |i| format!("{:.1} %", i * 100.0)));
    }
    add("Capex", fmt_num(e.capex));
    add("Cost per year", fmt_num(e.cost_per_year));
    if let Some(baseline) = e.baseline_cost_per_year {
        add("Baseline cost per year", fmt_num(baseline));
    }
    for (source, lcoe) in &e.lcoe_per_kwh {
        add(&format!("LCOE {source}"), format!("{} per kWh", fmt_num(*lcoe)));
    }
    let mut out = String::from(r#"<div class="headline">"#);
    for (label, value) in figures {
        let _ = write!(
            out,
            r#"<div class="figure"><div class="value">{}</div><div class="label">{}</div></div>"#,
            escape(&value),
            escape(&label)
        );
    }
    out.push_str("</div>");
    out
}

/// Capex out at year 0, then each year's savings discounted: the curve
/// crosses zero at the discounted payback, which is marked.
fn cash_flow_chart(system: &System, e: &Economics, savings: f64) -> String {
    let n = e.project_years;
    let discounted = cumulative_discounted_cash_flow(savings, e.capex, system.discount_rate, n);
    let undiscounted = cumulative_discounted_cash_flow(savings, e.capex, 0.0, n);
    let years: Vec<f64> = (0..=n).map(f64::from).collect();
    let all = discounted.iter().chain(&undiscounted).copied();
    let y_range = (all.clone().fold(0.0, f64::min), all.fold(0.0, f64::max));
    let mut chart = Chart::new("Cumulative discounted cash flow", (0.0, f64::from(n)), y_range).labels("year", "cumulative cash flow");
    chart.dashed(&years, &undiscounted, colour(9), Some("undiscounted"));
    chart.line(&years, &discounted, colour(0), Some(&format!("discounted at {} %", fmt_num(system.discount_rate * 100.0))));
    chart.dots(&years, &discounted, colour(0), None);
    if let Some(payback) = e.discounted_payback_years.filter(|p| *p > 0) {
        let x = f64::from(payback);
        chart.line(&[x, x], &[y_range.0, y_range.1], colour(3), Some("discounted payback"));
        chart.dots(&[x], &[discounted[payback as usize]], colour(3), None);
        chart.note(x, discounted[payback as usize], &format!("paid back in year {payback}"));
    }
    let note = "<p class=\"note\">Capex is paid at year 0 and each year saves the baseline's cost less the operating cost, discounted to today. \
NPV instead annualises capital by its capital recovery factor (like-for-like replacement at the end of each lifetime), so it differs from the curve's end value when lifetimes differ from the project.</p>";
    format!("{}{note}", chart.finish())
}

/// Baseline and optimised cost per year, part by part.
fn cost_comparison(e: &Economics) -> String {
    let optimised = e.cost_by_part_per_year.parts();
    let baseline = e.baseline_cost_by_part_per_year.as_ref().map(|b| b.parts());
    let rows: Vec<Vec<String>> = optimised
        .iter()
        .enumerate()
        .map(|(i, (part, value))| match &baseline {
            Some(b) => vec![part.to_string(), fmt_num(b[i].1), fmt_num(*value), fmt_num(value - b[i].1)],
            None => vec![part.to_string(), "—".into(), fmt_num(*value), "—".into()],
        })
        .collect();
    let mut body = table(&["Cost per year", "Baseline", "Optimised", "Difference"], &rows);
    if let Some(b) = &baseline {
        // Parts that are 0 on both sides would only be gaps in the chart.
        let bars: Vec<(String, f64, f64)> = optimised
            .iter()
            .zip(b)
            .filter(|((part, o), (_, b))| *o != 0.0 || *b != 0.0 || *part == "total")
            .map(|((part, o), (_, b))| (part.to_string(), *b, *o))
            .collect();
        body.push_str(&paired_bar_chart("Cost per year by part", "cost per year", &bars, ("baseline", "optimised")));
    }
    body
}
