//! From bytes to nodes: BuildKit's `parser.Parse`, behaviour for behaviour
//! (FORMAT.md). The line layer (physical lines, directives, comments,
//! continuations, heredoc bodies) is here; the structure within a logical
//! line comes from the pest grammar through [`node`].

pub(crate) mod bflags;
pub(crate) mod directives;
pub(crate) mod flags;
pub(crate) mod grammar;
pub(crate) mod heredoc;
pub(crate) mod json;
pub(crate) mod lines;
pub(crate) mod logical;
pub(crate) mod mount;
pub(crate) mod node;
pub(crate) mod text;
pub(crate) mod typed;
pub(crate) mod words;

use crate::ast::{Dockerfile, Node, NodeArgs, Position, RawDockerfile, Warning};
use crate::error::{ErrorKind, ParseError};

use lines::{Lines, PhysLine, TooLong};
use logical::Logical;

/// Parses a Dockerfile into BuildKit's node form (what the reference dump
/// shows). Unknown instructions are accepted here.
pub fn parse_raw(input: &[u8]) -> Result<RawDockerfile, ParseError> {
    let mut state = State {
        input,
        lines: Lines::new(input),
        directives: directives::Scanner::default(),
        escape: b'\\',
        nodes: Vec::new(),
        warnings: Vec::new(),
    };
    while let Some(first) = state.next_line()? {
        state.instruction(first)?;
    }
    if state.nodes.is_empty() {
        let line = state.lines.number().max(1);
        return Err(state.error(ErrorKind::NoInstructions, Position { line, column: 1 }));
    }
    Ok(RawDockerfile {
        directives: state.directives.found,
        escape: char::from(state.escape),
        nodes: state.nodes,
        warnings: state.warnings,
        source: input.to_vec(),
    })
}

/// Parses and types a Dockerfile: [`parse_raw`], then
/// [`RawDockerfile::typed`].
pub fn parse(input: &[u8]) -> Result<Dockerfile, ParseError> {
    parse_raw(input)?.typed()
}

/// One shell word as a heredoc opener (`<<EOF`, `3<<-'EOF'`…): `Ok(None)`
/// when it is not one, an error when its delimiter cannot be lexed.
pub fn heredoc_word(word: &str) -> Result<Option<crate::ast::Heredoc>, String> {
    heredoc::parse_word(word)
}

struct State<'a> {
    input: &'a [u8],
    lines: Lines<'a>,
    directives: directives::Scanner,
    escape: u8,
    nodes: Vec<Node>,
    warnings: Vec<Warning>,
}

impl<'a> State<'a> {
    fn error(&self, kind: ErrorKind, position: Position) -> ParseError {
        error_at(self.input, kind, position)
    }

    fn next_line(&mut self) -> Result<Option<PhysLine<'a>>, ParseError> {
        self.lines.next_line().map_err(|TooLong(line)| {
            self.error(ErrorKind::LineTooLong, Position { line, column: 1 })
        })
    }

    fn directive(&mut self, line: &[u8], number: usize) -> Result<(), ParseError> {
        match self.directives.feed(line, number) {
            Ok(Some(escape)) => self.escape = escape,
            Ok(None) => {}
            Err(kind) => {
                return Err(self.error(
                    kind,
                    Position {
                        line: number,
                        column: 1,
                    },
                ))
            }
        }
        Ok(())
    }

    /// One instruction starting at `first` (or nothing, for a blank line,
    /// a comment or a directive).
    fn instruction(&mut self, first: PhysLine<'a>) -> Result<(), ParseError> {
        let content = first.content();
        let trimmed = text::trim_left_space(content);
        self.directive(trimmed, first.number)?;
        let code: &[u8] = if is_comment(trimmed) { b"" } else { trimmed };
        let (piece, mut continues) = trim_continuation(code, self.escape);
        if !continues && piece.is_empty() {
            return Ok(());
        }
        let line_start = first.start;
        let mut logical = Logical::default();
        logical.push(
            piece,
            first.number,
            line_start,
            first.start + (content.len() - trimmed.len()),
        );
        let mut end_line = first.number;
        let mut empty_continuation = false;
        while continues {
            let Some(next) = self.next_line()? else { break };
            end_line = next.number;
            let content = next.content();
            self.directive(content, next.number)?;
            if is_comment(text::trim_left_space(content)) {
                continue;
            }
            if text::trim_left_space(content).is_empty() {
                empty_continuation = true;
                continue;
            }
            let (piece, more) = trim_continuation(content, self.escape);
            logical.push(piece, next.number, next.start, next.start);
            continues = more;
        }
        if empty_continuation {
            self.warnings.push(Warning {
                message: format!(
                    "Empty continuation line found in: {}",
                    text::lossy(&logical.text)
                ),
                line: end_line,
            });
        }
        self.finish_node(&logical, first.number, end_line)
    }

    fn finish_node(
        &mut self,
        logical: &Logical,
        start: usize,
        end: usize,
    ) -> Result<(), ParseError> {
        let parser = node::LineParser {
            input: self.input,
            logical,
            escape: self.escape,
        };
        let mut node = parser
            .node(0, 0)
            .map_err(|(kind, position)| self.error(kind, position))?;
        let mut end_line = end;
        if can_contain_heredoc(&node) && contains(&logical.text, b"<<") {
            let docs = heredoc::from_line(&logical.text)
                .map_err(|m| self.error(ErrorKind::HeredocDelimiter(m), node.args_position))?;
            for mut doc in docs {
                doc.content = self.heredoc_body(&doc.name, doc.chomp, start)?;
                end_line = self.lines.number();
                node.heredocs.push(doc);
            }
        }
        node.span.start_line = start;
        node.span.end_line = end_line;
        set_span(&mut node, start, end_line);
        self.nodes.push(node);
        Ok(())
    }

    /// Reads body lines up to the terminator line (compared without its
    /// line ending, and without leading tabs for `<<-`).
    fn heredoc_body(
        &mut self,
        name: &str,
        chomp: bool,
        start: usize,
    ) -> Result<String, ParseError> {
        let mut body = Vec::new();
        while let Some(line) = self.next_line()? {
            let mut candidate = line.content();
            if chomp {
                let tabs = candidate.iter().take_while(|b| **b == b'\t').count();
                candidate = &candidate[tabs..];
            }
            if candidate == name.as_bytes() {
                return Ok(text::lossy(&body));
            }
            body.extend_from_slice(line.raw);
        }
        Err(self.error(
            ErrorKind::UnterminatedHeredoc,
            Position {
                line: start,
                column: 1,
            },
        ))
    }
}

/// Nested ONBUILD nodes share their parent's lines.
fn set_span(node: &mut Node, start: usize, end: usize) {
    let mut current = node;
    loop {
        current.span.start_line = start;
        current.span.end_line = end;
        match &mut current.args {
            NodeArgs::Nested(child) => current = child,
            NodeArgs::Values(_) => return,
        }
    }
}

/// An error with the text of the line it points at.
pub(crate) fn error_at(input: &[u8], kind: ErrorKind, position: Position) -> ParseError {
    ParseError {
        kind,
        position,
        source_line: Lines::line_text(input, position.line),
    }
}

fn is_comment(left_trimmed: &[u8]) -> bool {
    left_trimmed.first() == Some(&b'#')
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Removes a continuation: the escape character and trailing blanks, when
/// it is not itself escaped (`…x\`, or a line that is only `\`). Returns the
/// text and whether the line continues.
fn trim_continuation(line: &[u8], escape: u8) -> (&[u8], bool) {
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    if end == 0 || line[end - 1] != escape {
        return (line, false);
    }
    match end {
        1 => (&line[..0], true),
        _ if line[end - 2] != escape => (&line[..end - 1], true),
        _ => (line, false),
    }
}

/// RUN, COPY and ADD (also under ONBUILD) may open heredocs, but not in
/// JSON form.
fn can_contain_heredoc(node: &Node) -> bool {
    let mut node = node;
    if node::lower_keyword(&node.keyword) == "onbuild" {
        if let NodeArgs::Nested(child) = &node.args {
            node = child;
        }
    }
    let keyword = node::lower_keyword(&node.keyword);
    matches!(keyword.as_str(), "run" | "copy" | "add") && !node.json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_needs_an_unescaped_escape_character() {
        assert_eq!(trim_continuation(b"a \\  ", b'\\'), (&b"a "[..], true));
        assert_eq!(trim_continuation(b"\\\t", b'\\'), (&b""[..], true));
        assert_eq!(trim_continuation(b"a\\\\", b'\\'), (&b"a\\\\"[..], false));
        assert_eq!(trim_continuation(b"a `", b'`'), (&b"a "[..], true));
        assert_eq!(trim_continuation(b"a \\", b'`'), (&b"a \\"[..], false));
    }
}
