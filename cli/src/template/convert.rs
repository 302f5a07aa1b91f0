//! Values for templates: an item under Docker's field names, and JSON
//! documents to and from gotmpl's values.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{ToValue, Value};
use serde_json::Value as Json;

/// Where an item keeps its labels for `.Label "key"`: a key no template
/// can name as a field, and that `json` leaves out.
pub(super) const LABELS: &str = " labels";

/// Where a value keeps the document `json` writes for it, when that is
/// not its fields (a Go type whose JSON tags differ from its field names).
const JSON: &str = " json";

/// `value` (a map), whose `{{json .}}` is `json` rather than its fields.
pub fn with_json(value: Value, json: Json) -> Value {
    let Value::Map(map) = value else {
        return value;
    };
    let mut map = (*map).clone();
    map.insert(JSON.into(), Value::String(json.to_string().into()));
    Value::from(map)
}

/// One row of a list command, under Docker's field names.
#[derive(Debug, Clone, Default)]
pub struct Item(BTreeMap<String, Value>);

impl Item {
    pub fn new() -> Item {
        Item::default()
    }

    pub fn with(mut self, field: &str, value: impl ToValue) -> Item {
        self.0.insert(field.to_string(), value.to_value());
        self
    }

    /// The labels `.Label "key"` reads.
    pub fn labels(self, labels: &BTreeMap<String, String>) -> Item {
        self.with(LABELS, labels.clone())
    }

    pub fn value(&self) -> Value {
        Value::from(self.0.clone())
    }

    /// What `--format json` prints: the fields, keys sorted, as Docker's
    /// `{{json .}}` of its formatting context.
    pub fn json(&self) -> Json {
        to_json(&self.value())
    }
}

/// A JSON document as a template sees it.
pub fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::Uint(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(from_json).collect::<Vec<_>>()),
        Json::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// A value as `json` writes it; functions have no JSON and are null.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Uint(u) => Json::from(*u),
        Value::Float(f) => Json::from(*f),
        Value::String(s) => Json::String(s.to_string()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => match map.get(JSON).and_then(Value::as_str) {
            Some(doc) => serde_json::from_str(doc).unwrap_or(Json::Null),
            None => Json::Object(
                map.iter()
                    .filter(|(k, _)| k.as_ref() != LABELS)
                    .map(|(k, v)| (k.to_string(), to_json(v)))
                    .collect(),
            ),
        },
        #[allow(unreachable_patterns)]
        other => Json::String(other.to_string()),
    }
}

/// A string value.
pub(super) fn text(s: impl Into<Arc<str>>) -> Value {
    Value::String(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_keeps_labels_out() {
        let doc = serde_json::json!({"a": [1, -2, 1.5, "x", null, true], "b": {"c": {}}});
        assert_eq!(to_json(&from_json(&doc)), doc);
        let labels = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let item = Item::new().with("ID", "abc").labels(&labels);
        assert_eq!(item.json(), serde_json::json!({"ID": "abc"}));
        let tagged = with_json(item.value(), serde_json::json!({"id": "abc"}));
        assert_eq!(to_json(&tagged), serde_json::json!({"id": "abc"}));
        assert_eq!(tagged.field("ID").and_then(Value::as_str), Some("abc"));
    }
}
