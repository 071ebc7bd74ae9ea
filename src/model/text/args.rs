//! The arguments of one line: the words after its keyword, sorted into positional values and
//! `key=value` options, read one by one against their ranges, and refused when any is left over.

use super::MAX_SIZE;
use super::words::{Word, echo, parse_error};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// The most words a line may have after its keyword (the longest valid line has 6), so that a
/// megabyte-long line is refused after a few words instead of being split into a million.
const MAX_WORDS: usize = 32;

/// The words of one line after the keyword, split into positional values and `key=value` options.
pub(super) struct Args<'a> {
    origin: &'a str,
    pub(super) line: usize,
    pub(super) keyword: Word<'a>,
    pub(super) positional: Vec<Word<'a>>,
    pub(super) options: Vec<(Word<'a>, Word<'a>)>,
    used_positional: usize,
    pub(super) used_options: Vec<bool>,
}

impl<'a> Args<'a> {
    /// Sorts the words after `keyword` into positional values and options, refusing a stray
    /// `=`, an option without a name or a value, and an option given twice.
    pub(super) fn new(
        origin: &'a str,
        line: usize,
        keyword: Word<'a>,
        words: impl Iterator<Item = Word<'a>>,
    ) -> Result<Self> {
        let mut args = Args {
            origin,
            line,
            keyword,
            positional: Vec::new(),
            options: Vec::new(),
            used_positional: 0,
            used_options: Vec::new(),
        };
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (count, word) in words.enumerate() {
            if count == MAX_WORDS {
                return Err(args.error(
                    word.column,
                    format!(
                        "more than {MAX_WORDS} words after `{}`: a line is one layer or setting",
                        echo(args.keyword.text)
                    ),
                ));
            }
            let Some((key, value)) = word.text.split_once('=') else {
                args.positional.push(word);
                continue;
            };
            const HOW: &str = "a value follows its keyword after a space (`lr 0.1`), and an \
                               option is written key=value with no spaces around `=`";
            if key.is_empty() && value.is_empty() {
                return Err(args.error(word.column, format!("a stray `=`: {HOW}")));
            }
            if key.is_empty() {
                return Err(args.error(
                    word.column,
                    format!("`{}` has no option name before `=`: {HOW}", echo(word.text)),
                ));
            }
            let value_column = word.column + key.chars().count() + 1;
            if value.is_empty() {
                return Err(args.error(
                    value_column,
                    format!("option `{}` has no value after `=`: {HOW}", echo(key)),
                ));
            }
            if let Some(first) = seen.insert(key, word.column) {
                return Err(args.error(
                    word.column,
                    format!(
                        "option `{}` is repeated (first given at column {first}): give each \
                         option once",
                        echo(key)
                    ),
                ));
            }
            args.options.push((
                Word {
                    text: key,
                    column: word.column,
                },
                Word {
                    text: value,
                    column: value_column,
                },
            ));
            args.used_options.push(false);
        }
        Ok(args)
    }

    pub(super) fn error(&self, column: usize, problem: impl Into<String>) -> Error {
        parse_error(self.origin, self.line, column, problem)
    }

    /// The column just after the keyword, where a missing value would go.
    pub(super) fn keyword_end(&self) -> usize {
        self.keyword.column + self.keyword.text.chars().count()
    }

    /// The next positional word, if any.
    pub(super) fn next_positional(&mut self) -> Option<&Word<'a>> {
        let word = self.positional.get(self.used_positional)?;
        self.used_positional += 1;
        Some(word)
    }

    /// Parses the next positional word as `T`, or errors that `what` is missing.
    pub(super) fn required<T: std::str::FromStr>(&mut self, what: &str) -> Result<T> {
        self.required_where(what, |_| true)
    }

    /// [`Args::required`] for a value that must also pass `ok` (`what` says the range).
    fn required_where<T: std::str::FromStr>(
        &mut self,
        what: &str,
        ok: impl Fn(&T) -> bool,
    ) -> Result<T> {
        let keyword_end = self.keyword_end();
        let Some(word) = self.next_positional() else {
            let keyword = self.keyword.text;
            return Err(self.error(keyword_end, format!("`{keyword}` needs {what}")));
        };
        let (text, column) = (word.text, word.column);
        text.parse()
            .ok()
            .filter(|v| ok(v))
            .ok_or_else(|| self.error(column, format!("expected {what}, found `{}`", echo(text))))
    }

    /// A layer size: the next positional word, a whole number from 1 to [`MAX_SIZE`].
    pub(super) fn size(&mut self, what: &str) -> Result<usize> {
        self.required_where(&format!("{what} from 1 to {MAX_SIZE}"), |n| {
            (1..=MAX_SIZE).contains(n)
        })
    }

    /// Parses option `key` as `T` if present.
    pub(super) fn option<T: std::str::FromStr>(
        &mut self,
        key: &str,
        what: &str,
    ) -> Result<Option<T>> {
        self.option_where(key, what, |_| true)
    }

    /// [`Args::option`] for a value that must also pass `ok` (`what` says the range).
    pub(super) fn option_where<T: std::str::FromStr>(
        &mut self,
        key: &str,
        what: &str,
        ok: impl Fn(&T) -> bool,
    ) -> Result<Option<T>> {
        let Some(i) = self.options.iter().position(|(k, _)| k.text == key) else {
            return Ok(None);
        };
        self.used_options[i] = true;
        let value = &self.options[i].1;
        let (text, column) = (value.text, value.column);
        match text.parse().ok().filter(|v| ok(v)) {
            Some(v) => Ok(Some(v)),
            None => Err(self.error(
                column,
                format!("{key} expects {what}, found `{}`", echo(text)),
            )),
        }
    }

    /// Option `key` as a whole number from `min` to `max`, if present.
    pub(super) fn whole_option(
        &mut self,
        key: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<usize>> {
        self.option_where(key, &format!("a whole number from {min} to {max}"), |n| {
            (min..=max).contains(n)
        })
    }

    /// Errors on any word that was not consumed.
    pub(super) fn finish(self) -> Result<()> {
        let keyword = self.keyword.text;
        if let Some(extra) = self.positional.get(self.used_positional) {
            return Err(self.error(
                extra.column,
                format!(
                    "unexpected `{}` after `{}`",
                    echo(extra.text),
                    echo(keyword)
                ),
            ));
        }
        if let Some(i) = self.used_options.iter().position(|used| !used) {
            let key = &self.options[i].0;
            return Err(self.error(
                key.column,
                format!("`{}` has no option `{}`", echo(keyword), echo(key.text)),
            ));
        }
        Ok(())
    }
}

/// Reads the next positional word as one of `choices`.
pub(super) fn choose<T: Copy>(args: &mut Args, what: &str, choices: &[(&str, T)]) -> Result<T> {
    let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
    let keyword_end = args.keyword_end();
    let Some(word) = args.next_positional() else {
        return Err(args.error(
            keyword_end,
            format!("`{}` needs {what}: {}", args.keyword.text, names.join(", ")),
        ));
    };
    let (text, column) = (word.text, word.column);
    match choices.iter().find(|(n, _)| *n == text) {
        Some((_, value)) => Ok(*value),
        None => Err(args.error(
            column,
            format!(
                "expected {what} ({}), found `{}`",
                names.join(", "),
                echo(text)
            ),
        )),
    }
}
