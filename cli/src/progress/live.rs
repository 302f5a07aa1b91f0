//! Lines at the bottom of a terminal, redrawn in place: the live part of
//! pull, push and build progress.
//!
//! Everything goes through one writer that knows what it drew last, so
//! nothing it does not know about can shift the lines under it (indicatif's
//! MultiProgress left a stale copy of its top line whenever a bar drew
//! itself to stderr before it was added, once per layer of a pull). A frame
//! is written as one buffer: move up over the last frame, write the new
//! one over it row by row, clear what is left below.
//!
//! Lines are cut one column short of the terminal's width, so a line never
//! wraps and a frame is as many rows as lines, and cut again at every draw
//! with the width of that moment. When the terminal was narrowed since the
//! last draw, most terminals (tmux, VTE, kitty, iTerm2, Windows Terminal)
//! have re-wrapped the old lines, so the rows to go up over are counted
//! with the new width; a terminal that cuts lines instead (xterm) loses as
//! many lines above the frame, never leaves copies of it. tmux keeps the
//! cursor's row when it re-wraps, pushing the top rows into its scrollback:
//! those cannot be reached again, so a narrowed tmux may keep part of an
//! old line in its scrollback; the screen itself is redrawn clean.

use std::io::Write;

/// What is drawn when the width cannot be read (a pipe pretending).
const FALLBACK_WIDTH: usize = 80;
const FALLBACK_HEIGHT: usize = 24;

pub struct Live<W: Write> {
    out: W,
    /// The width in columns of each line of the frame on screen.
    drawn: Vec<usize>,
    size: fn() -> Option<(usize, usize)>,
}

/// (columns, rows) of the terminal on stderr.
fn stderr_size() -> Option<(usize, usize)> {
    let (rows, cols) = kiln_runtime::container::terminal::size(std::io::stderr())?;
    (cols > 0 && rows > 0).then_some((cols as usize, rows as usize))
}

impl Live<std::io::Stderr> {
    pub fn stderr() -> Self {
        Live {
            out: std::io::stderr(),
            drawn: Vec::new(),
            size: stderr_size,
        }
    }
}

impl<W: Write> Live<W> {
    #[cfg(test)]
    fn with(out: W, size: fn() -> Option<(usize, usize)>) -> Self {
        Live {
            out,
            drawn: Vec::new(),
            size,
        }
    }

    /// The width a live line may use (one short of the terminal's).
    pub fn width(&self) -> usize {
        let (cols, _) = (self.size)().unwrap_or((FALLBACK_WIDTH, FALLBACK_HEIGHT));
        cols.saturating_sub(1).max(1)
    }

    /// Prints `above` once, for good, and shows `live` below it in place of
    /// the last frame. A frame taller than the screen shows its last lines
    /// (rows that scrolled away could not be reached again to redraw).
    pub fn draw(&mut self, above: &[String], live: &[String]) {
        let (cols, rows) = (self.size)().unwrap_or((FALLBACK_WIDTH, FALLBACK_HEIGHT));
        let width = cols.saturating_sub(1).max(1);
        let mut buf = String::new();
        let up: usize = self.drawn.iter().map(|&w| w.div_ceil(cols).max(1)).sum();
        buf.push('\r');
        if up > 0 {
            buf.push_str(&format!("\x1b[{up}A"));
        }
        // Each row is erased whole before it is written: tmux remembers which
        // rows a line wrapped across (after it re-wrapped them) and joins
        // them again when the terminal widens, unless they were erased
        // whole. Not one clear from the top: tmux moves a screen cleared
        // from its first row into the scrollback (`scroll-on-clear`).
        for line in above {
            buf.push_str("\x1b[2K");
            buf.push_str(line);
            buf.push_str("\x1b[K\n");
        }
        let room = rows.saturating_sub(1).max(1);
        let mut shown: Vec<String> = Vec::new();
        if live.len() > room {
            let hidden = live.len() + 1 - room;
            shown.push(format!("… {hidden} more"));
            shown.extend(live[hidden..].iter().cloned());
        } else {
            shown.extend(live.iter().cloned());
        }
        self.drawn.clear();
        for line in &shown {
            let (cut, w) = cut(line, width);
            buf.push_str("\x1b[2K");
            buf.push_str(&cut);
            buf.push('\n');
            self.drawn.push(w);
        }
        buf.push_str("\x1b[J");
        let _ = self.out.write_all(buf.as_bytes());
        let _ = self.out.flush();
    }

    /// Leaves `lines` on the screen for good in place of the frame.
    pub fn finish(&mut self, lines: &[String]) {
        self.draw(lines, &[]);
    }
}

/// `line` with control characters and escape sequences left out (a step's
/// output is what a program wrote: colours, `\r` redraws), cut to `width`
/// columns; and the columns it takes.
pub fn cut(line: &str, width: usize) -> (String, usize) {
    let mut out = String::new();
    let mut w = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params final-byte; other escapes: ESC and one more.
            if chars.next_if_eq(&'[').is_some() {
                while chars.next().is_some_and(|c| !('@'..='~').contains(&c)) {}
            } else {
                chars.next();
            }
            continue;
        }
        if c.is_control() {
            continue;
        }
        let cw = columns(c);
        if w + cw > width {
            // Room for the mark that the line goes on.
            while w + 1 > width {
                match out.pop() {
                    Some(p) => w -= columns(p),
                    None => break,
                }
            }
            if width > 0 {
                out.push('…');
                w += 1;
            }
            break;
        }
        out.push(c);
        w += cw;
    }
    (out, w)
}

/// Columns a character takes, erring wide: East Asian wide and emoji
/// blocks count two (a line counted too wide is cut early; one counted
/// too narrow would wrap and leave a copy of itself on the next redraw).
fn columns(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115f
        | 0x2e80..=0xa4cf
        | 0xac00..=0xd7a3
        | 0xf900..=0xfaff
        | 0xfe30..=0xfe4f
        | 0xff00..=0xff60
        | 0xffe0..=0xffe6
        | 0x1f300..=0x1faff
        | 0x20000..=0x3fffd => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_frame_goes_up_over_the_last_one_and_clears_below() {
        let mut buf = Vec::new();
        let mut live = Live::with(&mut buf, || Some((20, 10)));
        live.draw(&[], &lines(&["one", "two"]));
        live.draw(&lines(&["done"]), &lines(&["three"]));
        live.finish(&[]);
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            "\r\x1b[2Kone\n\x1b[2Ktwo\n\x1b[J\
             \r\x1b[2A\x1b[2Kdone\x1b[K\n\x1b[2Kthree\n\x1b[J\
             \r\x1b[1A\x1b[J"
        );
    }

    #[test]
    fn lines_are_cut_one_short_of_the_width() {
        let mut buf = Vec::new();
        let mut live = Live::with(&mut buf, || Some((10, 10)));
        live.draw(&[], &lines(&["0123456789abc"]));
        assert_eq!(live.drawn, [9]);
        let text = String::from_utf8(buf).unwrap();
        assert!(text.contains("01234567…\n"), "{text:?}");
    }

    #[test]
    fn a_narrowed_terminal_has_rewrapped_the_last_frame() {
        let mut buf = Vec::new();
        let mut live = Live::with(&mut buf, || Some((10, 10)));
        live.drawn = vec![30, 5];
        live.draw(&[], &[]);
        // 30 columns at 10 wide: three rows, then one.
        assert!(String::from_utf8(buf).unwrap().starts_with("\r\x1b[4A"));
    }

    #[test]
    fn a_frame_taller_than_the_screen_shows_its_end() {
        let mut buf = Vec::new();
        let mut live = Live::with(&mut buf, || Some((40, 4)));
        let many: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
        live.draw(&[], &many);
        assert_eq!(live.drawn.len(), 3);
        let text = String::from_utf8(buf).unwrap();
        assert!(text.contains("… 8 more") && text.contains("line 9") && !text.contains("line 7"));
    }

    #[test]
    fn escapes_and_controls_are_left_out_and_wide_characters_count_two() {
        assert_eq!(cut("\x1b[31mred\x1b[0m\rx\x07", 20), ("redx".into(), 4));
        assert_eq!(cut("漢字漢字", 5), ("漢字…".into(), 5));
        assert_eq!(cut("abc", 3), ("abc".into(), 3));
    }
}
