//! Standard output and standard error that never panic and never stop the work.
//!
//! `println!` panics when stdout is a pipe whose reader has gone (`shadernet train | head -1`)
//! or a full device (`> /dev/full`); a panic in the middle of training would lose the epoch in
//! progress. [`outln!`] and [`errln!`] write a line and, when the write fails, remember the
//! first failure and write nothing more to that stream: the command goes on (training keeps
//! training and saving its run directory) and [`finish`] reports the failure at the end.
//! A reader that went away (broken pipe) is not an error: whoever closed the pipe wanted no
//! more lines. Any other failure (a full disk) makes the command exit non-zero once its work
//! is done, with the error on stderr.

use shadernet::error::{Error, Result};
use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;

/// The first failure of each stream: stdout, stderr.
static FAILED: [Mutex<Option<io::Error>>; 2] = [Mutex::new(None), Mutex::new(None)];

/// Writes `args` and a newline to stdout (`err` false) or stderr (`err` true), unless that
/// stream has failed before; a failure is remembered, never a panic.
pub(crate) fn write_line(err: bool, args: fmt::Arguments) {
    let mut failed = FAILED[usize::from(err)]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if failed.is_some() {
        return;
    }
    let result = if err {
        let mut stream = io::stderr().lock();
        stream
            .write_fmt(args)
            .and_then(|()| stream.write_all(b"\n"))
    } else {
        let mut stream = io::stdout().lock();
        stream
            .write_fmt(args)
            .and_then(|()| stream.write_all(b"\n"))
            .and_then(|()| stream.flush())
    };
    if let Err(e) = result {
        *failed = Some(e);
    }
}

/// `println!` that never panics: see the module documentation.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(false, format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics: see the module documentation.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(true, format_args!($($arg)*))
    };
}

pub(crate) use {errln, outln};

/// After the command's work: an error if stdout failed for a reason other than a reader that
/// went away (stderr's failures can only be dropped: there is nowhere left to report them).
pub(crate) fn finish() -> Result<()> {
    let failed = FAILED[0]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match failed.as_ref() {
        Some(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Config(format!(
            "writing to standard output: {e}; the command's work is done (a run directory keeps \
             all of it), but some of its output was lost"
        ))),
        _ => Ok(()),
    }
}
