//! `--format` for `version` and `info`: literal text with `{{json .}}`,
//! `{{json .A.B}}` and `{{.A.B}}` actions over a JSON value.
//!
//! STAND-IN: this covers the forms those two commands document until they
//! move to the shared Go-template facility (`crate::template`); replace
//! `render` with it then, keeping the exit codes below.

use std::fmt;

use serde_json::Value;

/// Docker's exit code for a template that does not parse.
pub const PARSE_FAILED: u8 = 64;

#[derive(Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The template does not parse (Docker exits 64).
    Parse(String),
    /// A field the value does not have (Docker exits 1).
    NoField(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Parse(why) => write!(f, "template parsing error: {why}"),
            FormatError::NoField(path) => write!(f, "template: can't evaluate field {path}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// `template` with every action replaced by what it names in `value`.
pub fn render(template: &str, value: &Value) -> Result<String, FormatError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| FormatError::Parse("unclosed action".into()))?;
        out.push_str(&action(after[..end].trim(), value)?);
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(FormatError::Parse("unexpected \"}}\"".into()));
    }
    out.push_str(rest);
    Ok(out)
}

/// One action: `json PATH` or `PATH`.
fn action(text: &str, value: &Value) -> Result<String, FormatError> {
    match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["json", path] => Ok(lookup(path, value)?.to_string()),
        [path] if path.starts_with('.') => Ok(plain(lookup(path, value)?)),
        _ => Err(FormatError::Parse(format!(
            "unsupported action {{{{{text}}}}}: use {{{{json .}}}} or {{{{.Field.Field}}}}"
        ))),
    }
}

/// `.` is the value itself; `.A.B` walks object keys.
fn lookup<'v>(path: &str, value: &'v Value) -> Result<&'v Value, FormatError> {
    let Some(fields) = path.strip_prefix('.') else {
        return Err(FormatError::Parse(format!("bad field path {path:?}")));
    };
    if fields.is_empty() {
        return Ok(value);
    }
    fields.split('.').try_fold(value, |v, name| {
        v.get(name)
            .ok_or_else(|| FormatError::NoField(path.to_string()))
    })
}

/// A value as Go's template prints it: strings bare, null as `<nil>`,
/// lists as `[a b]`; objects as JSON (Go would print a map's internals).
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(plain).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_json_are_rendered_in_text() {
        let v = json!({"Client": {"Version": "1.2", "N": 3, "L": ["a", "b"]}});
        assert_eq!(render("v={{.Client.Version}}", &v).unwrap(), "v=1.2");
        assert_eq!(
            render("{{ .Client.N }} {{.Client.L}}", &v).unwrap(),
            "3 [a b]"
        );
        assert_eq!(render("{{json .Client.L}}", &v).unwrap(), "[\"a\",\"b\"]");
        assert_eq!(render("{{json .}}", &json!({"A": 1})).unwrap(), "{\"A\":1}");
    }

    #[test]
    fn bad_templates_say_why() {
        let v = json!({"A": 1});
        assert!(matches!(render("{{.A", &v), Err(FormatError::Parse(_))));
        assert!(matches!(
            render("{{range .}}", &v),
            Err(FormatError::Parse(_))
        ));
        assert_eq!(
            render("{{.B.C}}", &v),
            Err(FormatError::NoField(".B.C".into()))
        );
    }
}
