//! Writing a run's or a study's files into the output directory.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ecosystemiser_engine::report;
use ecosystemiser_engine::{ParetoFront, Results, Status, System, UncertaintySummary};
use serde::Serialize;

/// `--out`, or `out/<system name>` under the working directory.
pub fn dir(out: Option<&Path>, system: &System) -> PathBuf {
    out.map_or_else(|| Path::new("out").join(&system.name), Path::to_path_buf)
}

pub fn write_run(dir: &Path, system: &System, results: &Results) -> anyhow::Result<()> {
    write_all(
        dir,
        &[
            ("results.json", serde_json::to_string_pretty(results)?),
            ("series.csv", report::series_csv(results)),
            ("report.html", report::html(system, results)),
        ],
    )
}

/// A front's document: `status` and `objective` first, like a run's. The
/// front is nested rather than flattened so that no key can shadow them.
#[derive(Serialize)]
struct ParetoDocument<'a> {
    status: Status,
    /// The cheapest solved point's cost.
    objective: Option<f64>,
    front: &'a ParetoFront,
}

/// A study's document, shaped like [`ParetoDocument`]; the summary has an
/// `objective` of its own (the statistics), hence the nesting.
#[derive(Serialize)]
struct UncertaintyDocument<'a> {
    status: Status,
    /// The mean objective over the optimal samples.
    objective: Option<f64>,
    summary: &'a UncertaintySummary,
}

pub fn write_pareto(dir: &Path, system: &System, front: &ParetoFront, status: Status, objective: Option<f64>) -> anyhow::Result<()> {
    let document = ParetoDocument { status, objective, front };
    write_all(
        dir,
        &[("results.json", serde_json::to_string_pretty(&document)?), ("report.html", report::pareto_html(system, front))],
    )
}

pub fn write_uncertainty(
    dir: &Path,
    system: &System,
    summary: &UncertaintySummary,
    status: Status,
    objective: Option<f64>,
) -> anyhow::Result<()> {
    let document = UncertaintyDocument { status, objective, summary };
    write_all(
        dir,
        &[("results.json", serde_json::to_string_pretty(&document)?), ("report.html", report::uncertainty_html(system, summary))],
    )
}

fn write_all(dir: &Path, files: &[(&str, String)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, contents) in files {
        let path = dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
        outln!("wrote {}", path.display());
    }
    Ok(())
}
