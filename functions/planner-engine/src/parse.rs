//! User plans from YAML (with the line of every value) or JSON.
//!
//! YAML is read event by event into a `serde_json::Value`, noting the line of
//! every value by its path, and then deserialised through
//! `serde_path_to_error`, so that a shape error and the validation errors
//! found later both name a path and a line.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use crate::model::{Plan, PlanError, PlanErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// The source line of each value, by path (`tasks[3].depends_on[0]`), so that
/// validation errors found later can name their line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceMap {
    lines: HashMap<String, usize>,
}

impl SourceMap {
    /// The line of the value at `path`, or of its nearest known ancestor.
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut path = path;
        loop {
            if let Some(&line) = self.lines.get(path) {
                return Some(line);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// Fills in the line of every error that has none yet.
    pub fn locate(&self, errors: &mut [PlanError]) {
        for error in errors {
            if error.line.is_none() {
                error.line = self.line(&error.path);
            }
        }
    }
}

pub fn parse_plan(text: &str, format: Format) -> Result<Plan, Vec<PlanError>> {
    parse_plan_located(text, format).map(|(plan, _)| plan)
}

/// [`parse_plan`] that also returns the line of every value (YAML only; a
/// JSON plan's shape errors carry serde_json's line instead).
pub fn parse_plan_located(text: &str, format: Format) -> Result<(Plan, SourceMap), Vec<PlanError>> {
    match format {
        Format::Yaml => {
            let (value, map) = load_yaml(text).map_err(|e| vec![e])?;
            let plan = serde_path_to_error::deserialize(value).map_err(|e| {
                let path = path_text(e.path());
                let line = map.line(&path);
                vec![PlanError { path, line, kind: PlanErrorKind::Syntax { message: e.into_inner().to_string() } }]
            })?;
            Ok((plan, map))
        }
        Format::Json => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let plan: Plan = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| json_error(path_text(e.path()), e.inner()))?;
            deserializer.end().map_err(|e| json_error(String::new(), &e))?;
            Ok((plan, SourceMap::default()))
        }
    }
}

fn json_error(path: String, error: &serde_json::Error) -> Vec<PlanError> {
    // serde_json appends " at line L column C"; the line has its own field.
    let message = error.to_string();
    let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m).to_string();
    vec![PlanError {
        path,
        line: (error.line() > 0).then_some(error.line()),
        kind: PlanErrorKind::Syntax { message },
    }]
}

fn path_text(path: &serde_path_to_error::Path) -> String {
    let text = path.to_string();
    if text == "." { String::new() } else { text }
}

enum Open {
    Seq { path: String, items: Vec<Value> },
    Map { path: String, entries: Map<String, Value>, key: Option<String> },
}

/// One YAML document as a JSON value, with the line of every value by path.
fn load_yaml(text: &str) -> Result<(Value, SourceMap), PlanError> {
    let syntax = |line: usize, message: String| PlanError {
        path: String::new(),
        line: Some(line),
        kind: PlanErrorKind::Syntax { message },
    };
    let mut parser = Parser::new_from_str(text);
    let mut map = SourceMap::default();
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Value> = None;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| syntax(e.marker().line(), e.info().to_string()))?;
        let line = mark.line();
        // A scalar while a mapping waits for a key is that key.
        if let (Event::Scalar(text, ..), Some(Open::Map { key: key @ None, entries, .. })) = (&event, stack.last_mut()) {
            if entries.contains_key(text.as_str()) {
                return Err(syntax(line, format!("duplicate key `{text}`")));
            }
            *key = Some(text.clone());
            continue;
        }
        let value = match event {
            Event::StreamEnd => break,
            Event::DocumentStart if root.is_some() => return Err(syntax(line, "expected one document, found several".into())),
            Event::Alias(_) => return Err(syntax(line, "YAML aliases are not supported in plans".into())),
            Event::Scalar(text, style, _, tag) => {
                let value = if style == TScalarStyle::Plain && tag.is_none() { plain(&text) } else { Value::String(text) };
                map.lines.insert(child_path(&stack), line);
                value
            }
            Event::SequenceStart(..) => {
                let path = child_path(&stack);
                map.lines.insert(path.clone(), line);
                stack.push(Open::Seq { path, items: Vec::new() });
                continue;
            }
            Event::MappingStart(..) => {
                let path = child_path(&stack);
                map.lines.insert(path.clone(), line);
                stack.push(Open::Map { path, entries: Map::new(), key: None });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(Open::Seq { items, .. }) => Value::Array(items),
                Some(Open::Map { entries, .. }) => Value::Object(entries),
                None => return Err(syntax(line, "unbalanced end of a collection".into())),
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => root = Some(value),
            Some(Open::Seq { items, .. }) => items.push(value),
            Some(Open::Map { entries, key, .. }) => {
                let key = key.take().ok_or_else(|| syntax(line, "a mapping key must be a scalar".into()))?;
                entries.insert(key, value);
            }
        }
    }
    Ok((root.unwrap_or(Value::Null), map))
}

/// The path of the value about to be added to the innermost open collection,
/// spelled as `serde_path_to_error` spells it.
fn child_path(stack: &[Open]) -> String {
    match stack.last() {
        None => String::new(),
        Some(Open::Seq { path, items }) => format!("{path}[{}]", items.len()),
        Some(Open::Map { path, key, .. }) => {
            let key = key.as_deref().unwrap_or_default();
            if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
        }
    }
}

/// The YAML 1.2 core schema for plain scalars.
fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => {
            let numeric = text.bytes().next().is_some_and(|b| b.is_ascii_digit() || b"+-.".contains(&b))
                && text.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
            if numeric {
                if let Ok(n) = text.parse::<i64>() {
                    return Value::Number(n.into());
                }
                if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                    return Value::Number(n);
                }
            }
            Value::String(text.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_values_know_their_lines() {
        let text = "tasks:\n  - id: a\n    duration: 5\n  - id: b\n    duration: 3\n    depends_on: [a, c]\n";
        let (plan, map) = parse_plan_located(text, Format::Yaml).unwrap();
        assert_eq!(plan.tasks.len(), 2);
        assert_eq!(map.line("tasks[1].id"), Some(4));
        assert_eq!(map.line("tasks[1].depends_on[1]"), Some(6));
        // An unknown path falls back to its nearest ancestor.
        assert_eq!(map.line("tasks[1].resources.gpu"), Some(4));
    }

    #[test]
    fn shape_errors_name_path_and_line() {
        let text = "tasks:\n  - id: a\n    duration: 5\n  - id: b\n    duration: 3\n    depends_on: 7\n";
        let errors = parse_plan(text, Format::Yaml).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "tasks[1].depends_on");
        assert_eq!(errors[0].line, Some(6));
    }

    #[test]
    fn a_task_needs_one_estimate() {
        let errors = parse_plan("tasks:\n  - id: a\n", Format::Yaml).unwrap_err();
        assert!(errors[0].to_string().contains("`duration` or `estimate`"), "{}", errors[0]);
        let errors = parse_plan(r#"{"tasks": [{"id": "a", "duration": 1, "estimate": {"optimistic": 1, "most_likely": 2, "pessimistic": 3}}]}"#, Format::Json)
            .unwrap_err();
        assert!(errors[0].to_string().contains("not both"), "{}", errors[0]);
    }

    #[test]
    fn json_errors_carry_serde_json_lines() {
        let errors = parse_plan("{\"tasks\": [\n{\"id\": \"a\", \"duration\": \"long\"}\n]}", Format::Json).unwrap_err();
        assert_eq!(errors[0].line, Some(2), "{}", errors[0]);
        let errors = parse_plan("{\"tasks\": [", Format::Json).unwrap_err();
        assert_eq!(errors[0].line, Some(1));
    }

    #[test]
    fn broken_yaml_is_a_syntax_error_with_a_line() {
        let errors = parse_plan("tasks:\n  - id: [a\n  - id: b\n", Format::Yaml).unwrap_err();
        assert!(matches!(errors[0].kind, PlanErrorKind::Syntax { .. }));
        assert!(errors[0].line.is_some());
        let errors = parse_plan("tasks: []\ntasks: []\n", Format::Yaml).unwrap_err();
        assert_eq!(errors[0].line, Some(2));
    }
}
