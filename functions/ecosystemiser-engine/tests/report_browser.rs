//! The reports in a real browser: headless Chromium renders each page to a
//! screenshot, and the page must log nothing to the console (no script
//! error, no blocked resource).
//!
//! Chromium is a test dependency like the databases: `localstack/install.sh`
//! installs it, and this test fails loudly when it is missing rather than
//! skipping.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ecosystemiser_engine::pareto::pareto;
use ecosystemiser_engine::uncertainty::uncertainty;
use ecosystemiser_engine::{Options, Sampling, Status, UncertainParameter, UncertaintySpec, optimize, report};

const WIDTH: u32 = 1280;

fn chromium() -> PathBuf {
    let found =
        std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|dir| dir.join("chromium")).find(|p| p.is_file()));
    found.unwrap_or_else(|| {
        panic!("chromium is not installed (not on PATH); run localstack/install.sh, or `apt-get install -y chromium`, then rerun")
    })
}

/// Renders `html` and returns what the page logged to its console, after
/// checking that a screenshot of `WIDTH` pixels was written.
fn render(name: &str, html: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report_browser").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test dir");
    let page = dir.join("report.html");
    std::fs::write(&page, html).expect("write the page");
    let screenshot = dir.join("screenshot.png");
    let output = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0"])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("--window-size={WIDTH},3000"))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "chromium failed on {name}: {}\n{stderr}", output.status);
    let png = std::fs::read(&screenshot).unwrap_or_else(|e| panic!("{name}: no screenshot at {}: {e}\n{stderr}", screenshot.display()));
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}: a PNG");
    // IHDR is the first chunk: width at bytes 16..20, big-endian.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), WIDTH, "{name}: the screenshot's width");
    // A blank page compresses to a few kB; charts and tables do not.
    assert!(png.len() > 30_000, "{name}: a {} byte screenshot looks blank", png.len());
    stderr.lines().filter(|l| l.contains(":CONSOLE")).map(str::to_string).collect()
}

#[test]
fn the_console_check_catches_a_script_error() {
    // The check below is only worth something if it can fail.
    let broken = format!(
        "<!DOCTYPE html><html><body><h1>broken</h1>{}<script>notDefined();</script></body></html>",
        "<p>padding text</p>".repeat(2000)
    );
    let logged = render("broken", &broken);
    assert!(logged.iter().any(|l| l.contains("notDefined is not defined")), "{logged:?}");
}

#[test]
fn every_report_renders_without_console_messages() {
    let system = load_example("economics.yaml");
    let results = optimize(&system, &Options::lp()).expect("options fit");
    assert_eq!(results.status, Status::Optimal);
    assert!(results.economics.is_some());
    let mut pages = vec![("run_with_economics", report::html(&system, &results))];

    let dispatch = load_example("dispatch.yaml");
    // The economics case with a CO2 factor on imports, so that the front has
    // a trade-off to draw.
    let text = std::fs::read_to_string(example_dir().join("economics.yaml")).expect("economics.yaml");
    let with_co2 = text.replace("    export_max_kw: 10\n", "    export_max_kw: 10\n    import_co2_kg_per_kwh: 0.4\n");
    assert_ne!(with_co2, text, "the CO2 factor went in");
    let co2_system = ecosystemiser_engine::parse_system(&with_co2, &Dir(example_dir())).expect("valid");
    let front = pareto(&co2_system, 3, &Options { with_series: false, ..Options::lp() }, 2, &mut |_, _| {});
    assert!(front.points.len() == 3 && front.points.iter().all(|p| p.economics.is_some()), "{front:?}");
    pages.push(("pareto_with_economics", report::pareto_html(&co2_system, &front)));
    let spec = UncertaintySpec {
        parameters: vec![UncertainParameter::parse("grid.import_price=normal(1,0.1)").unwrap()],
        samples: 4,
        seed: 1,
        sampling: Sampling::LatinHypercube,
    };
    let summary = uncertainty(&dispatch, &spec, &Options { with_series: false, ..Options::lp() }, 2, &mut |_, _| {});
    pages.push(("uncertainty", report::uncertainty_html(&dispatch, &summary)));

    for (name, html) in pages {
        let logged = render(name, &html);
        assert!(logged.is_empty(), "{name} logged to the console:\n{}", logged.join("\n"));
    }
}
