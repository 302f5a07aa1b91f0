//! Tables as Docker prints them. Docker's formatter writes each row as
//! tab-separated cells through Go's text/tabwriter with min width 10,
//! padding 3 and spaces (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`), so
//! a column is as wide as its widest cell plus three, at least ten, and the
//! last cell of a line is not padded. Every table kiln prints goes through
//! here, so that a long status or name widens its column instead of running
//! into the next one. Cutting cells short is the caller's choice, made only
//! where Docker makes it ([`ellipsis`]).

use std::io::{self, Write};

/// Docker's formatter settings for text/tabwriter.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

pub struct Table {
    rows: Vec<Vec<String>>,
    min_width: usize,
}

impl Table {
    /// A table whose first row is `header`.
    pub fn new(header: &[&str]) -> Table {
        let mut t = Table::headless();
        t.push(header.iter().map(|h| h.to_string()).collect());
        t
    }

    /// A table without a header row (`key: value` listings).
    pub fn headless() -> Table {
        Table {
            rows: Vec::new(),
            min_width: MIN_WIDTH,
        }
    }

    /// `docker top` sets a wider minimum than the formatter (20).
    pub fn min_width(mut self, width: usize) -> Table {
        self.min_width = width;
        self
    }

    pub fn push(&mut self, cells: Vec<String>) {
        // A tab or newline inside a cell would start a new cell or row, and
        // an escape sequence would act on the terminal: names, commands and
        // descriptions come from users.
        self.rows.push(cells.iter().map(|c| shown(c)).collect());
    }

    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        for line in self.lines() {
            writeln!(out, "{line}")?;
        }
        Ok(())
    }

    /// The table's lines, without trailing spaces.
    pub fn lines(&self) -> Vec<String> {
        let mut widths: Vec<Vec<usize>> = self.rows.iter().map(|r| vec![0; r.len()]).collect();
        self.column_widths(0, 0, self.rows.len(), &mut widths);
        self.rows
            .iter()
            .zip(&widths)
            .map(|(row, widths)| {
                let mut line = String::new();
                for (i, cell) in row.iter().enumerate() {
                    line.push_str(cell);
                    if i + 1 < row.len() {
                        let pad = widths[i].saturating_sub(width(cell));
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
                line.truncate(line.trim_end().len());
                line
            })
            .collect()
    }

    /// text/tabwriter's column blocks: a column's width is shared by the
    /// consecutive lines that have a cell there followed by another cell;
    /// a line with fewer cells ends the block (as a blank line between a
    /// listing and its totals does).
    fn column_widths(&self, col: usize, lo: usize, hi: usize, widths: &mut [Vec<usize>]) {
        let padded = |r: &Vec<String>| r.len() > col + 1;
        let mut i = lo;
        while i < hi {
            if !padded(&self.rows[i]) {
                i += 1;
                continue;
            }
            let start = i;
            let mut w = self.min_width;
            while i < hi && padded(&self.rows[i]) {
                w = w.max(width(&self.rows[i][col]) + PADDING);
                i += 1;
            }
            for row in &mut widths[start..i] {
                row[col] = w;
            }
            self.column_widths(col + 1, start, i, widths);
        }
    }
}

/// Go's tabwriter counts runes, and so does Docker's `Ellipsis` for the
/// text kiln prints.
fn width(s: &str) -> usize {
    s.chars().count()
}

fn shown(cell: &str) -> String {
    if !cell.chars().any(char::is_control) {
        return cell.to_string();
    }
    cell.chars()
        .map(|c| match c {
            '\t' => "\\t".to_string(),
            '\n' => "\\n".to_string(),
            c if c.is_control() => format!("\\u{{{:04x}}}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// Docker's `formatter.Ellipsis`: `s` cut to `max` characters, the last of
/// them `…`, when it is longer.
pub fn ellipsis(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[&[&str]]) -> Vec<String> {
        let mut t = Table::headless();
        for r in rows {
            t.push(r.iter().map(|c| c.to_string()).collect());
        }
        t.lines()
    }

    #[test]
    fn columns_are_their_widest_cell_plus_three_at_least_ten() {
        let lines = table(&[
            &["CONTAINER ID", "STATUS", "NAMES"],
            &["abc", "Exited (137) Less than a second ago", "x"],
            &["d", "Up 2 seconds", "a-much-longer-name"],
        ]);
        assert_eq!(
            lines,
            [
                "CONTAINER ID   STATUS                                NAMES",
                "abc            Exited (137) Less than a second ago   x",
                "d              Up 2 seconds                          a-much-longer-name",
            ]
        );
    }

    #[test]
    fn short_columns_keep_the_min_width_and_last_cells_are_not_padded() {
        assert_eq!(
            table(&[&["DRIVER", "VOLUME NAME"], &["local", "v"]]),
            ["DRIVER    VOLUME NAME", "local     v"]
        );
        // An empty last cell leaves no trailing spaces.
        assert_eq!(table(&[&["A", ""]]), ["A"]);
    }

    #[test]
    fn a_shorter_line_ends_a_column_block() {
        let lines = table(&[&["ID", "a-long-value-here", "x"], &[""], &["Total:", "1"]]);
        assert_eq!(lines[0], "ID        a-long-value-here   x");
        assert_eq!(lines[1], "");
        assert_eq!(lines[2], "Total:    1");
    }

    #[test]
    fn control_characters_cannot_break_rows_or_reach_the_terminal() {
        let lines = table(&[&["a\tb\nc\x1b[2J", "d"]]);
        assert_eq!(lines, ["a\\tb\\nc\\u{001b}[2J   d"]);
    }

    #[test]
    fn ellipsis_cuts_like_docker() {
        assert_eq!(ellipsis("short", 20), "short");
        assert_eq!(
            ellipsis("sh -c 'sleep 1000 && echo done'", 20)
                .chars()
                .count(),
            20
        );
        assert_eq!(ellipsis("abcdef", 4), "abc…");
    }
}
