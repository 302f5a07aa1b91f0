//! A logical line: physical lines joined by continuations, with the map
//! back to source positions so that any byte of it can be named by line and
//! column.

use crate::ast::Position;

use super::text;

/// The joined text and where each piece came from.
#[derive(Debug, Default)]
pub struct Logical {
    pub text: Vec<u8>,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Offset of the piece in `text`.
    at: usize,
    line: usize,
    /// Offsets in the input of the physical line and of the piece.
    line_start: usize,
    source: usize,
}

impl Logical {
    /// Appends `bytes`, which sit at offset `source` of the input, on line
    /// `line` starting at `line_start`.
    pub fn push(&mut self, bytes: &[u8], line: usize, line_start: usize, source: usize) {
        self.segments.push(Segment {
            at: self.text.len(),
            line,
            line_start,
            source,
        });
        self.text.extend_from_slice(bytes);
    }

    /// The source position of byte `offset` of the text.
    pub fn position(&self, input: &[u8], offset: usize) -> Position {
        let index = self.segments.partition_point(|s| s.at <= offset);
        let Some(seg) = self.segments.get(index.saturating_sub(1)) else {
            return Position { line: 1, column: 1 };
        };
        let end = (seg.source + offset - seg.at).min(input.len());
        let start = seg.line_start.min(end);
        Position {
            line: seg.line,
            column: text::rune_count(&input[start..end]) + 1,
        }
    }
}
