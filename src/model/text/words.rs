//! The words of a line: where each starts (its 1-based column), and how an error names that
//! place and quotes the user's text (invisible characters shown, long words cut).

use crate::error::Error;

/// How many characters of the user's text an error message echoes before cutting it with `…`.
const ECHO_CHARS: usize = 40;

/// One whitespace-separated word and its 1-based column.
pub(super) struct Word<'a> {
    pub(super) text: &'a str,
    pub(super) column: usize,
}

/// A [`Error::Parse`] at `line` and `column` of `origin`.
pub(super) fn parse_error(
    origin: &str,
    line: usize,
    column: usize,
    problem: impl Into<String>,
) -> Error {
    Error::Parse {
        origin: origin.to_string(),
        line,
        column,
        problem: problem.into(),
    }
}

/// The user's `text` as an error message may quote it: invisible characters (controls,
/// zero-width spaces, byte-order marks) escaped so that they show, and cut after
/// [`ECHO_CHARS`] characters with `…`, so that a megabyte-long word gives a one-line message.
pub(super) fn echo(text: &str) -> String {
    let mut out = String::new();
    for (i, ch) in text.chars().enumerate() {
        if i == ECHO_CHARS {
            out.push('…');
            break;
        }
        let invisible = ch.is_control()
            || matches!(ch, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}');
        if invisible {
            out.extend(ch.escape_unicode());
        } else {
            out.push(ch);
        }
    }
    out
}

/// The whitespace-separated words of `line` with their 1-based columns (in characters),
/// counted as the line is walked once, so that a line of any length splits in linear time.
pub(super) fn split_words(line: &str) -> impl Iterator<Item = Word<'_>> {
    let mut chars = line.char_indices().enumerate().peekable();
    std::iter::from_fn(move || {
        while chars.next_if(|(_, (_, ch))| ch.is_whitespace()).is_some() {}
        let (index, (start, _)) = chars.next()?;
        let mut end = line.len();
        while let Some((_, (i, ch))) = chars.peek().copied() {
            if ch.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
        }
        Some(Word {
            text: &line[start..end],
            column: index + 1,
        })
    })
}
