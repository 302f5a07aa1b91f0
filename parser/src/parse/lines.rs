//! Physical lines, as BuildKit's scanner cuts them: at `\n` only, line
//! ending kept, at most 65535 bytes before the `\n` (bufio's 64 KiB token
//! limit), a UTF-8 BOM removed from the very first line.

use super::text;

/// The longest physical line BuildKit accepts, line feed not counted.
pub const MAX_LINE: usize = 65535;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One physical line.
#[derive(Debug, Clone, Copy)]
pub struct PhysLine<'a> {
    /// 1-based line number.
    pub number: usize,
    /// The bytes with their line ending (`\n`, `\r\n`, or none at EOF).
    pub raw: &'a [u8],
    /// Offset of `raw` in the input.
    pub start: usize,
}

impl<'a> PhysLine<'a> {
    /// The line without any trailing `\r`/`\n` (Go's `TrimRight(s, "\r\n")`).
    pub fn content(&self) -> &'a [u8] {
        let mut end = self.raw.len();
        while end > 0 && matches!(self.raw[end - 1], b'\r' | b'\n') {
            end -= 1;
        }
        &self.raw[..end]
    }
}

/// The line is too long (its number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLong(pub usize);

/// Iterates over the physical lines of an input.
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    input: &'a [u8],
    pos: usize,
    number: usize,
}

impl<'a> Lines<'a> {
    pub fn new(input: &'a [u8]) -> Lines<'a> {
        let pos = if input.starts_with(BOM) { BOM.len() } else { 0 };
        Lines {
            input,
            pos,
            number: 0,
        }
    }

    /// The number of the last line returned (0 before the first).
    pub fn number(&self) -> usize {
        self.number
    }

    /// The next line, `None` at the end, or the line that is too long.
    pub fn next_line(&mut self) -> Result<Option<PhysLine<'a>>, TooLong> {
        let rest = &self.input[self.pos..];
        if rest.is_empty() {
            return Ok(None);
        }
        let (len, raw_len) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (i, i + 1),
            None => (rest.len(), rest.len()),
        };
        self.number += 1;
        // The scanner's limit applies before the BOM is dropped.
        let bom = if self.number == 1 { self.pos } else { 0 };
        if len + bom > MAX_LINE {
            return Err(TooLong(self.number));
        }
        let line = PhysLine {
            number: self.number,
            raw: &rest[..raw_len],
            start: self.pos,
        };
        self.pos += raw_len;
        Ok(Some(line))
    }

    /// The text of line `number` (1-based), line ending removed, for error
    /// messages.
    pub fn line_text(input: &[u8], number: usize) -> String {
        let body = input.strip_prefix(BOM).unwrap_or(input);
        let line = body.split(|b| *b == b'\n').nth(number.saturating_sub(1));
        let line = line.unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        text::lossy(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_line_feeds_only_and_strips_the_bom() {
        let mut lines = Lines::new(b"\xEF\xBB\xBFa\r\nb\rc\nd");
        let mut got = Vec::new();
        while let Some(l) = lines.next_line().unwrap() {
            got.push((l.number, l.content().to_vec()));
        }
        assert_eq!(
            got,
            vec![
                (1, b"a".to_vec()),
                (2, b"b\rc".to_vec()),
                (3, b"d".to_vec())
            ]
        );
    }

    #[test]
    fn rejects_a_line_over_the_limit_and_accepts_one_at_it() {
        let ok = vec![b'a'; MAX_LINE];
        assert!(Lines::new(&ok).next_line().is_ok());
        let long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(Lines::new(&long).next_line().unwrap_err(), TooLong(1));
    }
}
