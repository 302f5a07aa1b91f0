//! gotmpl 0.6 closes a block that lacks its `{{end}}` at the end of the
//! text, and stops at an `{{end}}` or `{{else}}` outside any block,
//! dropping what follows; Go refuses both, and so does kiln. The check
//! parses the template again with a marker action after it: the marker is
//! the last top-level node only when every block was closed and nothing
//! ended the parse early.

use gotmpl::parse::{Expr, ListNode, Node, Parser, PipeNode};
use gotmpl::TemplateError;

/// A string no template ends with by chance.
const MARKER: &str = "kiln: end of template 7f3a9c";

pub(super) fn check(text: &str) -> Result<(), TemplateError> {
    let marked = format!("{text}{{{{\"{MARKER}\"}}}}");
    let (body, _) = Parser::new(&marked, "{{", "}}")?.parse()?;
    let last = body.nodes.last();
    if matches!(last, Some(Node::Action(a)) if is_marker(&a.pipe)) {
        return Ok(());
    }
    let message = match holds_marker(&body) {
        true => "unexpected EOF: a block has no {{end}}",
        false => "unexpected {{end}} or {{else}} outside a block",
    };
    let line = text.lines().count().max(1);
    Err(TemplateError::Parse {
        name: None,
        line,
        col: text.lines().last().map_or(0, |l| l.chars().count()) + 1,
        message: message.to_string(),
    })
}

fn is_marker(pipe: &PipeNode) -> bool {
    match pipe.commands.as_slice() {
        [c] => matches!(c.args.as_slice(), [Expr::String(_, s)] if s.as_ref() == MARKER),
        _ => false,
    }
}

/// Whether the marker is anywhere in `list`: inside a block left open.
fn holds_marker(list: &ListNode) -> bool {
    list.nodes.iter().any(|n| match n {
        Node::Action(a) => is_marker(&a.pipe),
        Node::List(l) => holds_marker(l),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            holds_marker(&b.body) || b.else_body.as_ref().is_some_and(holds_marker)
        }
        Node::Define(d) => holds_marker(&d.body),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_templates_pass() {
        for ok in [
            "",
            "plain",
            "{{.A}}",
            "{{if .A}}a{{else if .B}}b{{else}}c{{end}}",
            "{{range .L}}{{with .X}}{{.}}{{end}}{{end}}",
            r#"{{define "x"}}d{{end}}{{template "x"}}"#,
            "{{- .A -}}  ",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn a_missing_or_stray_end_is_refused() {
        let open = check("{{if .A}}x").unwrap_err().to_string();
        assert!(open.contains("unexpected EOF"), "{open}");
        assert!(check("{{range .L}}{{if .A}}{{end}}").is_err());
        assert!(check(r#"{{define "x"}}d"#).is_err());
        let stray = check("a{{end}}b").unwrap_err().to_string();
        assert!(stray.contains("unexpected {{end}}"), "{stray}");
        assert!(check("a{{else}}b").is_err());
    }
}
