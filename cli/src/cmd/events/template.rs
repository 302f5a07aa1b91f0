//! The part of Go's text/template that `--format` strings use: text with
//! `{{.Field.Sub}}`, `{{json .}}`/`{{json .Field}}` and `{{index .Map
//! "key"}}`, over an event as Docker's CLI names its fields (`.Type`,
//! `.Action`, `.Actor.ID`, `.Actor.Attributes.name`, `.Scope`, `.Time`,
//! `.TimeNano`). Anything else is refused when parsed, not printed wrong.

use anyhow::{bail, Context};
use kiln_engine::events::Event;
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// A field path (empty for `.`).
    Field(Vec<String>),
    Json(Vec<String>),
    Index(Vec<String>, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

impl Template {
    pub fn parse(text: &str) -> anyhow::Result<Template> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find("}}")
                .with_context(|| format!("template {text:?}: unclosed action"))?;
            let action = &rest[open + 2..open + close];
            parts.push(action_of(action).with_context(|| format!("template {text:?}"))?);
            rest = &rest[open + close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template(parts))
    }

    pub fn render(&self, event: &Event) -> anyhow::Result<String> {
        let doc = go_fields(event);
        let mut out = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field(path) => out.push_str(&plain(lookup(&doc, path))),
                Part::Json(path) if path.is_empty() => out.push_str(&serde_json::to_string(event)?),
                Part::Json(path) => out.push_str(&serde_json::to_string(lookup(&doc, path))?),
                Part::Index(path, key) => out.push_str(&plain(&lookup(&doc, path)[key])),
            }
        }
        Ok(out)
    }
}

fn action_of(action: &str) -> anyhow::Result<Part> {
    let words: Vec<&str> = action.split_whitespace().collect();
    Ok(match words.as_slice() {
        [field] => Part::Field(path(field)?),
        ["json", field] => Part::Json(path(field)?),
        ["index", field, key] => Part::Index(path(field)?, quoted(key)?),
        _ => bail!("unsupported action {{{{{action}}}}}"),
    })
}

/// `.A.B` → `[A, B]`; `.` → `[]`.
fn path(word: &str) -> anyhow::Result<Vec<String>> {
    let Some(rest) = word.strip_prefix('.') else {
        bail!("unsupported action word {word:?}: a field starts with '.'");
    };
    Ok(rest
        .split('.')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect())
}

fn quoted(word: &str) -> anyhow::Result<String> {
    match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(key) => Ok(key.to_string()),
        None => bail!("index takes a quoted key, not {word}"),
    }
}

/// The event under the field names of Docker's Go type.
fn go_fields(e: &Event) -> Value {
    json!({
        "Type": e.kind.as_str(), "Action": e.action,
        "Actor": {"ID": e.actor.id, "Attributes": e.actor.attributes},
        "Scope": e.scope, "Time": e.time, "TimeNano": e.time_nano,
        "ID": e.actor.id, "Status": e.action,
        "From": e.actor.attributes.get("image"),
    })
}

fn lookup<'a>(doc: &'a Value, path: &[String]) -> &'a Value {
    path.iter().fold(doc, |v, key| &v[key.as_str()])
}

/// A value as Go's template prints it.
fn plain(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Object(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", plain(v)))
                .collect();
            format!("map[{}]", pairs.join(" "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use kiln_engine::events::EventType;

    use super::*;

    fn event() -> Event {
        Event::new(EventType::Container, "die", "abc")
            .dated(UNIX_EPOCH + Duration::from_secs(5))
            .with("name", "web")
            .with("exitCode", "3")
    }

    fn render(text: &str) -> String {
        Template::parse(text).unwrap().render(&event()).unwrap()
    }

    #[test]
    fn fields_and_attributes_as_go_prints_them() {
        assert_eq!(render("{{.Type}} {{.Action}}"), "container die");
        assert_eq!(
            render("{{ .Actor.ID }}:{{.Actor.Attributes.name}}"),
            "abc:web"
        );
        assert_eq!(render(r#"{{index .Actor.Attributes "exitCode"}}"#), "3");
        assert_eq!(render("{{.Time}} {{.Nope}}"), "5 <no value>");
        assert_eq!(render("{{.Actor.Attributes}}"), "map[exitCode:3 name:web]");
        assert_eq!(render("plain"), "plain");
    }

    #[test]
    fn json_is_the_event_or_a_field() {
        let whole: Event = serde_json::from_str(&render("{{json .}}")).unwrap();
        assert_eq!(whole, event());
        assert_eq!(render("{{json .Actor.ID}}"), "\"abc\"");
    }

    #[test]
    fn what_it_cannot_do_is_refused() {
        for bad in [
            "{{.Type",
            "{{if .Type}}x{{end}}",
            "{{Type}}",
            "{{index .Actor x}}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
