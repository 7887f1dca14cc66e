//! Dispatch plots per bus and storage levels, from a run's series.

use crate::model::{Kind, System};
use crate::results::Results;

use super::page::section;
use super::svg::{colour, min_max_downsample, Chart};

/// Horizons up to this many steps are drawn at full resolution.
const FULL_RESOLUTION_STEPS: usize = 2000;
/// Storage levels are thinned to at most this many points.
const MAX_POINTS: usize = 2000;

/// What flows into and out of one bus, step by step.
struct BusFlows {
    supplies: Vec<(String, Vec<f64>)>,
    withdrawals: Vec<(String, Vec<f64>)>,
    demand: Vec<f64>,
}

pub fn dispatch_sections(system: &System, results: &Results) -> String {
    if results.series.is_empty() {
        return section("Dispatch", r#"<p class="note">The run kept no series, so there is nothing to plot.</p>"#);
    }
    let dt = results.timestep_hours;
    let steps = results.timesteps;
    let mut out = String::new();
    for bus in system.buses() {
        let flows = bus_flows(system, results, &bus, steps);
        let mut body = String::new();
        let week = steps_per_day(dt) * 7;
        if steps > 2 * week {
            let start = busiest_week(&flows, week, steps_per_day(dt));
            let title = format!(
                "Week with the highest demand: days {}–{} (hours {}–{})",
                start / steps_per_day(dt) + 1,
                start / steps_per_day(dt) + 7,
                start as f64 * dt,
                (start + week) as f64 * dt
            );
            body.push_str(&dispatch_chart(&title, &flows.window(start, week), start, dt, "hour", "kW"));
        }
        if steps <= FULL_RESOLUTION_STEPS {
            body.push_str(&dispatch_chart("Whole horizon", &flows, 0, dt, "hour", "kW"));
        } else {
            let daily = flows.daily_mean(steps_per_day(dt));
            body.push_str(&dispatch_chart("Whole horizon, daily mean power", &daily, 0, 1.0, "day", "kW (daily mean)"));
        }
        body.push_str(r#"<p class="note">Supplies are stacked above zero, withdrawals other than demand below it; the line is demand. Wheel to zoom, drag to pan, double-click to reset.</p>"#);
        out.push_str(&section(&format!("Dispatch on bus {bus}"), &body));
    }
    out
}

pub fn storage_section(system: &System, results: &Results) -> String {
    let mut body = String::new();
    for component in &system.components {
        let Kind::Storage(_) = component.kind else { continue };
        let Some(soc) = results.series.get(&component.name).and_then(|s| s.get("soc")) else { continue };
        let title = format!("State of charge: {}", component.name);
        if soc.len() > FULL_RESOLUTION_STEPS {
            body.push_str(&daily_band_chart(&title, soc, steps_per_day(results.timestep_hours)));
            continue;
        }
        let hours: Vec<f64> = (0..soc.len()).map(|t| (t + 1) as f64 * results.timestep_hours).collect();
        let (xs, ys) = min_max_downsample(&hours, soc, MAX_POINTS);
        let max = ys.iter().copied().fold(0.0, f64::max);
        let mut chart = Chart::new(&title, (0.0, hours.last().copied().unwrap_or(1.0)), (0.0, max)).labels("hour (end of step)", "kWh");
        chart.line(&xs, &ys, colour(0), None);
        body.push_str(&chart.finish());
    }
    if body.is_empty() { String::new() } else { section("Storage", &body) }
}

/// A long storage level as one band per day, from its lowest to its highest
/// level, with the daily mean as a line: a year of hourly cycling drawn as a
/// line is a solid block.
fn daily_band_chart(title: &str, soc: &[f64], day: usize) -> String {
    let days: Vec<&[f64]> = soc.chunks(day).collect();
    let xs: Vec<f64> = (0..days.len()).map(|d| d as f64 + 0.5).collect();
    let low: Vec<f64> = days.iter().map(|d| d.iter().copied().fold(f64::INFINITY, f64::min)).collect();
    let high: Vec<f64> = days.iter().map(|d| d.iter().copied().fold(f64::NEG_INFINITY, f64::max)).collect();
    let mean: Vec<f64> = days.iter().map(|d| d.iter().sum::<f64>() / d.len() as f64).collect();
    let max = high.iter().copied().fold(0.0, f64::max);
    let mut chart = Chart::new(title, (0.0, days.len() as f64), (0.0, max)).labels("day", "kWh");
    chart.area(&xs, &low, &high, colour(0), Some("daily range"));
    chart.line(&xs, &mean, "#111111", Some("daily mean"));
    chart.finish()
}

fn steps_per_day(dt: f64) -> usize {
    ((24.0 / dt).round() as usize).max(1)
}

/// Each component's contribution to `bus`, as supplies and withdrawals.
fn bus_flows(system: &System, results: &Results, bus: &str, steps: usize) -> BusFlows {
    let mut flows = BusFlows { supplies: Vec::new(), withdrawals: Vec::new(), demand: vec![0.0; steps] };
    let series = |name: &str, variable: &str| results.series.get(name).and_then(|s| s.get(variable)).cloned();
    for component in &system.components {
        let name = &component.name;
        let mut supply = |label: String, values: Option<Vec<f64>>| push_nonzero(&mut flows.supplies, label, values);
        match &component.kind {
            Kind::Grid(g) if g.bus == bus => supply(format!("{name} import"), series(name, "import")),
            Kind::Source(s) if s.bus == bus => supply(name.clone(), series(name, "generation")),
            Kind::Storage(s) if s.bus == bus => supply(format!("{name} discharge"), series(name, "discharge")),
            Kind::Converter(c) if c.bus_out == bus => supply(format!("{name} output"), series(name, "output")),
            Kind::Demand(d) if d.bus == bus => supply(format!("{name} unmet"), series(name, "unmet")),
            _ => {}
        }
        let mut withdraw = |label: String, values: Option<Vec<f64>>| push_nonzero(&mut flows.withdrawals, label, values);
        match &component.kind {
            Kind::Grid(g) if g.bus == bus => withdraw(format!("{name} export"), series(name, "export")),
            Kind::Storage(s) if s.bus == bus => withdraw(format!("{name} charge"), series(name, "charge")),
            Kind::Converter(c) if c.bus_in.as_deref() == Some(bus) => withdraw(format!("{name} input"), series(name, "input")),
            Kind::Demand(d) if d.bus == bus => {
                if let Some(values) = series(name, "demand") {
                    for (total, v) in flows.demand.iter_mut().zip(values) {
                        *total += v;
                    }
                }
            }
            _ => {}
        }
    }
    flows
}

/// All-zero series would only clutter the legend.
fn push_nonzero(list: &mut Vec<(String, Vec<f64>)>, label: String, values: Option<Vec<f64>>) {
    if let Some(values) = values.filter(|v| v.iter().any(|x| *x != 0.0)) {
        list.push((label, values));
    }
}

/// The day-aligned start of the `week`-step window with the most demand (or,
/// on a bus without demand, the most supply).
fn busiest_week(flows: &BusFlows, week: usize, day: usize) -> usize {
    let weight: Vec<f64> = if flows.demand.iter().any(|d| *d != 0.0) {
        flows.demand.clone()
    } else {
        (0..flows.demand.len()).map(|t| flows.supplies.iter().map(|(_, v)| v[t]).sum()).collect()
    };
    let mut best = (0, f64::NEG_INFINITY);
    for start in (0..=weight.len() - week).step_by(day) {
        let total: f64 = weight[start..start + week].iter().sum();
        if total > best.1 {
            best = (start, total);
        }
    }
    best.0
}

impl BusFlows {
    fn map(&self, f: impl Fn(&[f64]) -> Vec<f64>) -> BusFlows {
        BusFlows {
            supplies: self.supplies.iter().map(|(k, v)| (k.clone(), f(v))).collect(),
            withdrawals: self.withdrawals.iter().map(|(k, v)| (k.clone(), f(v))).collect(),
            demand: f(&self.demand),
        }
    }

    fn window(&self, start: usize, len: usize) -> BusFlows {
        self.map(|v| v[start..start + len].to_vec())
    }

    /// Mean power per day; a short last day averages the steps it has.
    fn daily_mean(&self, day: usize) -> BusFlows {
        self.map(|v| v.chunks(day).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect())
    }
}

/// Stacked supplies and withdrawals with the demand line; `first` is the
/// index of the first point and `x_step` the x distance between points.
fn dispatch_chart(title: &str, flows: &BusFlows, first: usize, x_step: f64, x_label: &str, y_label: &str) -> String {
    let n = flows.demand.len();
    let xs: Vec<f64> = (0..n).map(|i| (first + i) as f64 * x_step).collect();
    let stack_height = |layers: &[(String, Vec<f64>)], i: usize| layers.iter().map(|(_, v)| v[i]).sum::<f64>();
    let top = (0..n).map(|i| stack_height(&flows.supplies, i).max(flows.demand[i])).fold(0.0, f64::max);
    let bottom = (0..n).map(|i| stack_height(&flows.withdrawals, i)).fold(0.0, f64::max);
    let x_end = xs.last().copied().unwrap_or(0.0).max(xs[0] + x_step);
    let mut chart = Chart::new(title, (xs[0], x_end), (-bottom, top)).labels(x_label, y_label);
    let mut i = 0;
    let mut coloured = |layers: &[(String, Vec<f64>)]| -> Vec<(String, Vec<f64>, &'static str)> {
        layers
            .iter()
            .map(|(k, v)| {
                i += 1;
                (k.clone(), v.clone(), colour(i - 1))
            })
            .collect()
    };
    let supplies = coloured(&flows.supplies);
    let withdrawals = coloured(&flows.withdrawals);
    chart.stacked(&xs, &supplies, 1.0);
    chart.stacked(&xs, &withdrawals, -1.0);
    if flows.demand.iter().any(|d| *d != 0.0) {
        chart.line(&xs, &flows.demand, "#111111", Some("demand"));
    }
    chart.finish()
}
