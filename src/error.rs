//! One error type for the whole crate, carrying the context a user needs to fix the problem:
//! the file, the field or line, and what was expected.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in shadernet. Each variant names where (file, line, layer,
/// flag) and what was expected; [`std::error::Error::source`] exposes the underlying cause.
#[derive(Debug)]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level.
    Io {
        /// The file involved.
        path: PathBuf,
        /// What we were doing ("reading", "creating", ...).
        action: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// A data file exists but its contents are wrong (bad magic, truncated, corrupt gzip, ...).
    Data {
        /// The file involved.
        path: PathBuf,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A network description file could not be parsed.
    Parse {
        /// Where the text came from (a path, or a preset name).
        origin: String,
        /// 1-based line number.
        line: usize,
        /// 1-based column of the offending word.
        column: usize,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A network that cannot be built: impossible shapes, bad layer order, bad hyperparameters.
    Network {
        /// The network's name (a preset's, or a network file's stem), once known.
        name: Option<String>,
        /// Which layer (1-based, as `shadernet models` prints them), if one is to blame.
        layer: Option<usize>,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A bad command-line value or combination of options.
    Config(String),
    /// Values handed to an executor, an op or a checkpoint that do not fit it (a parameter
    /// vector of the wrong length, a batch larger than the buffers, an index past the data):
    /// the calling code's mistake, not a flag's. Says what was expected and what came.
    Mismatch(String),
    /// The GPU could not be found, opened or used.
    Gpu(String),
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A [`Error::Data`] for `path`.
    pub fn data(path: &Path, problem: impl Into<String>) -> Self {
        Error::Data {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }

    /// A [`Error::Network`] blamed on the 0-based layer `index`.
    pub fn layer(index: usize, problem: impl Into<String>) -> Self {
        Error::Network {
            name: None,
            layer: Some(index + 1),
            problem: problem.into(),
        }
    }

    /// A [`Error::Network`] about the network as a whole.
    pub fn network(problem: impl Into<String>) -> Self {
        Error::Network {
            name: None,
            layer: None,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io {
                path,
                action,
                source,
            } => write!(f, "{}: {action} failed: {source}", path.display()),
            Error::Data { path, problem } => write!(f, "{}: {problem}", path.display()),
            Error::Parse {
                origin,
                line,
                column,
                problem,
            } => write!(f, "{origin}:{line}:{column}: {problem}"),
            Error::Network {
                name,
                layer,
                problem,
            } => {
                write!(f, "network")?;
                if let Some(name) = name {
                    write!(f, " `{name}`")?;
                }
                match layer {
                    Some(layer) => write!(f, " layer {layer}: {problem}"),
                    None => write!(f, ": {problem}"),
                }
            }
            Error::Config(problem) | Error::Mismatch(problem) => write!(f, "{problem}"),
            Error::Gpu(problem) => write!(f, "GPU: {problem}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
