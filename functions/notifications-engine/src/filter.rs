//! A subscription's filter on an event's payload: an object whose keys are
//! dot-separated paths into the payload and whose values must equal what
//! is found there. `{}` matches everything.

use serde_json::Value;

pub fn matches(filter: &serde_json::Map<String, Value>, payload: &Value) -> bool {
    filter.iter().all(|(path, expected)| lookup(payload, path) == Some(expected))
}

fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|index| items.get(index)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(filter: Value, payload: Value, expected: bool) {
        assert_eq!(matches(filter.as_object().unwrap(), &payload), expected, "{filter} on {payload}");
    }

    #[test]
    fn paths_and_values() {
        let payload = json!({"study": {"kind": "economics", "tags": ["a", "b"]}, "score": 3});
        check(json!({}), payload.clone(), true);
        check(json!({"study.kind": "economics"}), payload.clone(), true);
        check(json!({"study.kind": "energy"}), payload.clone(), false);
        check(json!({"study.tags.1": "b", "score": 3}), payload.clone(), true);
        check(json!({"score": "3"}), payload.clone(), false);
        check(json!({"nothing.here": null}), payload, false);
    }
}
