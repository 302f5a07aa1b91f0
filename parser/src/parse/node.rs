//! One logical line to one raw node, as BuildKit's `newNodeFromLine` and its
//! per-instruction line parsers do it (see FORMAT.md §3, §4, §7, §8).

use crate::ast::{Flag, Node, NodeArgs, Position, Span};
use crate::error::ErrorKind;
use crate::quote;

use super::grammar::{inner, Rule};
use super::json::{self, Json};
use super::logical::Logical;
use super::{flags, text, words};

/// ONBUILD may nest ONBUILD; deeper than this is refused so that no walk
/// over the tree can exhaust the stack.
pub const MAX_ONBUILD_DEPTH: usize = 64;

/// The context for building nodes from one logical line.
pub struct LineParser<'a> {
    pub input: &'a [u8],
    pub logical: &'a Logical,
    pub escape: u8,
}

/// An error and the position it points at.
pub type Located = (ErrorKind, Position);

/// Values and whether they came from JSON.
type Values = (Vec<Vec<u8>>, bool);

impl LineParser<'_> {
    fn at(&self, offset: usize) -> Position {
        self.logical.position(self.input, offset)
    }

    /// The node for `text[start..]` of the logical line.
    pub fn node(&self, start: usize, depth: usize) -> Result<Node, Located> {
        let line = &self.logical.text[start..];
        let lead = line.len() - text::trim_left_space(line).len();
        let trimmed = text::trim_space(line);
        let begin = start + lead;
        let (keyword, rest_at) = split_keyword(trimmed);
        let rest = &trimmed[rest_at.unwrap_or(trimmed.len())..];
        let rest_start = begin + rest_at.unwrap_or(trimmed.len());
        let (found, args_at) = flags::extract(rest, self.escape);
        let flags = found
            .into_iter()
            .map(|(text, at)| Flag {
                text,
                position: self.at(rest_start + at),
            })
            .collect();
        let after_flags = &rest[args_at..];
        let args_lead = after_flags.len() - text::trim_left_space(after_flags).len();
        let args_start = rest_start + args_at + args_lead;
        let args = text::trim_space(after_flags);
        let args_position = self.at(args_start);
        let lower = lower_keyword(&keyword);
        let (node_args, json) = match lower.as_str() {
            "onbuild" if args.is_empty() => (NodeArgs::Values(Vec::new()), false),
            "onbuild" if depth >= MAX_ONBUILD_DEPTH => {
                let msg = "ONBUILD nested too deeply".to_string();
                return Err((ErrorKind::Invalid(msg), args_position));
            }
            "onbuild" => {
                let child = self.node(args_start, depth + 1)?;
                (NodeArgs::Nested(Box::new(child)), false)
            }
            _ => {
                let (values, json) =
                    values_for(&lower, args, self.escape).map_err(|e| (e, args_position))?;
                (NodeArgs::Values(values), json)
            }
        };
        let position = self.at(begin);
        Ok(Node {
            span: Span {
                start_line: position.line,
                start_column: position.column,
                end_line: position.line,
            },
            keyword,
            flags,
            args: node_args,
            json,
            heredocs: Vec::new(),
            original: self.logical.text.clone(),
            args_position,
        })
    }
}

/// Splits the trimmed line at the first run of ASCII blanks: the keyword
/// and the offset of the rest.
fn split_keyword(trimmed: &[u8]) -> (Vec<u8>, Option<usize>) {
    let repr = text::to_repr(trimmed);
    let Some(pairs) = inner(Rule::instruction, &repr) else {
        return (trimmed.to_vec(), None);
    };
    let mut keyword = Vec::new();
    let mut rest_at = None;
    for pair in pairs {
        match pair.as_rule() {
            Rule::keyword => keyword = text::from_repr(pair.as_str()),
            Rule::rest => rest_at = Some(text::from_repr(&repr[..pair.as_span().start()]).len()),
            _ => {}
        }
    }
    (keyword, rest_at)
}

/// The keyword lower-cased as Go's `strings.ToLower` does it.
pub fn lower_keyword(keyword: &[u8]) -> String {
    text::lossy(keyword).chars().map(quote::go_lower).collect()
}

/// The values of a known (or unknown) instruction's arguments.
fn values_for(keyword: &str, args: &[u8], escape: u8) -> Result<Values, ErrorKind> {
    match keyword {
        "add" | "copy" | "volume" => maybe_json_list(args),
        "run" | "cmd" | "entrypoint" | "shell" => maybe_json(args),
        "from" | "expose" => Ok((split_blanks(args), false)),
        "maintainer" | "user" | "workdir" | "stopsignal" => Ok((whole(args), false)),
        "arg" => Ok((words::split(args, escape), false)),
        "env" => name_values(args, escape, "ENV"),
        "label" => name_values(args, escape, "LABEL"),
        "healthcheck" => healthcheck(args),
        _ => Ok((vec![Vec::new()], false)),
    }
}

fn whole(args: &[u8]) -> Vec<Vec<u8>> {
    if args.is_empty() {
        Vec::new()
    } else {
        vec![args.to_vec()]
    }
}

fn is_blank(b: u8) -> bool {
    matches!(b, b'\t' | b'\x0b' | b'\x0c' | b'\r' | b' ')
}

/// Split on runs of `[\t\v\f\r ]`, no quote handling.
fn split_blanks(args: &[u8]) -> Vec<Vec<u8>> {
    if args.is_empty() {
        return Vec::new();
    }
    args.split(|b| is_blank(*b))
        .filter(|w| !w.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn json_values(strings: Vec<String>) -> Values {
    (strings.into_iter().map(String::into_bytes).collect(), true)
}

fn maybe_json(args: &[u8]) -> Result<Values, ErrorKind> {
    if args.is_empty() {
        return Ok((Vec::new(), false));
    }
    match json::decode(args) {
        Json::Strings(s) => Ok(json_values(s)),
        Json::NotStrings => Err(ErrorKind::NotStringArray),
        Json::NotArray => Ok((whole(args), false)),
    }
}

fn maybe_json_list(args: &[u8]) -> Result<Values, ErrorKind> {
    match json::decode(args) {
        Json::Strings(s) => Ok(json_values(s)),
        Json::NotStrings => Err(ErrorKind::NotStringArray),
        Json::NotArray => Ok((split_blanks(args), false)),
    }
}

/// ENV and LABEL: `k=v …` gives triplets `k v =`; the legacy `k rest`
/// form gives `k rest ""`.
fn name_values(args: &[u8], escape: u8, name: &'static str) -> Result<Values, ErrorKind> {
    let words = words::split(args, escape);
    let Some(first) = words.first() else {
        return Ok((Vec::new(), false));
    };
    if !first.contains(&b'=') {
        let Some(cut) = args.iter().position(|b| is_blank(*b)) else {
            return Err(ErrorKind::MissingValue(name));
        };
        let value_at = args[cut..]
            .iter()
            .position(|b| !is_blank(*b))
            .map_or(args.len(), |i| cut + i);
        let values = vec![args[..cut].to_vec(), args[value_at..].to_vec(), Vec::new()];
        return Ok((values, false));
    }
    let mut values = Vec::with_capacity(words.len() * 3);
    for word in words {
        let Some(eq) = word.iter().position(|b| *b == b'=') else {
            return Err(ErrorKind::MissingEquals(quote::quote(&word)));
        };
        values.push(word[..eq].to_vec());
        values.push(word[eq + 1..].to_vec());
        values.push(b"=".to_vec());
    }
    Ok((values, false))
}

/// HEALTHCHECK: the first word (cut at a byte Go's unicode.IsSpace accepts
/// as a rune), then the rest like CMD.
fn healthcheck(args: &[u8]) -> Result<Values, ErrorKind> {
    let is_space = |b: &u8| matches!(*b, b'\t'..=b'\r' | b' ' | 0x85 | 0xA0);
    let sep = args.iter().position(is_space).unwrap_or(args.len());
    if sep == 0 {
        return Ok((Vec::new(), false));
    }
    let next = args[sep..]
        .iter()
        .position(|b| !is_space(b))
        .map_or(args.len(), |i| sep + i);
    let (mut rest, json) = maybe_json(&args[next..])?;
    rest.insert(0, args[..sep].to_vec());
    Ok((rest, json))
}
