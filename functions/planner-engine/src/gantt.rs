//! The Gantt chart as SVG: one row a task at its resource-constrained
//! start, the critical path in red, and each task's total float drawn as a
//! whisker after its bar.

use std::fmt::Write;

use crate::analysis::Analysis;
use crate::validate::ValidPlan;

const LABEL: f64 = 200.0;
const WIDTH: f64 = 960.0;
const ROW: f64 = 22.0;
const TOP: f64 = 30.0;

pub fn gantt_svg(plan: &ValidPlan, analysis: &Analysis) -> String {
    let float = |id: &str| analysis.cpm.get(id).map_or(0.0, |c| c.total_float.max(0.0));
    let end = analysis.schedule.iter().map(|s| s.finish + float(&s.id)).fold(analysis.makespan, f64::max).max(1.0);
    let x = |t: f64| LABEL + t / end * (WIDTH - LABEL - 20.0);
    let height = TOP + ROW * analysis.schedule.len() as f64 + 30.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        svg,
        r#"<text x="4" y="16" font-weight="bold">makespan {} min, critical path {} min</text>"#,
        number(analysis.makespan),
        number(analysis.cpm_makespan)
    );
    let ticks = 8;
    for k in 0..=ticks {
        let t = end * k as f64 / ticks as f64;
        let _ = write!(
            svg,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1:.1}" stroke="#ddd"/><text x="{0:.1}" y="{2:.1}" text-anchor="middle" fill="#555">{3}</text>"##,
            x(t),
            height - 24.0,
            height - 10.0,
            number(t)
        );
    }
    for (row, slot) in analysis.schedule.iter().enumerate() {
        let y = TOP + ROW * row as f64;
        let critical = analysis.critical_path.contains(&slot.id);
        let title = plan.plan().tasks.iter().find(|t| t.id == slot.id).map_or("", |t| t.title.as_str());
        let fill = if critical { "#d62728" } else { "#1f77b4" };
        let _ = write!(
            svg,
            r#"<text x="4" y="{:.1}">{}</text>"#,
            y + ROW * 0.7,
            escape(&shorten(&slot.id, 28))
        );
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{fill}" class="{}"><title>{}: {} to {} min{}</title></rect>"#,
            x(slot.start),
            y + 3.0,
            (x(slot.finish) - x(slot.start)).max(1.0),
            ROW - 6.0,
            if critical { "task critical" } else { "task" },
            escape(&format!("{} {title}", slot.id)),
            number(slot.start),
            number(slot.finish),
            if critical { ", critical" } else { "" }
        );
        let slack = float(&slot.id);
        if slack > 0.0 {
            let (x1, x2, ym) = (x(slot.finish), x(slot.finish + slack), y + ROW / 2.0);
            let _ = write!(
                svg,
                r##"<g class="float" stroke="#333"><line x1="{x1:.1}" y1="{ym:.1}" x2="{x2:.1}" y2="{ym:.1}"/><line x1="{x2:.1}" y1="{:.1}" x2="{x2:.1}" y2="{:.1}"/></g>"##,
                ym - 4.0,
                ym + 4.0
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn number(t: f64) -> String {
    if (t - t.round()).abs() < 1e-9 { format!("{}", t.round() as i64) } else { format!("{t:.1}") }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max { text.to_string() } else { text.chars().take(max - 1).chain(['…']).collect() }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
