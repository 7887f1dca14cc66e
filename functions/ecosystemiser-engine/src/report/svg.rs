//! A small SVG plotting kit: linear axes with nice ticks, polylines, stacked
//! areas, rectangles, horizontal bars and a legend.
//!
//! It is written here rather than taken from a plotting crate so that the
//! engine keeps its short dependency list and the reports work offline.

use std::fmt::Write;

use super::page::{escape, fmt_num};

/// Colours that stay distinguishable for the handful of series a bus has.
pub const PALETTE: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 45.0;
const LEGEND_ROW: f64 = 18.0;

/// Tick values that cover `[min, max]` in steps of 1, 2, 2.5 or 5 × 10^k,
/// about `target` of them. The first and last tick become the axis range, so
/// the axis ends on round numbers.
pub fn nice_ticks(min: f64, max: f64, target: usize) -> Vec<f64> {
    let (mut min, mut max) = if min.is_finite() && max.is_finite() { (min, max) } else { (0.0, 1.0) };
    if max - min <= f64::EPSILON * (min.abs() + max.abs()).max(1.0) {
        // A flat series still needs an axis with some extent.
        let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
        min -= pad;
        max += pad;
    }
    let raw = (max - min) / target.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw * (1.0 - 1e-9)).unwrap_or(10.0 * magnitude);
    let start = (min / step + 1e-9).floor();
    let end = (max / step - 1e-9).ceil();
    // Rounding at each tick (not accumulating) keeps labels like 0.3 exact.
    (start as i64..=end as i64).map(|i| if i == 0 { 0.0 } else { i as f64 * step }).collect()
}

/// Decimals needed to tell ticks `step` apart.
fn tick_label(value: f64, ticks: &[f64]) -> String {
    let step = if ticks.len() > 1 { (ticks[1] - ticks[0]).abs() } else { 1.0 };
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    let decimals = if (step * 10f64.powi(decimals as i32)).fract().abs() > 1e-6 { decimals + 1 } else { decimals };
    let text = format!("{value:.decimals$}");
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') { "0".into() } else { text }
}

/// One x–y chart. Data goes in through the drawing methods; [`Chart::finish`]
/// wraps it with axes, title and legend.
pub struct Chart {
    title: String,
    x_label: String,
    y_label: String,
    x_ticks: Vec<f64>,
    y_ticks: Vec<f64>,
    /// Category names drawn on the y axis instead of numbers (bar charts).
    y_categories: Option<Vec<String>>,
    body: String,
    legend: Vec<(String, &'static str)>,
    /// Room for the y labels; bar charts widen it to fit their category names.
    left: f64,
}

impl Chart {
    pub fn new(title: &str, x_range: (f64, f64), y_range: (f64, f64)) -> Chart {
        Chart {
            title: title.to_string(),
            x_label: String::new(),
            y_label: String::new(),
            x_ticks: nice_ticks(x_range.0, x_range.1, 10),
            y_ticks: nice_ticks(y_range.0, y_range.1, 6),
            y_categories: None,
            body: String::new(),
            legend: Vec::new(),
            left: LEFT,
        }
    }

    pub fn labels(mut self, x_label: &str, y_label: &str) -> Chart {
        self.x_label = x_label.to_string();
        self.y_label = y_label.to_string();
        self
    }

    fn x_range(&self) -> (f64, f64) {
        (self.x_ticks[0], self.x_ticks[self.x_ticks.len() - 1])
    }

    fn y_range(&self) -> (f64, f64) {
        match &self.y_categories {
            Some(names) => (0.0, names.len().max(1) as f64),
            None => (self.y_ticks[0], self.y_ticks[self.y_ticks.len() - 1]),
        }
    }

    fn px(&self, x: f64) -> f64 {
        let (lo, hi) = self.x_range();
        self.left + (x - lo) / (hi - lo) * (WIDTH - self.left - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        let (lo, hi) = self.y_range();
        HEIGHT - BOTTOM - (y - lo) / (hi - lo) * (HEIGHT - TOP - BOTTOM)
    }

    fn point(&self, x: f64, y: f64) -> String {
        format!("{:.1},{:.1}", self.px(x), self.py(y))
    }

    fn add_legend(&mut self, label: Option<&str>, colour: &'static str) {
        if let Some(label) = label {
            self.legend.push((label.to_string(), colour));
        }
    }

    pub fn line(&mut self, xs: &[f64], ys: &[f64], colour: &'static str, label: Option<&str>) {
        let points: Vec<String> = xs.iter().zip(ys).map(|(x, y)| self.point(*x, *y)).collect();
        let _ = write!(self.body, r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#, points.join(" "));
        self.add_legend(label, colour);
    }

    /// The band between `lower` and `upper`.
    pub fn area(&mut self, xs: &[f64], lower: &[f64], upper: &[f64], colour: &'static str, label: Option<&str>) {
        let mut points: Vec<String> = xs.iter().zip(upper).map(|(x, y)| self.point(*x, *y)).collect();
        points.extend(xs.iter().zip(lower).rev().map(|(x, y)| self.point(*x, *y)));
        let _ = write!(self.body, r#"<polygon fill="{colour}" fill-opacity="0.85" stroke="none" points="{}"/>"#, points.join(" "));
        self.add_legend(label, colour);
    }

    /// Layers stacked from zero; `sign` -1 stacks them downwards.
    pub fn stacked(&mut self, xs: &[f64], layers: &[(String, Vec<f64>, &'static str)], sign: f64) {
        let mut base = vec![0.0; xs.len()];
        for (label, values, colour) in layers {
            let top: Vec<f64> = base.iter().zip(values).map(|(b, v)| b + sign * v).collect();
            self.area(xs, &base, &top, colour, Some(label));
            base = top;
        }
    }

    /// A line with a dash pattern, for a secondary series or a marker.
    pub fn dashed(&mut self, xs: &[f64], ys: &[f64], colour: &'static str, label: Option<&str>) {
        let points: Vec<String> = xs.iter().zip(ys).map(|(x, y)| self.point(*x, *y)).collect();
        let _ = write!(
            self.body,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" stroke-dasharray="5 4" points="{}"/>"#,
            points.join(" ")
        );
        self.add_legend(label, colour);
    }

    /// A text label at a data point, nudged up and right of it.
    pub fn note(&mut self, x: f64, y: f64, text: &str) {
        let _ = write!(self.body, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, self.px(x) + 6.0, self.py(y) - 8.0, escape(text));
    }

    pub fn dots(&mut self, xs: &[f64], ys: &[f64], colour: &'static str, label: Option<&str>) {
        for (x, y) in xs.iter().zip(ys) {
            let (cx, cy) = (self.px(*x), self.py(*y));
            let _ = write!(self.body, r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="4" fill="{colour}"><title>{}, {}</title></circle>"#, fmt_num(*x), fmt_num(*y));
        }
        self.add_legend(label, colour);
    }

    /// A rectangle in data coordinates, with a hover text.
    pub fn rect(&mut self, (x0, x1): (f64, f64), (y0, y1): (f64, f64), colour: &'static str, hover: &str) {
        let (a, b) = (self.px(x0.min(x1)), self.px(x0.max(x1)));
        let (c, d) = (self.py(y0.max(y1)), self.py(y0.min(y1)));
        let _ = write!(
            self.body,
            r#"<rect x="{a:.1}" y="{c:.1}" width="{:.1}" height="{:.1}" fill="{colour}"><title>{}</title></rect>"#,
            (b - a).max(0.5),
            (d - c).max(0.0),
            escape(hover)
        );
    }

    fn axes(&self, out: &mut String) {
        let (x_lo, x_hi) = self.x_range();
        let (y_lo, y_hi) = self.y_range();
        let (left, right, top, bottom) = (self.px(x_lo), self.px(x_hi), self.py(y_hi), self.py(y_lo));
        for x in &self.x_ticks {
            let px = self.px(*x);
            let _ = write!(
                out,
                r##"<line x1="{px:.1}" y1="{top:.1}" x2="{px:.1}" y2="{bottom:.1}" stroke="#e3e3e3"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 15.0,
                tick_label(*x, &self.x_ticks)
            );
        }
        match &self.y_categories {
            Some(names) => {
                for (i, name) in names.iter().enumerate() {
                    let py = self.py(names.len() as f64 - i as f64 - 0.5);
                    let _ = write!(out, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#, left - 6.0, py + 4.0, escape(name));
                }
            }
            None => {
                for y in &self.y_ticks {
                    let py = self.py(*y);
                    let stroke = if *y == 0.0 { "#888" } else { "#e3e3e3" };
                    let _ = write!(
                        out,
                        r#"<line x1="{left:.1}" y1="{py:.1}" x2="{right:.1}" y2="{py:.1}" stroke="{stroke}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                        left - 6.0,
                        py + 4.0,
                        tick_label(*y, &self.y_ticks)
                    );
                }
            }
        }
        let _ = write!(
            out,
            r##"<rect x="{left:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="#888"/>"##,
            right - left,
            bottom - top
        );
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text transform="translate(14,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (left + right) / 2.0,
            HEIGHT - 8.0,
            escape(&self.x_label),
            (top + bottom) / 2.0,
            escape(&self.y_label)
        );
    }

    /// Lays legend entries left to right, wrapping; returns the rows used.
    fn legend(&self, out: &mut String) -> usize {
        let (mut x, mut row) = (self.left, 0usize);
        for (label, colour) in &self.legend {
            let width = 24.0 + 7.0 * label.chars().count() as f64;
            if x + width > WIDTH - RIGHT && x > self.left {
                x = self.left;
                row += 1;
            }
            let y = HEIGHT + 10.0 + row as f64 * LEGEND_ROW;
            let _ = write!(
                out,
                r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{y:.1}">{}</text>"#,
                y - 10.0,
                x + 16.0,
                escape(label)
            );
            x += width;
        }
        if self.legend.is_empty() { 0 } else { row + 1 }
    }

    pub fn finish(self) -> String {
        let mut inner = String::new();
        self.axes(&mut inner);
        inner.push_str(&self.body);
        let rows = self.legend(&mut inner);
        let height = HEIGHT + rows as f64 * LEGEND_ROW + 14.0;
        format!(
            r#"<svg class="chart zoom" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img"><title>{title}</title><text class="title" x="{left}" y="18">{title}</text>{inner}</svg>"#,
            title = escape(&self.title),
            left = self.left
        )
    }
}

/// Horizontal bars from zero, one per category, with value labels.
pub fn bar_chart(title: &str, unit: &str, items: &[(String, f64)], range: Option<(f64, f64)>) -> String {
    let lo = items.iter().map(|(_, v)| *v).fold(0.0, f64::min);
    let hi = items.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let (lo, hi) = range.unwrap_or((lo, hi));
    let mut chart = Chart::new(title, (lo, hi), (0.0, 1.0)).labels(unit, "");
    chart.y_categories = Some(items.iter().map(|(name, _)| name.clone()).collect());
    let longest = items.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
    chart.left = (longest as f64 * 6.5 + 12.0).clamp(LEFT, WIDTH / 2.0);
    let n = items.len() as f64;
    for (i, (name, value)) in items.iter().enumerate() {
        let row = n - i as f64 - 1.0;
        let colour = if *value < 0.0 { "#e15759" } else { colour(0) };
        chart.rect((0.0, *value), (row + 0.15, row + 0.85), colour, &format!("{name}: {}", fmt_num(*value)));
    }
    chart.finish()
}

/// Two horizontal bars per category, side by side (`series.0` above
/// `series.1`), with a legend naming the two.
pub fn paired_bar_chart(title: &str, unit: &str, categories: &[(String, f64, f64)], series: (&str, &str)) -> String {
    let values = categories.iter().flat_map(|(_, a, b)| [*a, *b]);
    let lo = values.clone().fold(0.0, f64::min);
    let hi = values.fold(0.0, f64::max);
    let mut chart = Chart::new(title, (lo, hi), (0.0, 1.0)).labels(unit, "");
    chart.y_categories = Some(categories.iter().map(|(name, _, _)| name.clone()).collect());
    let longest = categories.iter().map(|(name, _, _)| name.chars().count()).max().unwrap_or(0);
    chart.left = (longest as f64 * 6.5 + 12.0).clamp(LEFT, WIDTH / 2.0);
    let n = categories.len() as f64;
    let (first, second) = (colour(9), colour(0));
    for (i, (name, a, b)) in categories.iter().enumerate() {
        let row = n - i as f64 - 1.0;
        chart.rect((0.0, *a), (row + 0.5, row + 0.9), first, &format!("{name}, {}: {}", series.0, fmt_num(*a)));
        chart.rect((0.0, *b), (row + 0.1, row + 0.5), second, &format!("{name}, {}: {}", series.1, fmt_num(*b)));
    }
    chart.add_legend(Some(series.0), first);
    chart.add_legend(Some(series.1), second);
    chart.finish()
}

/// Keeps at most `max_points` points: each bucket of steps contributes its
/// minimum and maximum in time order, so peaks and troughs survive.
pub fn min_max_downsample(xs: &[f64], ys: &[f64], max_points: usize) -> (Vec<f64>, Vec<f64>) {
    if ys.len() <= max_points {
        return (xs.to_vec(), ys.to_vec());
    }
    let buckets = (max_points / 2).max(1);
    let size = ys.len().div_ceil(buckets);
    let (mut out_x, mut out_y) = (Vec::new(), Vec::new());
    for start in (0..ys.len()).step_by(size) {
        let end = (start + size).min(ys.len());
        let slice = &ys[start..end];
        let min = (0..slice.len()).min_by(|a, b| slice[*a].total_cmp(&slice[*b])).expect("non-empty bucket");
        let max = (0..slice.len()).max_by(|a, b| slice[*a].total_cmp(&slice[*b])).expect("non-empty bucket");
        for i in if min <= max { [min, max] } else { [max, min] } {
            out_x.push(xs[start + i]);
            out_y.push(ys[start + i]);
        }
    }
    (out_x, out_y)
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;

    fn check_ticks(min: f64, max: f64, expect: Expect) {
        let ticks = nice_ticks(min, max, 6);
        let labels: Vec<String> = ticks.iter().map(|t| tick_label(*t, &ticks)).collect();
        expect.assert_eq(&labels.join(" "));
    }

    #[test]
    fn ticks_are_round() {
        check_ticks(0.0, 8760.0, expect!["0 2000 4000 6000 8000 10000"]);
        check_ticks(-3.2, 7.9, expect!["-4 -2 0 2 4 6 8"]);
        check_ticks(0.0, 0.33, expect!["0 0.1 0.2 0.3 0.4"]);
        check_ticks(5.0, 5.0, expect!["4.4 4.6 4.8 5.0 5.2 5.4 5.6"]);
        check_ticks(0.0, 0.0, expect!["-1.0 -0.5 0 0.5 1.0"]);
    }

    #[test]
    fn downsampling_keeps_extremes() {
        let xs: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        let mut ys = vec![0.0; 10_000];
        ys[4321] = 9.0;
        ys[777] = -3.0;
        let (dx, dy) = min_max_downsample(&xs, &ys, 2000);
        assert!(dx.len() <= 2000);
        assert!(dy.contains(&9.0) && dy.contains(&-3.0));
        assert!(dx.windows(2).all(|w| w[0] < w[1]), "points stay in time order");
    }
}
