//! A YAML/JSON document as a tree whose every value knows its line.
//!
//! serde's YAML and JSON front ends drop positions once a value is built, but
//! the contract asks every validation error to name its line. JSON is a subset
//! of YAML 1.2, so one event-driven loader serves both formats.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based line of the value in the source; 0 when built in memory.
    pub line: usize,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Seq(Vec<Node>),
    /// Keys in document order; duplicates are rejected at load time.
    Map(Vec<(String, Node)>),
}

impl Value {
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A syntax error: the document is not well-formed YAML/JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Loads one YAML 1.2 (or JSON) document.
pub fn load(text: &str) -> Result<Node, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder::default();
    loop {
        let (event, mark) = parser.next_token().map_err(|e| SyntaxError {
            line: e.marker().line(),
            message: e.info().to_string(),
        })?;
        if event == Event::StreamEnd {
            break;
        }
        builder.on_event(event, mark)?;
    }
    match builder.documents.len() {
        0 => Ok(Node { line: 1, value: Value::Null }),
        1 => Ok(builder.documents.pop().expect("one document")),
        _ => Err(SyntaxError { line: 1, message: "expected one document, found several".into() }),
    }
}

/// Converts a serde_json value (from an HTTP body, say) into a tree without
/// line numbers.
pub fn from_json(value: &serde_json::Value) -> Node {
    let value = match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Seq(items.iter().map(from_json).collect()),
        serde_json::Value::Object(map) => {
            Value::Map(map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    };
    Node { line: 0, value }
}

enum Open {
    Seq { line: usize, anchor: usize, items: Vec<Node> },
    Map { line: usize, anchor: usize, entries: Vec<(String, Node)>, key: Option<(String, usize)> },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    documents: Vec<Node>,
}

impl Builder {
    fn on_event(&mut self, event: Event, mark: Marker) -> Result<(), SyntaxError> {
        let line = mark.line();
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = if style == TScalarStyle::Plain && tag.is_none() {
                    resolve_plain(&text)
                } else {
                    Value::String(text)
                };
                self.finish(Node { line, value }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Open::Seq { line, anchor, items: Vec::new() });
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map { line, anchor, entries: Vec::new(), key: None });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq { line, anchor, items }) => (Node { line, value: Value::Seq(items) }, anchor),
                    Some(Open::Map { line, anchor, entries, .. }) => {
                        (Node { line, value: Value::Map(entries) }, anchor)
                    }
                    None => return Err(SyntaxError { line, message: "unbalanced collection end".into() }),
                };
                self.finish(node, anchor)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let node = Node { line, value: node.value.clone() };
                    self.finish(node, 0)
                }
                None => Err(SyntaxError { line, message: "alias to an unknown anchor".into() }),
            },
            _ => Ok(()),
        }
    }

    /// Places a completed value into its parent, or ends the document.
    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, .. }) => match key.take() {
                None => {
                    let name = match node.value {
                        Value::String(s) => s,
                        Value::Number(n) => format_number(n),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        other => {
                            return Err(SyntaxError {
                                line: node.line,
                                message: format!("a mapping key must be a scalar, not {}", other.kind()),
                            });
                        }
                    };
                    if let Some((_, first)) = entries.iter().find(|(k, _)| *k == name) {
                        return Err(SyntaxError {
                            line: node.line,
                            message: format!("duplicate key `{name}` (first at line {})", first.line),
                        });
                    }
                    *key = Some((name, node.line));
                }
                Some((name, _)) => entries.push((name, node)),
            },
        }
        Ok(())
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { n.to_string() }
}

/// The YAML 1.2 core schema for plain scalars: null, booleans, numbers
/// (`1e3` is a number), and everything else a string.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Number(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Number(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Number(f64::NAN),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(v) = i64::from_str_radix(hex, 16) {
            return Value::Number(v as f64);
        }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(v) = i64::from_str_radix(oct, 8) {
            return Value::Number(v as f64);
        }
    if is_core_number(text)
        && let Ok(v) = text.parse::<f64>() {
            return Value::Number(v);
        }
    Value::String(text.to_string())
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_core_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - frac_start;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Value) {
        assert_eq!(load(text).unwrap().value, expected, "{text}");
    }

    #[test]
    fn plain_scalars_follow_yaml_1_2_core() {
        check("1e3", Value::Number(1000.0));
        check("-2.5", Value::Number(-2.5));
        check(".5", Value::Number(0.5));
        check("0x1F", Value::Number(31.0));
        check("yes", Value::String("yes".into()));
        check("'1'", Value::String("1".into()));
        check("true", Value::Bool(true));
        check("~", Value::Null);
        check("1e", Value::String("1e".into()));
    }

    #[test]
    fn values_know_their_lines() {
        let node = load("a: 1\nb:\n  - x\n  - y\n").unwrap();
        let Value::Map(entries) = node.value else { panic!("map") };
        assert_eq!(entries[0].1.line, 1);
        let Value::Seq(items) = &entries[1].1.value else { panic!("seq") };
        assert_eq!((items[0].line, items[1].line), (3, 4));
    }

    #[test]
    fn duplicate_keys_are_an_error() {
        let err = load("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("duplicate key `a`"), "{}", err.message);
    }

    #[test]
    fn json_is_read_too() {
        let node = load("{\"a\": [1, 2.5e1], \"b\": null}").unwrap();
        let Value::Map(entries) = node.value else { panic!("map") };
        assert_eq!(entries[0].1.value, Value::Seq(vec![
            Node { line: 1, value: Value::Number(1.0) },
            Node { line: 1, value: Value::Number(25.0) },
        ]));
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = load("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1, "{err:?}");
    }
}
