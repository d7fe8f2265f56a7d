//! Text written by strangers, made safe to show.
//!
//! Every string inside a log entry was chosen by whoever signed it: file names,
//! Go versions, revisions, builder ids, build settings. Before such text reaches
//! a terminal, a report or a log line it is escaped and bounded here, so it can
//! neither drive the terminal (escape sequences, carriage returns), reorder what
//! the reader sees (Unicode bidi controls, the "Trojan Source" attack, CVE-2021-42574)
//! nor flood the screen. The result is always valid UTF-8 cut on a character
//! boundary, never in the middle of one.

/// Marks text that was cut short.
pub const ELLIPSIS: char = '…';

/// Whether `c` must not reach a terminal as it is: C0 and C1 controls and DEL
/// (`char::is_control`), the bidi embedding, override and isolate controls and
/// marks (Unicode UAX #9), zero-width characters and the line and paragraph
/// separators.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// `text` with every unsafe character written as a Rust escape (`\u{1b}`), cut
/// to at most `max_chars` characters of output (counting the escapes and a
/// trailing `…` when cut).
pub fn escape(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    if max_chars == 0 {
        return out;
    }
    let mut used = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let piece = if is_unsafe(c) {
            format!("\\u{{{:x}}}", c as u32)
        } else {
            c.to_string()
        };
        let len = piece.chars().count();
        // Keep room for the ellipsis while more text follows.
        let budget = if chars.peek().is_none() {
            max_chars
        } else {
            max_chars - 1
        };
        if used + len > budget {
            out.push(ELLIPSIS);
            return out;
        }
        out.push_str(&piece);
        used += len;
    }
    out
}

/// The first `max_chars` characters of `text`, cut on a character boundary
/// (no escaping; for text that is already safe, such as hex).
pub fn prefix(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(escape("a\x1b[2Jb", 100), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\u{202e}y", 100), "x\\u{202e}y");
        assert_eq!(escape("line\nbreak\r", 100), "line\\u{a}break\\u{d}");
        assert_eq!(escape("\u{85}\u{7f}", 100), "\\u{85}\\u{7f}");
        assert_eq!(escape("plain é ✓", 100), "plain é ✓");
    }

    #[test]
    fn cut_on_character_boundaries_within_the_budget() {
        let s = "aéééééé";
        assert_eq!(escape(s, 100), s);
        assert_eq!(escape(s, 4), "aéé…");
        assert_eq!(escape(s, 7), s, "exactly fits");
        assert_eq!(escape(s, 6), "aéééé…");
        assert_eq!(escape("\x1b\x1b", 8), "\\u{1b}…");
        assert_eq!(prefix(s, 3), "aéé");
        assert_eq!(prefix(s, 30), s);
        let long = "é".repeat(5000);
        let cut = escape(&long, 2000);
        assert_eq!(cut.chars().count(), 2000);
        assert!(cut.ends_with(ELLIPSIS));
    }
}
