//! Atomic file replacement: write `NAME.tmp`, flush it to disk, rename it over `NAME`.
//!
//! A reader (or a run resumed after a kill) sees either the old file or the new one, never a
//! half-written one: `rename` within a directory is atomic on POSIX file systems and on NTFS.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file [`write_atomic`] writes before renaming: `path` with `.tmp` appended.
pub fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` atomically: writes [`temporary_path`], `fsync`s it, renames it
/// over `path`, and `fsync`s the directory (where the platform allows) so the rename survives
/// a power cut.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temporary_path(path);
    let io = |action: &'static str, file: &Path| {
        let file = file.to_path_buf();
        move |source| Error::Io {
            path: file,
            action,
            source,
        }
    };
    let mut file = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
    file.write_all(bytes).map_err(io("writing", &tmp))?;
    file.sync_all().map_err(io("flushing", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io("renaming the temporary file to", path))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(dir)
    {
        // Directories cannot be opened for syncing everywhere (Windows); the rename stands.
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("shadernet-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.bin");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert!(!temporary_path(&path).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
