//! `.Label "key"`: Docker's list items are Go values with methods, and a
//! method may take arguments; a gotmpl map has fields only. A command that
//! gives arguments to a field named `Label` is rewritten, once when the
//! template is parsed, into a call of the function `Label` with the field's
//! owner first (`{{.Label "k"}}` → `{{Label . "k"}}`).

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, Parser, PipeNode, SmolStr};
use gotmpl::{Template, TemplateError, Value};

/// The method's name, and the function it becomes.
pub(super) const LABEL: &str = "Label";

/// The rewritten body's name: one no `{{define}}` can have.
const MAIN: &str = " main";

/// `parsed` (the template `text` parsed), with its method calls rewritten
/// when it has any.
pub(super) fn with_methods(parsed: Template, text: &str) -> Result<Template, TemplateError> {
    let (mut body, defines) = Parser::new(text, "{{", "}}")?.parse()?;
    let mut template = parsed;
    for mut define in defines {
        if list(&mut define.body) {
            template = template.add_parse_tree(&define.name, define.body);
        }
    }
    if list(&mut body) {
        template = template.add_parse_tree(MAIN, body);
    }
    Ok(template)
}

/// Runs `template` (its rewritten body when it has one) over `data`,
/// writing into `out` as it goes: what was written before an error stays.
pub(super) fn execute(
    template: &Template,
    data: &Value,
    out: &mut String,
) -> Result<(), TemplateError> {
    match template.lookup(MAIN) {
        Some(_) => template.execute_template_fmt(out, MAIN, data),
        None => template.execute_fmt(out, data),
    }
}

fn list(l: &mut ListNode) -> bool {
    l.nodes
        .iter_mut()
        .fold(false, |changed, n| node(n) | changed)
}

fn node(n: &mut Node) -> bool {
    match n {
        Node::List(l) => list(l),
        Node::Action(a) => pipe(&mut a.pipe),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            pipe(&mut b.pipe) | list(&mut b.body) | b.else_body.as_mut().is_some_and(list)
        }
        Node::Template(t) => t.pipe.as_mut().is_some_and(pipe),
        Node::Define(d) => list(&mut d.body),
        _ => false,
    }
}

fn pipe(p: &mut PipeNode) -> bool {
    p.commands
        .iter_mut()
        .fold(false, |changed, c| command(c) | changed)
}

fn command(c: &mut CommandNode) -> bool {
    let inner = c
        .args
        .iter_mut()
        .fold(false, |changed, e| expr(e) | changed);
    if c.args.len() < 2 {
        return inner;
    }
    let Expr::Field(pos, fields) = &c.args[0] else {
        return inner;
    };
    let Some((last, owner)) = fields.split_last() else {
        return inner;
    };
    if last.as_str() != LABEL {
        return inner;
    }
    let pos = *pos;
    let owner = match owner {
        [] => Expr::Dot(pos),
        owner => Expr::Field(pos, owner.to_vec()),
    };
    c.args[0] = Expr::Identifier(pos, SmolStr::new(LABEL));
    c.args.insert(1, owner);
    true
}

fn expr(e: &mut Expr) -> bool {
    match e {
        Expr::Pipe(_, p) => pipe(p),
        Expr::Chain(_, inner, _) => expr(inner),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{Item, Template as Format};

    #[test]
    fn label_takes_its_key_as_a_method_would() {
        let labels = BTreeMap::from([("com.x".to_string(), "1".to_string())]);
        let item = Item::new().with("ID", "a").labels(&labels).value();
        let t = Format::list(r#"{{.ID}} {{.Label "com.x"}}|{{.Label "nope"}}|{{if eq (.Label "com.x") "1"}}yes{{end}}"#)
            .unwrap();
        assert_eq!(t.one(&item).unwrap(), "a 1||yes");
        let t = Format::list(r#"table {{.Label "com.x"}}"#).unwrap();
        assert_eq!(t.render(&[item], &[]).unwrap(), "LABEL\n1\n");
    }
}
