//! From a system file to a validated [`System`], collecting every error.
//!
//! Validation walks the tree once and keeps going after an error, so a user
//! sees all their mistakes at once, each with its path and line.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::model::*;
use crate::node::{self, Node, Value};

pub const MAX_TIMESTEPS: usize = 105_120;
/// `economics.project_years`: its default and its largest value.
pub const DEFAULT_PROJECT_YEARS: u32 = 20;
pub const MAX_PROJECT_YEARS: u32 = 100;

/// One thing wrong with a system file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValidationError {
    /// Where, as `components[2].power_kw`; empty for the whole document.
    pub path: String,
    /// 1-based line in the YAML/JSON source, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "(document)" } else { &self.path };
        match self.line {
            Some(line) => write!(f, "{path} (line {line}): {}", self.message),
            None => write!(f, "{path}: {}", self.message),
        }
    }
}

/// Every error found in a system file, in document order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Invalid {
    pub errors: Vec<ValidationError>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.errors.iter().map(|e| e.to_string()).collect();
        write!(f, "{}", lines.join("\n"))
    }
}

/// Reads files that a system file refers to (the profiles CSV), relative to
/// the system file. The engine does no I/O itself.
pub trait FileSource {
    fn read_text(&self, relative_path: &str) -> Result<String, String>;
}

/// For documents that must be self-contained (inline profiles only).
pub struct NoFiles;

impl FileSource for NoFiles {
    fn read_text(&self, relative_path: &str) -> Result<String, String> {
        Err(format!("no files can be read here; inline the profiles instead of `{relative_path}`"))
    }
}

/// Parses YAML or JSON text into a validated system.
pub fn parse_system(text: &str, files: &dyn FileSource) -> Result<System, Invalid> {
    let root = node::load(text).map_err(|e| Invalid {
        errors: vec![ValidationError { path: String::new(), line: Some(e.line), message: e.message }],
    })?;
    validate(&root, files)
}

/// Validates an already loaded tree (from [`node::load`] or [`node::from_json`]).
pub fn validate(root: &Node, files: &dyn FileSource) -> Result<System, Invalid> {
    let mut cx = Cx { errors: Vec::new(), profiles: HashMap::new(), timesteps: 0 };
    let system = cx.system(root, files);
    match system {
        Some(system) if cx.errors.is_empty() => Ok(system),
        _ => Err(Invalid { errors: cx.errors }),
    }
}

struct Cx {
    errors: Vec<ValidationError>,
    profiles: HashMap<String, Arc<[f64]>>,
    timesteps: usize,
}

/// A mapping under validation: its path, and its entries.
struct Obj<'n> {
    path: String,
    line: usize,
    entries: &'n [(String, Node)],
}

impl<'n> Obj<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn child(&self, key: &str) -> String {
        if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) }
    }
}

fn line_of(line: usize) -> Option<usize> {
    (line > 0).then_some(line)
}

impl Cx {
    fn error(&mut self, path: impl Into<String>, line: usize, message: impl Into<String>) {
        self.errors.push(ValidationError { path: path.into(), line: line_of(line), message: message.into() });
    }

    fn object<'n>(&mut self, node: &'n Node, path: String, allowed: &[&str]) -> Option<Obj<'n>> {
        let Value::Map(entries) = &node.value else {
            self.error(path, node.line, format!("expected a mapping, found {}", node.value.kind()));
            return None;
        };
        let obj = Obj { path, line: node.line, entries };
        for (key, value) in entries {
            if !allowed.contains(&key.as_str()) {
                let hint = closest(key, allowed).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
                self.error(obj.child(key), value.line, format!("unknown key `{key}`{hint}"));
            }
        }
        Some(obj)
    }

    fn required<'n>(&mut self, obj: &Obj<'n>, key: &str) -> Option<&'n Node> {
        let node = obj.get(key);
        if node.is_none() {
            self.error(obj.child(key), obj.line, format!("`{key}` is required"));
        }
        node
    }

    fn number_node(&mut self, node: &Node, path: &str) -> Option<f64> {
        match node.value {
            Value::Number(v) if v.is_finite() => Some(v),
            Value::Number(v) => {
                self.error(path, node.line, format!("must be a finite number, got {v}"));
                None
            }
            ref other => {
                self.error(path, node.line, format!("expected a number, found {}", other.kind()));
                None
            }
        }
    }

    /// An optional number with a check; `check` returns an error message.
    fn number(&mut self, obj: &Obj, key: &str, check: fn(f64) -> Option<&'static str>) -> Option<f64> {
        let node = obj.get(key)?;
        let path = obj.child(key);
        let v = self.number_node(node, &path)?;
        match check(v) {
            Some(message) => {
                self.error(path, node.line, format!("{message}, got {v}"));
                None
            }
            None => Some(v),
        }
    }

    fn string(&mut self, obj: &Obj, key: &str) -> Option<String> {
        let node = obj.get(key)?;
        match &node.value {
            Value::String(s) => Some(s.clone()),
            other => {
                self.error(obj.child(key), node.line, format!("expected a string, found {}", other.kind()));
                None
            }
        }
    }

    fn boolean(&mut self, obj: &Obj, key: &str) -> Option<bool> {
        let node = obj.get(key)?;
        match node.value {
            Value::Bool(b) => Some(b),
            ref other => {
                self.error(obj.child(key), node.line, format!("expected true or false, found {}", other.kind()));
                None
            }
        }
    }

    fn system(&mut self, root: &Node, files: &dyn FileSource) -> Option<System> {
        const KEYS: &[&str] = &[
            "name", "timesteps", "timestep_hours", "discount_rate", "economics", "objective", "weights", "profiles", "components",
        ];
        let obj = self.object(root, String::new(), KEYS)?;
        let name = self.required(&obj, "name").and_then(|_| self.string(&obj, "name"));
        if let Some(name) = &name
            && (name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')) {
                let line = obj.get("name").map_or(0, |n| n.line);
                self.error("name", line, format!("must match [a-z0-9_-]+, got `{name}`"));
            }
        let timesteps = self.required(&obj, "timesteps").and_then(|_| self.timesteps(&obj));
        let dt = self.number(&obj, "timestep_hours", |v| (v <= 0.0).then_some("must be > 0")).unwrap_or(1.0);
        let discount_rate =
            self.number(&obj, "discount_rate", |v| (v < 0.0).then_some("must be >= 0")).unwrap_or(0.05);
        let objective = self.objective(&obj);
        self.timesteps = timesteps.unwrap_or(0);
        if let (Some(node), Some(_)) = (obj.get("profiles"), timesteps) {
            self.profiles(node, files);
        }
        let components = match self.required(&obj, "components") {
            Some(node) => self.components(node, discount_rate, dt),
            None => Vec::new(),
        };
        let economics = match obj.get("economics") {
            Some(node) => Some(self.economics(node, obj.get("components"))?),
            None => None,
        };
        Some(System {
            name: name?,
            timesteps: timesteps?,
            dt,
            discount_rate,
            objective: objective?,
            components,
            economics,
        })
    }

    /// The `economics` section (v1.1). Names in `baseline.remove` are checked
    /// against the names written in `components`, so that a component with
    /// an error of its own does not also make every mention of it an error.
    fn economics(&mut self, node: &Node, components: Option<&Node>) -> Option<EconomicsSpec> {
        let obj = self.object(node, "economics".into(), &["project_years", "baseline"])?;
        let project_years = match obj.get("project_years") {
            None => Some(DEFAULT_PROJECT_YEARS),
            Some(years) => self.number_node(years, "economics.project_years").and_then(|v| {
                if v.fract() != 0.0 || !(1.0..=MAX_PROJECT_YEARS as f64).contains(&v) {
                    self.error("economics.project_years", years.line, format!("must be a whole number in 1..={MAX_PROJECT_YEARS}, got {v}"));
                    return None;
                }
                Some(v as u32)
            }),
        };
        let remove = match obj.get("baseline") {
            None => Some(None),
            Some(baseline) => {
                let baseline = self.object(baseline, "economics.baseline".into(), &["remove"])?;
                match baseline.get("remove") {
                    None => Some(None),
                    Some(list) => self.remove_list(list, &component_names(components)).map(Some),
                }
            }
        };
        Some(EconomicsSpec { project_years: project_years?, remove: remove? })
    }

    fn remove_list(&mut self, node: &Node, names: &[&str]) -> Option<Vec<String>> {
        let path = "economics.baseline.remove";
        let Value::Seq(items) = &node.value else {
            self.error(path, node.line, format!("expected a list of component names, found {}", node.value.kind()));
            return None;
        };
        let before = self.errors.len();
        let mut remove: Vec<String> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let Value::String(name) = &item.value else {
                self.error(item_path, item.line, format!("expected a component name, found {}", item.value.kind()));
                continue;
            };
            if let Some(first) = remove.iter().position(|n| n == name) {
                self.error(item_path, item.line, format!("`{name}` is listed twice (also {path}[{first}])"));
            } else if !names.contains(&name.as_str()) {
                let hint = closest(name, names).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
                self.error(item_path, item.line, format!("names no component: `{name}`{hint}"));
            }
            remove.push(name.clone());
        }
        (self.errors.len() == before).then_some(remove)
    }

    fn timesteps(&mut self, obj: &Obj) -> Option<usize> {
        let node = obj.get("timesteps")?;
        let v = self.number_node(node, "timesteps")?;
        if v.fract() != 0.0 || v < 1.0 || v > MAX_TIMESTEPS as f64 {
            self.error("timesteps", node.line, format!("must be a whole number in 1..={MAX_TIMESTEPS}, got {v}"));
            return None;
        }
        Some(v as usize)
    }

    fn objective(&mut self, obj: &Obj) -> Option<Objective> {
        let kind = self.string(obj, "objective").unwrap_or_else(|| "cost".into());
        let weights = obj.get("weights");
        match (kind.as_str(), weights) {
            ("cost", None) => Some(Objective::Cost),
            ("co2", None) => Some(Objective::Co2),
            ("weighted", _) => {
                let (mut cost, mut co2) = (1.0, 0.0);
                if let Some(node) = weights {
                    let w = self.object(node, "weights".into(), &["cost", "co2"])?;
                    cost = self.number(&w, "cost", |_| None).unwrap_or(cost);
                    co2 = self.number(&w, "co2", |_| None).unwrap_or(co2);
                }
                Some(Objective::Weighted { cost, co2 })
            }
            ("cost" | "co2", Some(node)) => {
                self.error("weights", node.line, "`weights` is only allowed with `objective: weighted`");
                None
            }
            (other, _) => {
                let line = obj.get("objective").map_or(0, |n| n.line);
                self.error("objective", line, format!("must be cost, co2 or weighted, got `{other}`"));
                None
            }
        }
    }

    fn profiles(&mut self, node: &Node, files: &dyn FileSource) {
        let Some(obj) = self.object(node, "profiles".into(), &["csv", "inline"]) else { return };
        if let Some(csv_path) = self.string(&obj, "csv") {
            let line = obj.get("csv").map_or(0, |n| n.line);
            match files.read_text(&csv_path) {
                Ok(text) => self.csv(&text, &csv_path, line),
                Err(message) => self.error("profiles.csv", line, format!("cannot read `{csv_path}`: {message}")),
            }
        }
        if let Some(inline) = obj.get("inline") {
            let Value::Map(inline_entries) = &inline.value else {
                self.error("profiles.inline", inline.line, format!("expected a mapping of name to list, found {}", inline.value.kind()));
                return;
            };
            for (name, values) in inline_entries {
                let path = format!("profiles.inline.{name}");
                if self.profiles.contains_key(name) {
                    self.error(&path, values.line, format!("profile `{name}` is also a csv column"));
                    continue;
                }
                if let Some(series) = self.inline_series(values, &path) {
                    self.profiles.insert(name.clone(), series.into());
                }
            }
        }
    }

    fn inline_series(&mut self, node: &Node, path: &str) -> Option<Vec<f64>> {
        let Value::Seq(items) = &node.value else {
            self.error(path, node.line, format!("expected a list of numbers, found {}", node.value.kind()));
            return None;
        };
        if items.len() != self.timesteps {
            self.error(path, node.line, format!("has {} values, expected timesteps = {}", items.len(), self.timesteps));
            return None;
        }
        let before = self.errors.len();
        let values: Vec<f64> = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.number_node(item, &format!("{path}[{i}]")).unwrap_or(0.0))
            .collect();
        (self.errors.len() == before).then_some(values)
    }

    fn csv(&mut self, text: &str, csv_path: &str, line: usize) {
        let mut rows = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = rows.next() else {
            self.error("profiles.csv", line, format!("`{csv_path}` is empty"));
            return;
        };
        let names: Vec<String> = header.split(',').map(|h| h.trim().trim_matches('"').to_string()).collect();
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() || names[..i].contains(name) {
                self.error("profiles.csv", line, format!("`{csv_path}` column {} has an empty or duplicate name `{name}`", i + 1));
                return;
            }
        }
        let mut columns: Vec<Vec<f64>> = vec![Vec::with_capacity(self.timesteps); names.len()];
        let mut bad = 0;
        let mut count = 0;
        for (index, row) in rows {
            count += 1;
            let fields: Vec<&str> = row.split(',').collect();
            if fields.len() != names.len() {
                self.error("profiles.csv", line, format!("`{csv_path}` line {}: {} fields, header has {}", index + 1, fields.len(), names.len()));
                return;
            }
            for (column, field) in columns.iter_mut().zip(&fields) {
                match field.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() => column.push(v),
                    _ => {
                        bad += 1;
                        if bad <= 5 {
                            self.error("profiles.csv", line, format!("`{csv_path}` line {}: `{}` is not a finite number", index + 1, field.trim()));
                        }
                        column.push(0.0);
                    }
                }
            }
        }
        if count != self.timesteps {
            self.error("profiles.csv", line, format!("`{csv_path}` has {count} data rows, expected timesteps = {}", self.timesteps));
            return;
        }
        if bad == 0 {
            for (name, values) in names.into_iter().zip(columns) {
                self.profiles.insert(name, values.into());
            }
        }
    }

    fn components(&mut self, node: &Node, discount_rate: f64, dt: f64) -> Vec<Component> {
        let Value::Seq(items) = &node.value else {
            self.error("components", node.line, format!("expected a list, found {}", node.value.kind()));
            return Vec::new();
        };
        if items.is_empty() {
            self.error("components", node.line, "needs at least one component");
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut components = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("components[{i}]");
            let Some(component) = self.component(item, &path, discount_rate, dt) else { continue };
            if let Some(first) = seen.insert(component.name.clone(), i) {
                self.error(format!("{path}.name"), item.line, format!("duplicate name `{}` (also components[{first}])", component.name));
            }
            components.push(component);
        }
        components
    }

    fn component(&mut self, node: &Node, path: &str, r: f64, dt: f64) -> Option<Component> {
        let Value::Map(entries) = &node.value else {
            self.error(path, node.line, format!("expected a mapping, found {}", node.value.kind()));
            return None;
        };
        let peek = Obj { path: path.to_string(), line: node.line, entries };
        let type_name = self.required(&peek, "type").and_then(|_| self.string(&peek, "type"))?;
        let Some(spec) = TypeSpec::of(&type_name) else {
            let line = peek.get("type").map_or(node.line, |n| n.line);
            self.error(format!("{path}.type"), line, format!("unknown component type `{type_name}`; one of {}", TypeSpec::NAMES.join(", ")));
            return None;
        };
        let obj = self.object(node, path.to_string(), spec.family.keys())?;
        let name = self.required(&obj, "name").and_then(|_| self.string(&obj, "name"));
        if let Some(name) = &name
            && (name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')) {
                let line = obj.get("name").map_or(0, |n| n.line);
                self.error(obj.child("name"), line, format!("must match [A-Za-z0-9_-]+, got `{name}`"));
            }
        let kind = match spec.family {
            Family::Grid => self.grid(&obj, &spec, dt).map(Kind::Grid),
            Family::Source => self.source(&obj, &spec, r).map(Kind::Source),
            Family::Storage => self.storage(&obj, &spec, r).map(Kind::Storage),
            Family::Converter => self.converter(&obj, &spec, r).map(Kind::Converter),
            Family::Demand => self.demand(&obj, &spec).map(Kind::Demand),
        };
        Some(Component { name: name?, type_name, kind: kind? })
    }

    fn bus(&mut self, obj: &Obj, key: &str, default: Option<&str>) -> Option<String> {
        match (self.string(obj, key), default) {
            (Some(bus), _) if bus.is_empty() => {
                self.error(obj.child(key), obj.line, "must not be empty");
                None
            }
            (Some(bus), _) => Some(bus),
            (None, Some(default)) if !obj.has(key) => Some(default.to_string()),
            (None, None) if !obj.has(key) => {
                self.error(obj.child(key), obj.line, format!("`{key}` is required for this type"));
                None
            }
            (None, _) => None,
        }
    }

    /// A series parameter: a number, or a profile name.
    fn series(&mut self, obj: &Obj, key: &str, default: Option<f64>, non_negative: bool) -> Option<Series> {
        let Some(node) = obj.get(key) else {
            return match default {
                Some(v) => Some(Series::Constant(v)),
                None => {
                    self.error(obj.child(key), obj.line, format!("`{key}` is required"));
                    None
                }
            };
        };
        let path = obj.child(key);
        let series = match &node.value {
            Value::Number(_) => Series::Constant(self.number_node(node, &path)?),
            Value::String(name) => match self.profiles.get(name) {
                Some(values) => Series::Profile { name: name.clone(), values: values.clone() },
                None => {
                    let mut known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    let hint = closest(name, &known).map(|k| format!("; did you mean `{k}`?")).unwrap_or_default();
                    self.error(path, node.line, format!("unknown profile `{name}`{hint}"));
                    return None;
                }
            },
            other => {
                self.error(path, node.line, format!("expected a number or a profile name, found {}", other.kind()));
                return None;
            }
        };
        if non_negative
            && let Some(t) = (0..self.timesteps).find(|&t| series.at(t) < 0.0) {
                self.error(path, node.line, format!("must be >= 0, got {} at step {t}", series.at(t)));
                return None;
            }
        Some(series)
    }

    fn positive_series(&mut self, obj: &Obj, key: &str) -> Option<Series> {
        let series = self.series(obj, key, None, false)?;
        let bad = (0..self.timesteps).find(|&t| match &series {
            Series::Constant(v) => *v <= 0.0,
            Series::Profile { values, .. } => values[t] <= 0.0,
        });
        if let Some(t) = bad {
            let line = obj.get(key).map_or(obj.line, |n| n.line);
            self.error(obj.child(key), line, format!("must be > 0, got {} at step {t}", series.at(t)));
            return None;
        }
        Some(series)
    }

    fn capacity(&mut self, obj: &Obj, key: &str, r: f64) -> Option<Capacity> {
        let node = obj.get(key)?;
        let path = obj.child(key);
        if let Value::Number(_) = node.value {
            let v = self.number_node(node, &path)?;
            if v < 0.0 {
                self.error(path, node.line, format!("must be >= 0, got {v}"));
                return None;
            }
            return Some(Capacity::Fixed(v));
        }
        const KEYS: &[&str] = &["min", "max", "cost_per_unit_year", "capex_per_unit", "lifetime_years", "opex_per_unit_year"];
        if !matches!(node.value, Value::Map(_)) {
            self.error(path, node.line, format!("expected a number or a sizing block, found {}", node.value.kind()));
            return None;
        }
        let block = self.object(node, path.clone(), KEYS)?;
        let non_negative: fn(f64) -> Option<&'static str> = |v| (v < 0.0).then_some("must be >= 0");
        let min = self.number(&block, "min", non_negative).unwrap_or(0.0);
        let max = self.number(&block, "max", non_negative);
        if let Some(max) = max
            && min > max {
                self.error(block.child("min"), block.line, format!("min {min} is above max {max}"));
            }
        let per_year = self.number(&block, "cost_per_unit_year", |_| None);
        let capex = self.number(&block, "capex_per_unit", |_| None);
        let lifetime = self.number(&block, "lifetime_years", |v| (v <= 0.0).then_some("must be > 0"));
        let opex = self.number(&block, "opex_per_unit_year", |_| None);
        let cost = match (per_year, capex, lifetime) {
            (Some(a), None, None) if opex.is_none() => Some(a),
            (Some(_), _, _) => {
                self.error(block.child("cost_per_unit_year"), block.line, "give either cost_per_unit_year or capex_per_unit with lifetime_years (and opex_per_unit_year), not both");
                None
            }
            (None, Some(capex), Some(n)) => Some(capex * crf(r, n) + opex.unwrap_or(0.0)),
            (None, Some(_), None) => {
                if !block.has("lifetime_years") {
                    self.error(block.child("lifetime_years"), block.line, "`lifetime_years` is required with capex_per_unit");
                }
                None
            }
            (None, None, _) => {
                if !block.has("capex_per_unit") {
                    self.error(path.clone(), block.line, "a sizing block needs a cost: cost_per_unit_year, or capex_per_unit with lifetime_years");
                }
                None
            }
        };
        let form = match (capex, lifetime) {
            (Some(capex_per_unit), Some(lifetime_years)) if per_year.is_none() => {
                Some(CapexForm { capex_per_unit, lifetime_years, opex_per_unit_year: opex.unwrap_or(0.0) })
            }
            _ => None,
        };
        Some(Capacity::Sized(Sizing { min, max, cost_per_unit_year: cost?, capex: form }))
    }

    fn required_capacity(&mut self, obj: &Obj, key: &str, r: f64) -> Option<Capacity> {
        self.required(obj, key)?;
        self.capacity(obj, key, r)
    }

    fn grid(&mut self, obj: &Obj, spec: &TypeSpec, dt: f64) -> Option<Grid> {
        let non_negative: fn(f64) -> Option<&'static str> = |v| (v < 0.0).then_some("must be >= 0");
        let bus = self.bus(obj, "bus", spec.bus);
        let import_price = self.series(obj, "import_price", Some(0.0), false);
        let export_price = self.series(obj, "export_price", Some(0.0), false);
        let import_co2 = self.series(obj, "import_co2_kg_per_kwh", Some(0.0), false);
        let import_max_kw = self.number(obj, "import_max_kw", non_negative);
        let export_max_kw = self.number(obj, "export_max_kw", non_negative);
        let demand_charge_per_kw = self.number(obj, "demand_charge_per_kw", |_| None).unwrap_or(0.0);
        let period_hours = self.number(obj, "billing_period_hours", |v| (v <= 0.0).then_some("must be > 0")).unwrap_or(730.0);
        let billing_period_steps = (period_hours / dt).round();
        if billing_period_steps < 1.0 {
            let line = obj.get("billing_period_hours").map_or(obj.line, |n| n.line);
            self.error(obj.child("billing_period_hours"), line, format!("rounds to 0 steps of {dt} h"));
            return None;
        }
        let some_or = |v: Option<f64>, key: &str, obj: &Obj| if obj.has(key) { v.map(Some) } else { Some(None) };
        Some(Grid {
            bus: bus?,
            import_price: import_price?,
            export_price: export_price?,
            import_max_kw: some_or(import_max_kw, "import_max_kw", obj)?,
            export_max_kw: some_or(export_max_kw, "export_max_kw", obj)?,
            import_co2: import_co2?,
            demand_charge_per_kw,
            billing_period_steps: billing_period_steps as usize,
        })
    }

    fn source(&mut self, obj: &Obj, spec: &TypeSpec, r: f64) -> Option<Source> {
        let bus = self.bus(obj, "bus", spec.bus);
        let capacity = self.required_capacity(obj, "capacity", r);
        let profile = self.series(obj, "profile", None, true);
        let variable_cost = self.series(obj, "variable_cost_per_kwh", Some(0.0), false);
        Some(Source { bus: bus?, capacity: capacity?, profile: profile?, variable_cost: variable_cost? })
    }

    fn storage(&mut self, obj: &Obj, spec: &TypeSpec, r: f64) -> Option<Storage> {
        let bus = self.bus(obj, "bus", spec.bus);
        let energy = self.required_capacity(obj, "energy_kwh", r);
        let power = self.storage_power(obj, r);
        let (efficiency_charge, efficiency_discharge) = self.storage_efficiency(obj)?;
        let loss_per_hour = self.number(obj, "loss_per_hour", |v| (!(0.0..1.0).contains(&v)).then_some("must be in [0, 1)"));
        let fraction: fn(f64) -> Option<&'static str> = |v| (!(0.0..=1.0).contains(&v)).then_some("must be in [0, 1]");
        let soc_min = self.number(obj, "soc_min", fraction);
        let soc_initial = self.number(obj, "soc_initial", fraction);
        let cyclic = self.boolean(obj, "cyclic");
        let failed = |key: &str, v: &Option<f64>| obj.has(key) && v.is_none();
        if failed("loss_per_hour", &loss_per_hour) || failed("soc_min", &soc_min) || failed("soc_initial", &soc_initial) {
            return None;
        }
        Some(Storage {
            bus: bus?,
            energy: energy?,
            power: power?,
            efficiency_charge,
            efficiency_discharge,
            loss_per_hour: loss_per_hour.unwrap_or(0.0),
            soc_min: soc_min.unwrap_or(0.0),
            soc_initial: soc_initial.unwrap_or(0.5),
            cyclic: if obj.has("cyclic") { cyclic? } else { true },
            soc_start_kwh: None,
        })
    }

    fn storage_power(&mut self, obj: &Obj, r: f64) -> Option<StoragePower> {
        match (obj.has("power_kw"), obj.has("charge_kw"), obj.has("discharge_kw")) {
            (true, false, false) => self.capacity(obj, "power_kw", r).map(StoragePower::Shared),
            (false, true, true) => {
                let charge = self.capacity(obj, "charge_kw", r);
                let discharge = self.capacity(obj, "discharge_kw", r);
                Some(StoragePower::Separate { charge: charge?, discharge: discharge? })
            }
            (true, _, _) => {
                self.error(obj.child("power_kw"), obj.line, "give either power_kw, or charge_kw and discharge_kw, not both");
                None
            }
            (false, false, false) => {
                self.error(obj.child("power_kw"), obj.line, "`power_kw` (or both `charge_kw` and `discharge_kw`) is required");
                None
            }
            (false, _, _) => {
                self.error(obj.child("charge_kw"), obj.line, "`charge_kw` and `discharge_kw` go together");
                None
            }
        }
    }

    fn storage_efficiency(&mut self, obj: &Obj) -> Option<(f64, f64)> {
        let unit: fn(f64) -> Option<&'static str> = |v| (!(v > 0.0 && v <= 1.0)).then_some("must be in (0, 1]");
        if obj.has("efficiency_roundtrip") {
            if obj.has("efficiency_charge") || obj.has("efficiency_discharge") {
                self.error(obj.child("efficiency_roundtrip"), obj.line, "give either efficiency_roundtrip, or efficiency_charge/efficiency_discharge, not both");
                return None;
            }
            let rt = self.number(obj, "efficiency_roundtrip", unit)?.sqrt();
            return Some((rt, rt));
        }
        let charge = self.number(obj, "efficiency_charge", unit);
        let discharge = self.number(obj, "efficiency_discharge", unit);
        if (obj.has("efficiency_charge") && charge.is_none()) || (obj.has("efficiency_discharge") && discharge.is_none()) {
            return None;
        }
        Some((charge.unwrap_or(1.0), discharge.unwrap_or(1.0)))
    }

    fn converter(&mut self, obj: &Obj, spec: &TypeSpec, r: f64) -> Option<Converter> {
        let bus_out = self.bus(obj, "bus_out", spec.bus_out);
        let bus_in = if obj.has("bus_in") { Some(self.bus(obj, "bus_in", None)) } else { Some(spec.bus_in.map(str::to_string)) };
        let efficiency_key = match (spec.efficiency_key, obj.has("cop"), obj.has("efficiency")) {
            (Some(key), _, _) => {
                let other = if key == "cop" { "efficiency" } else { "cop" };
                if obj.has(other) {
                    self.error(obj.child(other), obj.line, format!("`{}` takes `{key}`, not `{other}`", spec.name));
                }
                Some(key)
            }
            (None, true, false) => Some("cop"),
            (None, false, true) => Some("efficiency"),
            (None, true, true) => {
                self.error(obj.child("efficiency"), obj.line, "a converter takes exactly one of `cop` and `efficiency`");
                None
            }
            (None, false, false) => {
                self.error(obj.child("efficiency"), obj.line, "a converter needs `cop` or `efficiency`");
                None
            }
        };
        let efficiency = efficiency_key.and_then(|key| self.positive_series(obj, key));
        let capacity = self.required_capacity(obj, "capacity", r);
        let bus_in = bus_in?;
        for key in ["fuel_price_per_kwh", "fuel_co2_kg_per_kwh"] {
            if bus_in.is_some() && obj.has(key) {
                self.error(obj.child(key), obj.line, format!("`{key}` is only for a converter without an input bus"));
            }
        }
        let fuel_price = self.series(obj, "fuel_price_per_kwh", Some(0.0), false);
        let fuel_co2 = self.series(obj, "fuel_co2_kg_per_kwh", Some(0.0), false);
        Some(Converter {
            bus_in,
            bus_out: bus_out?,
            efficiency: efficiency?,
            capacity: capacity?,
            fuel_price: fuel_price?,
            fuel_co2: fuel_co2?,
        })
    }

    fn demand(&mut self, obj: &Obj, spec: &TypeSpec) -> Option<Demand> {
        let bus = self.bus(obj, "bus", spec.bus);
        let profile = self.series(obj, "profile", None, true);
        let scale = self.number(obj, "scale", |v| (v < 0.0).then_some("must be >= 0"));
        if obj.has("scale") && scale.is_none() {
            return None;
        }
        let penalty = self.number(obj, "unmet_penalty_per_kwh", |_| None);
        if obj.has("unmet_penalty_per_kwh") && penalty.is_none() {
            return None;
        }
        Some(Demand { bus: bus?, profile: profile?, scale: scale.unwrap_or(1.0), unmet_penalty_per_kwh: penalty })
    }
}

/// The names written in `components`, whether or not each component is valid.
fn component_names(components: Option<&Node>) -> Vec<&str> {
    let Some(Node { value: Value::Seq(items), .. }) = components else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| match &item.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == "name").and_then(|(_, v)| match &v.value {
                Value::String(name) => Some(name.as_str()),
                _ => None,
            }),
            _ => None,
        })
        .collect()
}

/// Capital recovery factor: turns a capex into an equal yearly payment.
pub fn crf(r: f64, n: f64) -> f64 {
    if r == 0.0 {
        1.0 / n
    } else {
        let g = (1.0 + r).powf(n);
        r * g / (g - 1.0)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Family {
    Grid,
    Source,
    Storage,
    Converter,
    Demand,
}

impl Family {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Family::Grid => &[
                "name", "type", "bus", "import_price", "export_price", "import_max_kw", "export_max_kw",
                "import_co2_kg_per_kwh", "demand_charge_per_kw", "billing_period_hours",
            ],
            Family::Source => &["name", "type", "bus", "capacity", "profile", "variable_cost_per_kwh"],
            Family::Storage => &[
                "name", "type", "bus", "energy_kwh", "power_kw", "charge_kw", "discharge_kw", "efficiency_charge",
                "efficiency_discharge", "efficiency_roundtrip", "loss_per_hour", "soc_min", "soc_initial", "cyclic",
            ],
            Family::Converter => &[
                "name", "type", "bus_in", "bus_out", "cop", "efficiency", "capacity", "fuel_price_per_kwh",
                "fuel_co2_kg_per_kwh",
            ],
            Family::Demand => &["name", "type", "bus", "profile", "scale", "unmet_penalty_per_kwh"],
        }
    }
}

/// What a `type` (alias included) implies: family and defaults.
struct TypeSpec {
    name: &'static str,
    family: Family,
    bus: Option<&'static str>,
    bus_in: Option<&'static str>,
    bus_out: Option<&'static str>,
    efficiency_key: Option<&'static str>,
}

impl TypeSpec {
    const NAMES: &'static [&'static str] = &[
        "grid", "source", "solar_pv", "wind", "solar_thermal", "rainwater", "storage", "battery", "thermal_storage",
        "water_tank", "converter", "heat_pump", "electric_boiler", "fuel_boiler", "demand", "electric_demand",
        "heat_demand", "water_demand",
    ];

    fn of(name: &str) -> Option<TypeSpec> {
        let simple = |name, family, bus| TypeSpec { name, family, bus, bus_in: None, bus_out: None, efficiency_key: None };
        let conv = |name, bus_in, key| TypeSpec {
            name,
            family: Family::Converter,
            bus: None,
            bus_in,
            bus_out: Some("heat"),
            efficiency_key: Some(key),
        };
        Some(match name {
            "grid" => simple("grid", Family::Grid, Some("electricity")),
            "source" => simple("source", Family::Source, None),
            "solar_pv" => simple("solar_pv", Family::Source, Some("electricity")),
            "wind" => simple("wind", Family::Source, Some("electricity")),
            "solar_thermal" => simple("solar_thermal", Family::Source, Some("heat")),
            "rainwater" => simple("rainwater", Family::Source, Some("water")),
            "storage" => simple("storage", Family::Storage, None),
            "battery" => simple("battery", Family::Storage, Some("electricity")),
            "thermal_storage" => simple("thermal_storage", Family::Storage, Some("heat")),
            "water_tank" => simple("water_tank", Family::Storage, Some("water")),
            "converter" => simple("converter", Family::Converter, None),
            "heat_pump" => conv("heat_pump", Some("electricity"), "cop"),
            "electric_boiler" => conv("electric_boiler", Some("electricity"), "efficiency"),
            "fuel_boiler" => conv("fuel_boiler", None, "efficiency"),
            "demand" => simple("demand", Family::Demand, None),
            "electric_demand" => simple("electric_demand", Family::Demand, Some("electricity")),
            "heat_demand" => simple("heat_demand", Family::Demand, Some("heat")),
            "water_demand" => simple("water_demand", Family::Demand, Some("water")),
            _ => return None,
        })
    }
}

/// The allowed word nearest to a typo, if any is close.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
