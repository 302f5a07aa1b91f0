//! BuildKit's reference dump (`Node.Dump`, FORMAT.md §2–§5): one line per
//! instruction, `(keyword ["flags"…] "value"…)`, made from the raw nodes of
//! the one parse.

use crate::ast::{Node, NodeArgs, RawDockerfile};
use crate::parse::node::lower_keyword;
use crate::quote::quote;

/// The whole dump, each instruction on its own line, ending in `\n`.
pub fn dump(file: &RawDockerfile) -> String {
    let mut out = String::new();
    for node in &file.nodes {
        out.push('(');
        out.push_str(&dump_node(node));
        out.push_str(")\n");
    }
    out
}

/// One node without its parentheses.
pub fn dump_node(node: &Node) -> String {
    let mut out = lower_keyword(&node.keyword);
    if !node.flags.is_empty() {
        let flags: Vec<String> = node
            .flags
            .iter()
            .map(|f| quote(f.text.as_bytes()))
            .collect();
        out.push_str(" [");
        out.push_str(&flags.join(" "));
        out.push(']');
    }
    match &node.args {
        NodeArgs::Values(values) => {
            for value in values {
                out.push(' ');
                out.push_str(&quote(value));
            }
        }
        NodeArgs::Nested(child) => {
            out.push_str(" (");
            out.push_str(&dump_node(child));
            out.push(')');
        }
    }
    // Go trims the result with strings.TrimSpace.
    out.trim_matches(char::is_whitespace).to_string()
}

impl RawDockerfile {
    /// BuildKit's reference dump of this file (see [`dump`]).
    pub fn dump(&self) -> String {
        dump(self)
    }
}
