//! `--format` as Docker's CLI reads it: Go's text/template (the gotmpl
//! crate, which prints lists and maps and ranges over maps as Go does) with
//! Docker's functions (`functions.rs`), the `table` prefix that adds a
//! header row and aligns the columns as text/tabwriter does, and `\t` and
//! `\n` written out in the flag standing for a tab and a newline.
//!
//! A list command's item is a map under Docker's field names (`ps`:
//! `.ID`, `.Names` …); a field it does not have is an error, as a Go
//! struct's would be. `inspect` documents are plain JSON, where a missing
//! key is `<no value>`, as Docker's fallback to a decoded map gives.

mod closed;
mod convert;
mod functions;
mod method;

use std::process::ExitCode;

use gotmpl::{MissingKey, Value};

pub use convert::{from_json, with_json, Item};

/// Docker's exit status when `inspect -f` or `events --format` is given
/// a template that does not parse (its `StatusError` 64); every other
/// template error ends a command with 1, as any error does.
pub const PARSE_FAILED: u8 = 64;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("template parsing error: {}", go_parse_error(.0))]
    Parse(gotmpl::TemplateError),
    #[error("template: {0}")]
    Execute(gotmpl::TemplateError),
}

/// A parse error in Go's words for an unnamed template: `template: :LINE:
/// MESSAGE`.
fn go_parse_error(err: &gotmpl::TemplateError) -> String {
    use gotmpl::TemplateError::{Lex, Parse};
    match err {
        Parse { line, message, .. } | Lex { line, message, .. } => {
            format!("template: :{line}: {message}")
        }
        other => other.to_string(),
    }
}

impl Error {
    /// The exit status: `parse_failed` for a template that does not parse.
    pub fn status(&self, parse_failed: u8) -> u8 {
        match self {
            Error::Parse(_) => parse_failed,
            Error::Execute(_) => 1,
        }
    }
}

/// What a list command's `--format` asks for.
pub enum Format {
    /// No flag, an empty one, or `table` alone: the command's own table.
    Default,
    /// `json`: each item as one line of JSON.
    Json,
    Template(Box<Template>),
}

impl Format {
    pub fn parse(flag: Option<&str>) -> Result<Format, Error> {
        Ok(match flag.map(str::trim) {
            None | Some("") | Some(TABLE) => Format::Default,
            Some("json") => Format::Json,
            Some(text) => Format::Template(Box::new(Template::list(text)?)),
        })
    }
}

/// Docker's prefix for a template whose output is a table.
const TABLE: &str = "table";

/// A parsed `--format`: the rows' template and, for `table …`, the
/// header's (the same text run with Docker's header functions over the
/// column names).
pub struct Template {
    rows: gotmpl::Template,
    header: Option<gotmpl::Template>,
}

impl Template {
    /// A list command's template: `table` prefix allowed, unknown fields
    /// refused.
    pub fn list(flag: &str) -> Result<Template, Error> {
        let (table, text) = match flag.strip_prefix(TABLE) {
            Some(rest) => (true, rest),
            None => (false, flag),
        };
        let text = unescape(text.trim_matches(' '));
        let header = match table {
            true => Some(compile(&text, functions::header(), MissingKey::Invalid)?),
            false => None,
        };
        Ok(Template {
            rows: compile(&text, functions::rows(), MissingKey::Error)?,
            header,
        })
    }

    /// An `inspect -f` template over a JSON document.
    pub fn document(flag: &str) -> Result<Template, Error> {
        Ok(Template {
            rows: compile(&unescape(flag), functions::rows(), MissingKey::Invalid)?,
            header: None,
        })
    }

    /// Each item rendered and ended with a newline; for a table, the header
    /// first and the cells aligned.
    pub fn render(&self, items: &[Value], headers: &[(&str, &str)]) -> Result<String, Error> {
        let mut text = String::new();
        for item in items {
            text.push_str(&self.one(item)?);
            text.push('\n');
        }
        let Some(header) = &self.header else {
            return Ok(text);
        };
        let names = headers
            .iter()
            .map(|(field, name)| (field.to_string(), Value::from(*name)))
            .collect::<std::collections::BTreeMap<String, Value>>();
        // Docker ignores an error here and prints the header as far as it
        // got: the names are strings, where a row's fields may be lists.
        let mut head = String::new();
        let _ = method::execute(header, &Value::from(names), &mut head);
        Ok(aligned(&format!("{head}\n{text}")))
    }

    /// One item, without a newline.
    pub fn one(&self, item: &Value) -> Result<String, Error> {
        let mut out = String::new();
        method::execute(&self.rows, item, &mut out).map_err(Error::Execute)?;
        Ok(out)
    }
}

fn compile(
    text: &str,
    funcs: gotmpl::FuncMap,
    missing: MissingKey,
) -> Result<gotmpl::Template, Error> {
    let parsed = gotmpl::Template::new("")
        .missing_key(missing)
        .funcs(funcs)
        .parse(text)
        .map_err(Error::Parse)?;
    closed::check(text).map_err(Error::Parse)?;
    method::with_methods(parsed, text).map_err(Error::Parse)
}

/// Docker reads `\t` and `\n` written out in the flag as a tab and a newline.
fn unescape(text: &str) -> String {
    text.replace("\\t", "\t").replace("\\n", "\n")
}

/// text/tabwriter as Docker's formatter sets it up (`crate::table`):
/// tab-separated cells in columns.
fn aligned(text: &str) -> String {
    let mut table = crate::table::Table::headless();
    let body = text.strip_suffix('\n').unwrap_or(text);
    for line in body.split('\n') {
        table.push(line.split('\t').map(String::from).collect());
    }
    let mut out = table.lines().join("\n");
    out.push('\n');
    out
}

/// A template error as Docker reports it, with Docker's exit status
/// (`parse_failed` for one that does not parse).
pub fn refuse(err: &Error, parse_failed: u8) -> ExitCode {
    crate::error_text::print(&anyhow::Error::msg(err.to_string()));
    ExitCode::from(err.status(parse_failed))
}

/// The items of a list command written with `format`: each item's JSON for
/// `json`, the template's output for a template. `None` for the default
/// table, which the command draws itself.
pub fn write_list(
    format: &Format,
    items: &[Item],
    headers: &[(&str, &str)],
) -> anyhow::Result<Option<ExitCode>> {
    let text = match format {
        Format::Default => return Ok(None),
        Format::Json => items
            .iter()
            .map(|i| format!("{}\n", i.json()))
            .collect::<String>(),
        Format::Template(t) => {
            let values: Vec<Value> = items.iter().map(Item::value).collect();
            match t.render(&values, headers) {
                Ok(text) => text,
                Err(e) => return Ok(Some(refuse(&e, 1))),
            }
        }
    };
    use std::io::Write;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(Some(ExitCode::SUCCESS))
}

/// A time as Go's `time.Time.String` prints it in UTC, as Docker's
/// `CreatedAt` columns show it: `2023-11-14 22:13:20 +0000 UTC`.
pub fn go_time(t: std::time::SystemTime) -> String {
    let text = humantime::format_rfc3339_seconds(t).to_string();
    let text = text.trim_end_matches('Z').replacen('T', " ", 1);
    format!("{text} +0000 UTC")
}

/// An RFC 3339 time from a record, as [`go_time`]; empty when unreadable.
pub fn go_time_of(rfc3339: &str) -> String {
    humantime::parse_rfc3339_weak(rfc3339)
        .map(go_time)
        .unwrap_or_default()
}

/// An `inspect -f` run: each document rendered on its own line. `None`
/// without a template (the caller prints the JSON array).
pub fn write_documents(
    flag: Option<&str>,
    docs: &[serde_json::Value],
) -> anyhow::Result<Option<ExitCode>> {
    let Some(flag) = flag else {
        return Ok(None);
    };
    let template = match Template::document(flag) {
        Ok(t) => t,
        Err(e) => return Ok(Some(refuse(&e, PARSE_FAILED))),
    };
    let mut text = String::new();
    for doc in docs {
        match template.one(&from_json(doc)) {
            Ok(line) => text.push_str(&line),
            Err(e) => return Ok(Some(refuse(&e, PARSE_FAILED))),
        }
        text.push('\n');
    }
    use std::io::Write;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(Some(ExitCode::SUCCESS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(fields: &[(&str, &str)]) -> Value {
        let mut i = Item::new();
        for (k, v) in fields {
            i = i.with(k, *v);
        }
        i.value()
    }

    fn render(flag: &str, items: &[Value]) -> String {
        let headers = [("ID", "CONTAINER ID"), ("Names", "NAMES")];
        match Format::parse(Some(flag)).unwrap() {
            Format::Template(t) => t.render(items, &headers).unwrap(),
            _ => panic!("not a template: {flag}"),
        }
    }

    #[test]
    fn table_prints_dockers_headers_and_aligns_columns() {
        let items = [
            item(&[("ID", "abc"), ("Names", "web")]),
            item(&[("ID", "0123456789ab"), ("Names", "db")]),
        ];
        assert_eq!(
            render("table {{.ID}}\\t{{.Names}}", &items),
            "CONTAINER ID   NAMES\nabc            web\n0123456789ab   db\n"
        );
        // A table with no rows still has its header.
        assert_eq!(render("table {{.ID}}", &[]), "CONTAINER ID\n");
        // A header that cannot be rendered whole is printed as far as it goes.
        assert_eq!(
            render("table {{.ID}}\t{{range .Names}}{{.}}{{end}}", &[]),
            "CONTAINER ID\n"
        );
    }

    #[test]
    fn without_table_the_output_is_the_template_per_item() {
        let items = [item(&[("ID", "abc"), ("Names", "web")])];
        assert_eq!(render("{{.ID}}\\t{{.Names}}", &items), "abc\tweb\n");
        assert_eq!(render("{{.Names}}\\n--", &items), "web\n--\n");
    }

    #[test]
    fn default_and_json_are_not_templates() {
        assert!(matches!(Format::parse(None), Ok(Format::Default)));
        assert!(matches!(Format::parse(Some("table")), Ok(Format::Default)));
        assert!(matches!(Format::parse(Some("json")), Ok(Format::Json)));
    }

    #[test]
    fn a_bad_template_is_a_parsing_error() {
        let err = Template::list("{{.ID").err().unwrap();
        assert_eq!(
            err.to_string(),
            "template parsing error: template: :1: unclosed action"
        );
        assert!(Template::list("{{.ID | }}").is_err());
        assert!(Template::list("{{if .ID}}x").is_err());
        assert!(Template::document("x{{end}}y").is_err());
    }

    #[test]
    fn an_unknown_field_fails_for_a_list_but_not_a_document() {
        let t = Template::list("{{.Nope}}").unwrap();
        assert!(t.one(&item(&[("ID", "a")])).is_err());
        let doc = from_json(&serde_json::json!({"State": {"Status": "running"}}));
        let t = Template::document("{{.State.Status}} {{.Nope}}").unwrap();
        assert_eq!(t.one(&doc).unwrap(), "running <no value>");
    }

    #[test]
    fn go_builtins_work_beside_dockers_functions() {
        let doc = from_json(&serde_json::json!({"A": "x", "N": 3, "L": ["p", "q"], "E": ""}));
        let one = |text: &str| Template::document(text).unwrap().one(&doc).unwrap();
        assert_eq!(one(r#"{{println .A "b"}}"#), "x b\n");
        assert_eq!(one(r#"{{printf "%s=%03d" .A .N}}"#), "x=003");
        assert_eq!(one("{{index .L 1}} {{len .L}}"), "q 2");
        assert_eq!(
            one(r#"{{if and .A (not .E) (eq .N 3)}}y{{end}}{{or .E "dflt"}}"#),
            "ydflt"
        );
        assert_eq!(one(r#"{{$l := join .L "+"}}{{$l | upper}}"#), "P+Q");
        assert_eq!(one(r#"{{with .E}}no{{else}}empty{{end}}"#), "empty");
    }

    #[test]
    fn times_print_as_go_prints_them() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(go_time(t), "2023-11-14 22:13:20 +0000 UTC");
        assert_eq!(
            go_time_of("2023-11-14T22:13:20.5Z"),
            "2023-11-14 22:13:20 +0000 UTC"
        );
        assert_eq!(go_time_of("nonsense"), "");
    }

    #[test]
    fn lists_and_maps_print_as_go_prints_them() {
        let doc = from_json(&serde_json::json!({
            "Config": {"Env": ["A=1", "B=2"], "Labels": {"z": "1", "a": "2"}}
        }));
        let t = Template::document("{{.Config.Env}} {{.Config.Labels}}").unwrap();
        assert_eq!(t.one(&doc).unwrap(), "[A=1 B=2] map[a:2 z:1]");
        let t =
            Template::document("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}").unwrap();
        assert_eq!(t.one(&doc).unwrap(), "a=2;z=1;");
    }
}
