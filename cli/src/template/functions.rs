//! Docker's template functions (docker/cli `templates/templates.go`):
//! `json`, `split`, `join`, `title`, `lower`, `upper`, `pad`, `truncate`,
//! beside Go's own (`println`, `printf`, `index`, `len` …, from gotmpl).
//! A table's header row runs the same template over the column names with
//! Docker's header functions, which hand the name back unchanged.

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use super::convert::{text, to_json, LABELS};

type Result<T> = std::result::Result<T, TemplateError>;

/// The most spaces `pad` adds.
const MAX_PAD: usize = 1 << 20;

/// The functions a row (or a document) is rendered with.
pub(super) fn rows() -> FuncMap {
    let mut m = FuncMap::new();
    m.insert("json".into(), Arc::new(json));
    m.insert("split".into(), Arc::new(split));
    m.insert("join".into(), Arc::new(join));
    m.insert(
        "title".into(),
        Arc::new(|a: &[Value]| one_string("title", a, title)),
    );
    m.insert(
        "lower".into(),
        Arc::new(|a: &[Value]| one_string("lower", a, |s| s.to_lowercase())),
    );
    m.insert(
        "upper".into(),
        Arc::new(|a: &[Value]| one_string("upper", a, |s| s.to_uppercase())),
    );
    m.insert("pad".into(), Arc::new(pad));
    m.insert("truncate".into(), Arc::new(truncate));
    m.insert(super::method::LABEL.into(), Arc::new(label));
    m
}

/// The header row's: each function gives back its first argument (the
/// column's name).
pub(super) fn header() -> FuncMap {
    let mut m = FuncMap::new();
    for (name, count) in [
        ("json", 1),
        ("split", 2),
        ("join", 2),
        ("title", 1),
        ("lower", 1),
        ("upper", 1),
        ("pad", 3),
        ("truncate", 2),
    ] {
        m.insert(
            name.into(),
            Arc::new(move |a: &[Value]| {
                arity(name, a, count)?;
                Ok(a[0].clone())
            }),
        );
    }
    m.insert(
        super::method::LABEL.into(),
        Arc::new(|a: &[Value]| {
            arity("Label", a, 2)?;
            Ok(text("LABEL"))
        }),
    );
    m
}

fn arity(name: &str, args: &[Value], expected: usize) -> Result<()> {
    if args.len() == expected {
        return Ok(());
    }
    Err(TemplateError::ArgCount {
        name: name.to_string(),
        expected,
        got: args.len(),
    })
}

/// Go's strings functions take strings: a string is itself, any other
/// value is refused as Go's template would refuse it.
fn string<'a>(name: &str, v: &'a Value) -> Result<&'a str> {
    v.as_str().ok_or_else(|| {
        TemplateError::Exec(format!(
            "wrong type for value in {name}; expected string; got {}",
            v.type_name()
        ))
    })
}

fn int(name: &str, v: &Value) -> Result<usize> {
    match v.as_int() {
        Some(n) => Ok(usize::try_from(n).unwrap_or(0)),
        None => Err(TemplateError::Exec(format!(
            "wrong type for value in {name}; expected int; got {}",
            v.type_name()
        ))),
    }
}

fn one_string(name: &str, args: &[Value], f: impl Fn(&str) -> String) -> Result<Value> {
    arity(name, args, 1)?;
    Ok(text(f(string(name, &args[0])?)))
}

/// `json.Marshal` without HTML escaping, as Docker's encoder is set up.
fn json(args: &[Value]) -> Result<Value> {
    arity("json", args, 1)?;
    serde_json::to_string(&to_json(&args[0]))
        .map(text)
        .map_err(|e| TemplateError::Exec(format!("json: {e}")))
}

/// `strings.Split`: an empty separator splits after each character.
fn split(args: &[Value]) -> Result<Value> {
    arity("split", args, 2)?;
    let (s, sep) = (string("split", &args[0])?, string("split", &args[1])?);
    let parts: Vec<Value> = match sep {
        "" => s.chars().map(|c| text(c.to_string())).collect(),
        sep => s.split(sep).map(text).collect(),
    };
    Ok(Value::from(parts))
}

/// `strings.Join` of a list of strings.
fn join(args: &[Value]) -> Result<Value> {
    arity("join", args, 2)?;
    let sep = string("join", &args[1])?;
    let Value::List(items) = &args[0] else {
        return Err(TemplateError::Exec(format!(
            "wrong type for value in join; expected []string; got {}",
            args[0].type_name()
        )));
    };
    let words = items
        .iter()
        .map(|v| string("join", v))
        .collect::<Result<Vec<&str>>>()?;
    Ok(text(words.join(sep)))
}

/// `strings.Title`: each letter that starts a word made upper case.
fn title(s: &str) -> String {
    let mut after_separator = true;
    s.chars()
        .map(|c| {
            let out = if after_separator {
                c.to_uppercase().collect()
            } else {
                c.to_string()
            };
            after_separator = !(c.is_alphanumeric() || c == '_');
            out
        })
        .collect()
}

/// `pad STRING PREFIX SUFFIX`: spaces around a string that is not empty.
fn pad(args: &[Value]) -> Result<Value> {
    arity("pad", args, 3)?;
    let s = string("pad", &args[0])?;
    let (before, after) = (int("pad", &args[1])?, int("pad", &args[2])?);
    // The counts are user input: a line of a mebibyte is room enough, and
    // a count past it would only exhaust memory.
    if before.saturating_add(after) > MAX_PAD {
        return Err(TemplateError::Exec(format!(
            "pad: {before} and {after} spaces are more than {MAX_PAD}"
        )));
    }
    if s.is_empty() {
        return Ok(text(""));
    }
    Ok(text(format!(
        "{}{s}{}",
        " ".repeat(before),
        " ".repeat(after)
    )))
}

/// `truncate STRING LENGTH`: at most LENGTH characters.
fn truncate(args: &[Value]) -> Result<Value> {
    arity("truncate", args, 2)?;
    let (s, n) = (string("truncate", &args[0])?, int("truncate", &args[1])?);
    Ok(text(s.chars().take(n).collect::<String>()))
}

/// `.Label "key"` of a list item: the label's value, or nothing.
fn label(args: &[Value]) -> Result<Value> {
    arity("Label", args, 2)?;
    let key = string("Label", &args[1])?;
    let found = args[0]
        .field(LABELS)
        .and_then(|labels| labels.field(key))
        .cloned();
    Ok(found.unwrap_or_else(|| text("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: fn(&[Value]) -> Result<Value>, args: &[Value]) -> String {
        f(args).unwrap().to_string()
    }

    fn s(v: &str) -> Value {
        text(v)
    }

    #[test]
    fn json_is_compact_and_not_html_escaped() {
        let v = super::super::from_json(&serde_json::json!({"b": "<x>", "a": [1]}));
        assert_eq!(call(json, &[v]), r#"{"a":[1],"b":"<x>"}"#);
        assert_eq!(call(json, &[s("a\"b")]), r#""a\"b""#);
        assert!(json(&[]).is_err());
    }

    #[test]
    fn split_and_join_are_go_strings_functions() {
        assert_eq!(call(split, &[s("a,b,,c"), s(",")]), "[a b  c]");
        assert_eq!(call(split, &[s("ab"), s("")]), "[a b]");
        let list = split(&[s("a:b:c"), s(":")]).unwrap();
        assert_eq!(call(join, &[list, s(", ")]), "a, b, c");
        assert!(join(&[s("abc"), s(",")]).is_err());
        assert!(split(&[Value::Int(1), s(",")]).is_err());
    }

    #[test]
    fn title_upper_lower() {
        assert_eq!(title("hello wide-world x_y"), "Hello Wide-World X_y");
        assert_eq!(
            one_string("upper", &[s("Ab")], |s| s.to_uppercase())
                .unwrap()
                .to_string(),
            "AB"
        );
    }

    #[test]
    fn pad_leaves_empty_strings_alone() {
        let n = |i| Value::Int(i);
        assert_eq!(call(pad, &[s("x"), n(2), n(1)]), "  x ");
        assert_eq!(call(pad, &[s(""), n(2), n(1)]), "");
        assert!(pad(&[s("x"), s("a"), n(1)]).is_err());
        assert!(pad(&[s("x"), n(i64::MAX), n(1)]).is_err());
    }

    #[test]
    fn truncate_cuts_to_length_in_characters() {
        let n = |i| Value::Int(i);
        assert_eq!(call(truncate, &[s("abcdef"), n(3)]), "abc");
        assert_eq!(call(truncate, &[s("ab"), n(3)]), "ab");
        assert_eq!(call(truncate, &[s("éé"), n(1)]), "é");
        assert_eq!(call(truncate, &[s("ab"), n(-1)]), "");
    }

    #[test]
    fn header_functions_give_back_the_column_name() {
        let funcs = header();
        let upper = &funcs["upper"];
        assert_eq!(upper(&[s("NAMES")]).unwrap().to_string(), "NAMES");
        assert!(upper(&[]).is_err());
    }
}
