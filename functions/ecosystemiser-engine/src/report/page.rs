//! The HTML frame shared by every report: escaping, number formatting,
//! tables, and one page with inline CSS and a tiny zoom script.

use std::fmt::Write;

/// Escapes text for HTML content and attribute values. Component names and
/// messages come from the user's file, so every one passes through here.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for people: fewer decimals as magnitude grows.
pub fn fmt_num(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == 0.0 {
        return "0".into();
    }
    let text = match value.abs() {
        v if v >= 1e7 => format!("{value:.3e}"),
        v if v >= 1000.0 => format!("{value:.0}"),
        v if v >= 1.0 => format!("{value:.2}"),
        _ => format!("{value:.4}"),
    };
    // `-0.00` says nothing that `0.00` does not.
    if text.starts_with('-') && text[1..].chars().all(|c| c == '0' || c == '.') { text[1..].to_string() } else { text }
}

/// A table with a header row; cells are escaped here.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// Rows of `name: value` pairs.
pub fn key_values(rows: &[(&str, String)]) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|(k, v)| vec![k.to_string(), v.clone()]).collect();
    table(&["", ""], &rows).replacen("<thead><tr><th></th><th></th></tr></thead>", "", 1)
}

pub fn section(title: &str, body: &str) -> String {
    format!("<section><h2>{}</h2>{body}</section>", escape(title))
}

/// A whole self-contained page: no external scripts, fonts or styles.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{CSS}</style></head><body>{body}<script>{ZOOM_JS}</script></body></html>\n",
        escape(title)
    )
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:960px;color:#222;padding:0 1em}\
section{overflow-x:auto}h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .8em;border-bottom:1px solid #eee;text-align:right}\
td:first-child,th:first-child{text-align:left}\
.status{display:inline-block;padding:.1em .6em;border-radius:.3em;color:#fff;font-weight:bold}\
.optimal{background:#2e7d32}.bad{background:#c62828}\
.diagnosis{border:2px solid #c62828;background:#fdecea;padding:1em;border-radius:.4em;font-size:1.1em}\
.note{color:#555;font-size:.9em}\
.headline{display:flex;flex-wrap:wrap;gap:.6em;margin:.6em 0}\
.figure{border:1px solid #ddd;border-radius:.4em;padding:.5em .9em;min-width:9em}\
.figure .value{font-size:1.5em;font-weight:bold}.figure .label{color:#555;font-size:.9em}\
svg.chart{max-width:100%;height:auto;font-size:11px;cursor:grab;user-select:none;display:block;margin:.6em 0}\
svg .title{font-size:13px;font-weight:bold}";

/// Wheel zooms around the cursor, drag pans, double-click resets; all by
/// editing the SVG viewBox, so it works offline and needs no library.
const ZOOM_JS: &str = "document.querySelectorAll('svg.zoom').forEach(function(s){\
var v0=s.getAttribute('viewBox').split(' ').map(Number),v=v0.slice(),d=null;\
function set(){s.setAttribute('viewBox',v.join(' '));}\
s.addEventListener('wheel',function(e){e.preventDefault();var r=s.getBoundingClientRect(),\
fx=(e.clientX-r.left)/r.width,fy=(e.clientY-r.top)/r.height,k=e.deltaY<0?0.8:1.25,\
w=Math.min(v0[2],v[2]*k),h=Math.min(v0[3],v[3]*k);\
v[0]+=(v[2]-w)*fx;v[1]+=(v[3]-h)*fy;v[2]=w;v[3]=h;set();},{passive:false});\
s.addEventListener('mousedown',function(e){d=[e.clientX,e.clientY];});\
window.addEventListener('mouseup',function(){d=null;});\
s.addEventListener('mousemove',function(e){if(!d)return;var r=s.getBoundingClientRect();\
v[0]-=(e.clientX-d[0])*v[2]/r.width;v[1]-=(e.clientY-d[1])*v[3]/r.height;d=[e.clientX,e.clientY];set();});\
s.addEventListener('dblclick',function(){v=v0.slice();set();});});";
