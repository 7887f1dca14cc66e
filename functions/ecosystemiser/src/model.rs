//! The study's own vocabulary: kinds, statuses, the typed options of each
//! kind, the validated input a study runs on, and the jobs it splits into.
//!
//! Submission is validated here, synchronously and without I/O: the system
//! document through the engine's parser, the options through serde, and an
//! uncertainty spec against the system. Every problem becomes one
//! [`ValidationError`] whose path starts at the request body's root
//! (`system.components[2].power_kw`, `options.samples`), so a client sees
//! all its mistakes in one 400.

use std::collections::BTreeMap;

use ecosystemiser_engine::optimize::{Options, SolverKind};
use ecosystemiser_engine::parse::{self, FileSource, ValidationError};
use ecosystemiser_engine::uncertainty::{Sampling, UncertainParameter, UncertaintySpec};
use ecosystemiser_engine::{Objective, System, node};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::system_schema::{self, absent_not_null};

/// Most ε points a Pareto study may ask for; each is one job.
pub const MAX_PARETO_POINTS: usize = 200;
/// Most samples an uncertainty study may ask for; each is one job.
pub const MAX_SAMPLES: usize = 2000;
/// Points when a Pareto study names none.
pub const DEFAULT_PARETO_POINTS: usize = 10;

/// The job that solves an optimisation study.
pub const OPTIMIZE_JOB: &str = "optimize";
/// The job that solves both ends of a Pareto front. The clean end is
/// lexicographic (cheapest among the cleanest), which `pareto::anchors`
/// solves as a sequence, so both anchors are one job; the ε points fan out
/// from it.
pub const ANCHORS_JOB: &str = "anchors";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Optimize,
    Pareto,
    Uncertainty,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Optimize, Kind::Pareto, Kind::Uncertainty];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Optimize => "optimize",
            Kind::Pareto => "pareto",
            Kind::Uncertainty => "uncertainty",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// Where a study is. `queued` until a worker picks up its first job,
/// `running` until the last job is recorded, then one of the final three.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StudyStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    /// The system has no feasible dispatch (for a Pareto study: its anchors).
    Infeasible,
}

impl StudyStatus {
    pub const ALL: [StudyStatus; 5] = [
        StudyStatus::Queued,
        StudyStatus::Running,
        StudyStatus::Succeeded,
        StudyStatus::Failed,
        StudyStatus::Infeasible,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StudyStatus::Queued => "queued",
            StudyStatus::Running => "running",
            StudyStatus::Succeeded => "succeeded",
            StudyStatus::Failed => "failed",
            StudyStatus::Infeasible => "infeasible",
        }
    }

    pub fn parse(text: &str) -> Option<StudyStatus> {
        StudyStatus::ALL.into_iter().find(|status| status.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, StudyStatus::Queued | StudyStatus::Running)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SolverName {
    Lp,
    RuleBased,
    Rolling,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveName {
    Cost,
    Co2,
}

/// `options` of an optimisation study. `window` and `overlap` are for the
/// rolling solver only, and it needs a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null, transform = rolling_rules)]
pub struct OptimizeOptions {
    #[serde(default = "lp")]
    pub solver: SolverName,
    /// Rolling horizon: steps per window and steps re-solved by the next one.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub window: Option<usize>,
    #[serde(default)]
    pub overlap: Option<usize>,
    /// Overrides the system's objective.
    #[serde(default)]
    pub objective: Option<ObjectiveName>,
    #[serde(default)]
    #[schemars(range(min = 0), extend("exclusiveMinimum" = true))]
    pub time_limit_s: Option<f64>,
}

/// `options` of a Pareto study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
pub struct ParetoOptions {
    /// Points on the front, both anchors included.
    #[serde(default = "default_points")]
    #[schemars(range(min = 2, max = MAX_PARETO_POINTS))]
    pub points: usize,
    #[serde(default)]
    #[schemars(range(min = 0), extend("exclusiveMinimum" = true))]
    pub time_limit_s: Option<f64>,
}

/// `options` of an uncertainty study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = absent_not_null)]
pub struct UncertaintyOptions {
    #[schemars(range(min = 1, max = MAX_SAMPLES))]
    pub samples: usize,
    #[serde(default)]
    #[schemars(range(max = u64::MAX))]
    pub seed: u64,
    #[serde(default)]
    #[schemars(with = "SamplingName")]
    pub sampling: Sampling,
    #[schemars(with = "Vec<ParameterSchema>", length(min = 1))]
    pub parameters: Vec<UncertainParameter>,
    #[serde(default)]
    pub objective: Option<ObjectiveName>,
    #[serde(default)]
    #[schemars(range(min = 0), extend("exclusiveMinimum" = true))]
    pub time_limit_s: Option<f64>,
}

/// The engine's [`Sampling`], as the schema names it.
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "Sampling")]
#[allow(dead_code)]
enum SamplingName {
    LatinHypercube,
    Sobol,
}

/// The engine's [`UncertainParameter`]: a value to multiply by a draw.
#[derive(JsonSchema)]
#[schemars(rename = "UncertainParameter")]
#[allow(dead_code)]
struct ParameterSchema {
    /// `component.parameter`, such as `grid.import_price` or `house.scale`.
    target: String,
    distribution: DistributionSchema,
}

/// The engine's `Distribution`, by `type`.
#[derive(JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schemars(rename = "Distribution")]
#[allow(dead_code)]
enum DistributionSchema {
    /// `low < high`.
    Uniform { low: f64, high: f64 },
    Normal {
        mean: f64,
        #[schemars(range(min = 0), extend("exclusiveMinimum" = true))]
        std: f64,
    },
    /// `low <= mode <= high`, `low < high`.
    Triangular { low: f64, mode: f64, high: f64 },
}

/// `window` and `overlap` only with `solver: rolling`, which needs a window.
fn rolling_rules(schema: &mut schemars::Schema) {
    schema.insert(
        "anyOf".into(),
        serde_json::json!([
            {"properties": {"solver": {"enum": ["lp", "rule-based"]}},
             "not": {"anyOf": [{"required": ["window"]}, {"required": ["overlap"]}]}},
            {"properties": {"solver": {"enum": ["rolling"]}}, "required": ["solver", "window"]}
        ]),
    );
}

fn lp() -> SolverName {
    SolverName::Lp
}

fn default_points() -> usize {
    DEFAULT_PARETO_POINTS
}

/// A kind's validated options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StudyOptions {
    Optimize(OptimizeOptions),
    Pareto(ParetoOptions),
    Uncertainty(UncertaintyOptions),
}

impl StudyOptions {
    pub fn kind(&self) -> Kind {
        match self {
            StudyOptions::Optimize(_) => Kind::Optimize,
            StudyOptions::Pareto(_) => Kind::Pareto,
            StudyOptions::Uncertainty(_) => Kind::Uncertainty,
        }
    }

    /// The engine options every job of the study solves with.
    pub fn engine_options(&self) -> Options {
        let objective = |name: Option<ObjectiveName>| {
            name.map(|name| match name {
                ObjectiveName::Cost => Objective::Cost,
                ObjectiveName::Co2 => Objective::Co2,
            })
        };
        match self {
            StudyOptions::Optimize(o) => Options {
                solver: match o.solver {
                    SolverName::Lp => SolverKind::Lp,
                    SolverName::RuleBased => SolverKind::RuleBased,
                    SolverName::Rolling => SolverKind::Rolling {
                        window: o.window.unwrap_or(0),
                        overlap: o.overlap.unwrap_or(0),
                    },
                },
                objective: objective(o.objective),
                time_limit_s: o.time_limit_s,
                with_series: true,
            },
            StudyOptions::Pareto(o) => {
                Options { solver: SolverKind::Lp, objective: None, time_limit_s: o.time_limit_s, with_series: false }
            }
            StudyOptions::Uncertainty(o) => Options {
                solver: SolverKind::Lp,
                objective: objective(o.objective),
                time_limit_s: o.time_limit_s,
                with_series: false,
            },
        }
    }

    pub fn uncertainty_spec(&self) -> Option<UncertaintySpec> {
        match self {
            StudyOptions::Uncertainty(o) => Some(UncertaintySpec {
                parameters: o.parameters.clone(),
                samples: o.samples,
                seed: o.seed,
                sampling: o.sampling,
            }),
            _ => None,
        }
    }
}

/// What a study runs on, as stored next to its results: the system
/// document, the text of every file it refers to, and the options. Workers
/// re-validate it (cheap) rather than trusting a serialised `System`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyInput {
    pub system: serde_json::Value,
    /// File name (as the document's `profiles.csv` says it) to its text.
    pub files: BTreeMap<String, String>,
    pub options: StudyOptions,
}

impl StudyInput {
    /// The validated system; an error here means the stored input is bad.
    pub fn system(&self) -> Result<System, String> {
        parse::validate(&node::from_json(&self.system), &FileMap(&self.files)).map_err(|invalid| invalid.to_string())
    }
}

/// One job as planned: its key within the study and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct JobPlan {
    pub key: String,
    pub params: serde_json::Value,
}

impl JobPlan {
    pub fn new(key: impl Into<String>, params: serde_json::Value) -> JobPlan {
        JobPlan { key: key.into(), params }
    }
}

/// The jobs a study starts with, and how many it will have in all (a Pareto
/// study adds its ε points when the anchors are solved).
pub fn initial_jobs(options: &StudyOptions) -> (Vec<JobPlan>, i64) {
    match options {
        StudyOptions::Optimize(_) => (vec![JobPlan::new(OPTIMIZE_JOB, serde_json::Value::Null)], 1),
        StudyOptions::Pareto(o) => {
            (vec![JobPlan::new(ANCHORS_JOB, serde_json::Value::Null)], 1 + interior_points(o.points) as i64)
        }
        StudyOptions::Uncertainty(o) => {
            let jobs = (0..o.samples).map(|i| JobPlan::new(sample_job(i), serde_json::json!({ "index": i }))).collect();
            (jobs, o.samples as i64)
        }
    }
}

/// The ε points between the two anchors.
pub fn interior_points(points: usize) -> usize {
    points.max(2) - 2
}

pub fn sample_job(index: usize) -> String {
    format!("sample-{index:05}")
}

pub fn point_job(index: usize) -> String {
    format!("point-{index:04}")
}

/// The body of a `POST /v1/studies` request, before validation.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    pub kind: String,
    pub system: serde_json::Value,
    /// `{}` when absent; `null` is refused, as the schema says.
    #[serde(default = "no_options")]
    pub options: serde_json::Value,
    /// Files the system refers to, inline: `{"profiles.csv": "<csv text>"}`.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

fn no_options() -> serde_json::Value {
    serde_json::json!({})
}

/// The body of `POST /v1/studies` as the OpenAPI document describes it: one
/// shape per kind, each with its own options. The handler reads the body as
/// [`SubmitBody`] and [`validate_submission`] applies the same rules, with
/// errors that name each bad path.
#[derive(JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(rename = "SubmitStudy", transform = variants_absent_not_null, example = example_submission())]
#[allow(dead_code)]
pub enum SubmitStudy {
    Optimize {
        system: system_schema::System,
        options: Option<OptimizeOptions>,
        /// File name to CSV text, for the files the system names.
        #[serde(default)]
        files: BTreeMap<String, String>,
    },
    Pareto {
        system: system_schema::System,
        options: Option<ParetoOptions>,
        /// File name to CSV text, for the files the system names.
        #[serde(default)]
        files: BTreeMap<String, String>,
    },
    Uncertainty {
        system: system_schema::System,
        options: UncertaintyOptions,
        /// File name to CSV text, for the files the system names.
        #[serde(default)]
        files: BTreeMap<String, String>,
    },
}

fn example_submission() -> serde_json::Value {
    serde_json::json!({"kind": "optimize", "system": system_schema::example(), "options": {"solver": "lp"}})
}

fn variants_absent_not_null(schema: &mut schemars::Schema) {
    for variant in schema.get_mut("oneOf").and_then(serde_json::Value::as_array_mut).into_iter().flatten() {
        if let Ok(variant) = <&mut schemars::Schema>::try_from(variant) {
            absent_not_null(variant);
        }
    }
}

/// A study that passed validation.
#[derive(Debug)]
pub struct Validated {
    pub input: StudyInput,
    pub system: System,
}

/// Validates a submission whose referenced files are already fetched
/// (`files`: name to text; uploads are resolved by the caller).
pub fn validate_submission(
    body: &SubmitBody,
    files: BTreeMap<String, String>,
) -> Result<Validated, Vec<ValidationError>> {
    let mut errors = Vec::new();
    let error = |path: &str, message: String| ValidationError { path: path.to_owned(), line: None, message };
    let Some(kind) = Kind::parse(&body.kind) else {
        let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(vec![error("kind", format!("unknown kind `{}`; expected one of {}", body.kind, kinds.join(", ")))]);
    };
    let options = match parse_options(kind, &body.options) {
        Ok(options) => Some(options),
        Err(option_error) => {
            errors.push(option_error);
            None
        }
    };
    let system = match parse::validate(&node::from_json(&body.system), &FileMap(&files)) {
        Ok(system) => Some(system),
        Err(invalid) => {
            errors.extend(invalid.errors.into_iter().map(|e| ValidationError { path: prefixed("system", &e.path), ..e }));
            None
        }
    };
    if let Some(options) = &options {
        errors.extend(check_options(options, system.as_ref()));
    }
    match (system, options) {
        (Some(system), Some(options)) if errors.is_empty() => {
            Ok(Validated { input: StudyInput { system: body.system.clone(), files, options }, system })
        }
        _ => Err(errors),
    }
}

fn prefixed(root: &str, path: &str) -> String {
    if path.is_empty() {
        root.to_owned()
    } else if path.starts_with('[') {
        format!("{root}{path}")
    } else {
        format!("{root}.{path}")
    }
}

fn parse_options(kind: Kind, options: &serde_json::Value) -> Result<StudyOptions, ValidationError> {
    // serde reads `null` as an absent option; the schema does not.
    if let Some((key, _)) = options.as_object().into_iter().flatten().find(|(_, value)| value.is_null()) {
        return Err(ValidationError {
            path: prefixed("options", key),
            line: None,
            message: "must not be null; leave it out for the default".into(),
        });
    }
    let options = options.clone();
    fn typed<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ValidationError> {
        serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            let message = error.into_inner().to_string();
            // serde names a missing field in the message, at its parent.
            let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
            let path = match (missing, path.as_str()) {
                (Some(name), ".") => name.to_owned(),
                (Some(name), parent) => format!("{parent}.{name}"),
                (None, ".") => String::new(),
                (None, path) => path.to_owned(),
            };
            ValidationError { path: prefixed("options", &path), line: None, message }
        })
    }
    Ok(match kind {
        Kind::Optimize => StudyOptions::Optimize(typed(options)?),
        Kind::Pareto => StudyOptions::Pareto(typed(options)?),
        Kind::Uncertainty => StudyOptions::Uncertainty(typed(options)?),
    })
}

/// Checks the options' values, and the uncertainty spec against the system.
fn check_options(options: &StudyOptions, system: Option<&System>) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let mut error = |path: &str, message: &str| {
        errors.push(ValidationError { path: path.to_owned(), line: None, message: message.to_owned() })
    };
    let time_limit = match options {
        StudyOptions::Optimize(o) => o.time_limit_s,
        StudyOptions::Pareto(o) => o.time_limit_s,
        StudyOptions::Uncertainty(o) => o.time_limit_s,
    };
    if time_limit.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
        error("options.time_limit_s", "must be a positive number of seconds");
    }
    match options {
        StudyOptions::Optimize(o) => match o.solver {
            SolverName::Rolling => {
                let window = o.window.unwrap_or(0);
                if window == 0 {
                    error("options.window", "the rolling solver needs a window of at least one step");
                }
                if o.overlap.unwrap_or(0) >= window.max(1) {
                    error("options.overlap", "must be smaller than the window");
                }
                if let Some(system) = system
                    && window > system.timesteps
                {
                    error("options.window", "must not exceed the system's timesteps");
                }
            }
            _ if o.window.is_some() || o.overlap.is_some() => {
                error("options.window", "window and overlap apply to the rolling solver only")
            }
            _ => {}
        },
        StudyOptions::Pareto(o) => {
            if !(2..=MAX_PARETO_POINTS).contains(&o.points) {
                error("options.points", &format!("must be between 2 and {MAX_PARETO_POINTS}"));
            }
        }
        StudyOptions::Uncertainty(o) => {
            if o.samples > MAX_SAMPLES {
                error("options.samples", &format!("at most {MAX_SAMPLES} samples"));
            }
            if let (Some(spec), Some(system)) = (options.uncertainty_spec(), system)
                && let Err(invalid) = spec.check(system)
            {
                errors.extend(
                    invalid.errors.into_iter().map(|e| ValidationError { path: prefixed("options", &e.path), ..e }),
                );
            }
        }
    }
    errors
}

/// Files by name, for the engine's parser.
pub struct FileMap<'a>(pub &'a BTreeMap<String, String>);

impl FileSource for FileMap<'_> {
    fn read_text(&self, relative_path: &str) -> Result<String, String> {
        self.0.get(relative_path).cloned().ok_or_else(|| {
            "no such file; send it in `files` or upload it (POST /v1/uploads) and name the upload key".to_owned()
        })
    }
}

/// The file name the system document's `profiles.csv` gives, if any.
pub fn referenced_csv(system: &serde_json::Value) -> Option<&str> {
    system.get("profiles")?.get("csv")?.as_str()
}

/// FNV-1a, 64 bits: a stable fingerprint of a request body, to tell an
/// idempotent retry from a different request reusing the key.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, system: serde_json::Value, options: serde_json::Value) -> SubmitBody {
        SubmitBody { kind: kind.into(), system, options, files: BTreeMap::new() }
    }

    fn small_system() -> serde_json::Value {
        serde_json::json!({
            "name": "tiny", "timesteps": 2, "timestep_hours": 1.0,
            "profiles": {"inline": {"load": [1.0, 2.0]}},
            "components": [
                {"name": "grid", "type": "grid", "import_price": 0.2, "import_max_kw": 10},
                {"name": "house", "type": "electric_demand", "profile": "load"}
            ]
        })
    }

    fn paths(errors: Vec<ValidationError>) -> Vec<String> {
        errors.into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn a_valid_submission_of_each_kind_passes() {
        validate_submission(&body("optimize", small_system(), serde_json::json!({})), BTreeMap::new()).unwrap();
        validate_submission(&body("pareto", small_system(), serde_json::json!({"points": 5})), BTreeMap::new())
            .unwrap();
        let spec = serde_json::json!({"samples": 4, "parameters": [
            {"target": "house.scale", "distribution": {"type": "uniform", "low": 0.9, "high": 1.1}}]});
        validate_submission(&body("uncertainty", small_system(), spec), BTreeMap::new()).unwrap();
    }

    #[test]
    fn every_bad_path_is_named_from_the_body_root() {
        let mut system = small_system();
        system["components"][0]["import_max_kw"] = serde_json::json!(-1);
        system["timesteps"] = serde_json::json!("two");
        let errors = validate_submission(&body("optimize", system, serde_json::json!({})), BTreeMap::new())
            .unwrap_err();
        let paths = paths(errors);
        assert!(paths.iter().all(|p| p.starts_with("system.")), "{paths:?}");
        assert!(paths.iter().any(|p| p == "system.timesteps"), "{paths:?}");
    }

    #[test]
    fn option_errors_name_the_option() {
        let check = |kind: &str, options: serde_json::Value, path: &str| {
            let errors = validate_submission(&body(kind, small_system(), options), BTreeMap::new()).unwrap_err();
            assert_eq!(paths(errors), [path]);
        };
        check("uncertainty", serde_json::json!({"samples": -3, "parameters": []}), "options.samples");
        check("uncertainty", serde_json::json!({"parameters": []}), "options.samples");
        check(
            "uncertainty",
            serde_json::json!({"samples": 3, "parameters": [
                {"target": "nope.scale", "distribution": {"type": "uniform", "low": 0.9, "high": 1.1}}]}),
            "options.parameters[0].target",
        );
        check("pareto", serde_json::json!({"points": 1}), "options.points");
        check("optimize", serde_json::json!({"solver": "simplex"}), "options.solver");
        check("optimize", serde_json::json!({"solver": "rolling", "window": 5}), "options.window");
        check("optimize", serde_json::json!({"bogus": 1}), "options.bogus");
        check("sizing", serde_json::json!({}), "kind");
    }

    #[test]
    fn pareto_plans_one_anchor_job_and_counts_its_points() {
        let options = StudyOptions::Pareto(ParetoOptions { points: 20, time_limit_s: None });
        let (jobs, total) = initial_jobs(&options);
        assert_eq!(jobs.iter().map(|j| j.key.as_str()).collect::<Vec<_>>(), [ANCHORS_JOB]);
        assert_eq!(total, 19);
    }

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(fingerprint(b""), "cbf29ce484222325");
        assert_eq!(fingerprint(b"a"), "af63dc4c8601ec8c");
    }
}
