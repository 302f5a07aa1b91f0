//! What an error may show of a Dockerfile: a short excerpt with control
//! characters escaped. A Dockerfile can be hostile (a 1 MB line, terminal
//! escape sequences, bidi overrides that make a line read differently from
//! what it is), and an error message goes straight to someone's terminal.

/// The most characters of a source line an error shows.
pub const LINE_WIDTH: usize = 120;
/// The most characters of a message (which may quote words of the line).
pub const MESSAGE_WIDTH: usize = 200;

/// `c` as it is shown: itself, or an escape that cannot act on a terminal.
/// Tabs stay, so that a caret line can keep them and align.
fn shown(c: char) -> std::borrow::Cow<'static, str> {
    let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    match c {
        '\t' => "\t".into(),
        c if (c as u32) < 0x80 && c.is_control() => format!("\\x{:02x}", c as u32).into(),
        c if c.is_control() || bidi => format!("\\u{{{:04x}}}", c as u32).into(),
        c => c.to_string().into(),
    }
}

/// At most `max` characters of `text`, escaped; `…` marks a cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        out.push_str(&shown(c));
    }
    out
}

/// A window of at most [`LINE_WIDTH`] characters of `line` around the
/// 1-based `column`, escaped, and the padding that puts a caret under that
/// column in it (tabs kept, so it lines up as the line does).
pub fn line_with_caret(line: &str, column: usize) -> (String, String) {
    let col = column.saturating_sub(1);
    let total = line.chars().count();
    let start = match total > LINE_WIDTH {
        true => col.saturating_sub(LINE_WIDTH / 2).min(total - LINE_WIDTH),
        false => 0,
    };
    let mut text = String::new();
    let mut pad = String::new();
    if start > 0 {
        text.push('…');
        pad.push(' ');
    }
    for (i, c) in line.chars().enumerate().skip(start).take(LINE_WIDTH) {
        let s = shown(c);
        if i < col {
            let fill = if c == '\t' { '\t' } else { ' ' };
            pad.extend(std::iter::repeat_n(fill, s.chars().count()));
        }
        text.push_str(&s);
    }
    if start + LINE_WIDTH < total {
        text.push('…');
    }
    (text, pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bidi_overrides() {
        assert_eq!(
            excerpt("a\x1b[2Jb\u{202e}c\u{7f}\0", 100),
            "a\\x1b[2Jb\\u{202e}c\\x7f\\x00"
        );
    }

    #[test]
    fn cuts_long_text() {
        let long = "x".repeat(1_000_000);
        assert_eq!(excerpt(&long, 5), "xxxxx…");
    }

    #[test]
    fn a_long_line_shows_a_window_around_the_column() {
        let line = format!("{}BAD{}", "a".repeat(5000), "b".repeat(5000));
        let (text, pad) = line_with_caret(&line, 5001);
        assert!(text.chars().count() <= LINE_WIDTH + 2, "{}", text.len());
        assert!(text.starts_with('…') && text.ends_with('…'));
        let at: String = text.chars().skip(pad.chars().count()).take(3).collect();
        assert_eq!(at, "BAD");
    }

    #[test]
    fn the_caret_accounts_for_escapes() {
        let (text, pad) = line_with_caret("\x1bRUN x", 2);
        assert_eq!(text, "\\x1bRUN x");
        assert_eq!(pad, "    ");
    }
}
