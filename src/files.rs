//! Opening the files a user names (network files, checkpoints, pictures, a run directory's own
//! text files) only when they are regular files, or links to one. A FIFO would hold the
//! command forever waiting for a writer, and a device such as `/dev/zero` never ends: either is
//! refused with a message saying what the path is and what was expected instead.

use crate::error::{Error, Result};
use std::fs::{File, FileType};
use std::io::Read;
use std::path::Path;

/// Opens `path` for reading if it is (or links to) a regular file, returning the file and its
/// length. A directory, FIFO, socket or device is an [`Error::Data`] naming the path, what it
/// is and `expected` (e.g. "a network file"); a path that cannot be looked up or opened is an
/// [`Error::Io`] with `action` (e.g. "reading the checkpoint").
pub fn open_regular(path: &Path, action: &'static str, expected: &str) -> Result<(File, u64)> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        action,
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(Error::data(
            path,
            format!("{}, expected {expected}", what(meta.file_type())),
        ));
    }
    let file = File::open(path).map_err(io)?;
    Ok((file, meta.len()))
}

/// Reads the regular file `path` whole; refusals and errors as [`open_regular`].
pub fn read_regular(path: &Path, action: &'static str, expected: &str) -> Result<Vec<u8>> {
    let (mut file, len) = open_regular(path, action, expected)?;
    // The length is a hint only (the file may change meanwhile): capped, then read to the end.
    let mut bytes = Vec::with_capacity(len.min(1 << 30) as usize);
    file.read_to_end(&mut bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        action,
        source,
    })?;
    Ok(bytes)
}

/// What a path that is not a regular file is, for messages.
fn what(kind: FileType) -> &'static str {
    if kind.is_dir() {
        return "is a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "is a FIFO (named pipe), not a regular file: reading it would wait for a writer";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "is a device, not a regular file";
        }
        if kind.is_socket() {
            return "is a socket, not a regular file";
        }
    }
    "is not a regular file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_reads_and_a_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("net.txt");
        std::fs::write(&file, b"flatten\n").unwrap();
        assert_eq!(
            read_regular(&file, "reading", "a network file").unwrap(),
            b"flatten\n"
        );
        let e = read_regular(dir.path(), "reading", "a network file").unwrap_err();
        assert!(
            e.to_string()
                .ends_with(": is a directory, expected a network file"),
            "{e}"
        );
        let e = read_regular(&dir.path().join("absent"), "reading", "x").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_before_it_is_read() {
        let e = read_regular(Path::new("/dev/zero"), "reading", "a checkpoint").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/dev/zero: is a device, not a regular file, expected a checkpoint"
        );
    }
}
