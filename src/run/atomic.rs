//! Atomic file replacement with `tempfile`: write a new temporary file beside the target,
//! flush it to disk, rename it over the target.
//!
//! A reader (or a run resumed after a kill) sees either the old file or the new one, never a
//! half-written one: the rename within a directory is atomic on POSIX file systems and on
//! NTFS. The temporary file has a fresh random name (`.NAME.XXXXXX.tmp`) and is created
//! exclusively, so it never truncates another file, and two writers never share one; if
//! anything fails before the rename it is removed again.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` atomically: writes a temporary file in `path`'s directory,
/// `fsync`s it, renames it over `path`, and `fsync`s the directory (where the platform allows)
/// so the rename survives a power cut. The new file's permissions are those a newly created
/// file gets (`0o666` less the umask on Unix), as with [`std::fs::File::create`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_then(path, bytes, || {})
}

/// [`write_atomic`], calling `before_rename` once the temporary file is complete and flushed
/// and before it is renamed over `path`: the run directory's test hook aborts the process
/// there to leave a stale temporary behind, as a kill at that moment would.
pub(crate) fn write_atomic_then(
    path: &Path,
    bytes: &[u8],
    before_rename: impl FnOnce(),
) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let io = |action: &'static str, file: &Path| {
        let file = file.to_path_buf();
        move |source| Error::Io {
            path: file,
            action,
            source,
        }
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut file = builder
        .tempfile_in(dir)
        .map_err(io("creating a temporary file", dir))?;
    file.write_all(bytes).map_err(io("writing", file.path()))?;
    file.as_file()
        .sync_all()
        .map_err(io("flushing", file.path()))?;
    before_rename();
    file.persist(path)
        .map_err(|e| e.error)
        .map_err(io("renaming a temporary file over it", path))?;
    if let Ok(dir) = std::fs::File::open(dir) {
        // Directories cannot be opened for syncing everywhere (Windows); the rename stands.
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh, empty directory for one test.
    fn test_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("shadernet-atomic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = test_dir("replace");
        let path = dir.join("x.bin");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(&dir), ["x.bin"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_touches_another_file() {
        // The old writer used `x.bin.tmp` and truncated whatever was there.
        let dir = test_dir("others");
        let path = dir.join("x.bin");
        for other in ["x.bin.tmp", ".x.bin.tmp"] {
            std::fs::write(dir.join(other), b"someone else's").unwrap();
        }
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        for other in ["x.bin.tmp", ".x.bin.tmp"] {
            assert_eq!(std::fs::read(dir.join(other)).unwrap(), b"someone else's");
        }
        assert_eq!(names(&dir), [".x.bin.tmp", "x.bin", "x.bin.tmp"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn never_writes_through_a_symlink_named_like_a_temporary() {
        use std::os::unix::fs::symlink;
        let dir = test_dir("symlinks");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        // The old writer's `x.bin.tmp`, its hidden twin, and names of the new form.
        let links = [
            "x.bin.tmp",
            ".x.bin.tmp",
            ".x.bin.AAAAAA.tmp",
            ".x.bin..tmp",
        ];
        for link in links {
            symlink(&victim, dir.join(link)).unwrap();
        }
        // A dangling link: following it would create the file it names.
        symlink(dir.join("created"), dir.join(".x.bin.tmp.tmp")).unwrap();
        let path = dir.join("x.bin");
        for i in 0..50u8 {
            write_atomic(&path, &[i; 10]).unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), [49; 10]);
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!dir.join("created").exists());
        for link in links.iter().chain([&".x.bin.tmp.tmp"]) {
            let meta = std::fs::symlink_metadata(dir.join(link)).unwrap();
            assert!(meta.file_type().is_symlink(), "{link}");
        }
        assert_eq!(names(&dir).len(), links.len() + 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_target_is_replaced_not_written_through() {
        let dir = test_dir("target-link");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let path = dir.join("x.bin");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_names_the_place_and_leaves_nothing() {
        let dir = test_dir("fail");
        let e = write_atomic(&dir.join("missing/x.bin"), b"new").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("missing"), "{text}");
        // The target is a directory: the rename fails, and the temporary file goes again.
        std::fs::create_dir(dir.join("taken")).unwrap();
        let e = write_atomic(&dir.join("taken"), b"new").unwrap_err();
        assert!(e.to_string().contains("taken"), "{e}");
        assert_eq!(names(&dir), ["taken"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_reader_sees_the_old_file_or_the_new_one() {
        let dir = test_dir("readers");
        let path = dir.join("x.bin");
        let versions = [vec![b'a'; 100_000], vec![b'b'; 30_000]];
        write_atomic(&path, &versions[0]).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..100 {
                    write_atomic(&path, &versions[i % 2]).unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || reads == 0 {
                let seen = std::fs::read(&path).unwrap();
                assert!(
                    versions.contains(&seen),
                    "a partial file of {} bytes",
                    seen.len()
                );
                reads += 1;
            }
        });
        assert_eq!(names(&dir), ["x.bin"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn the_file_gets_the_permissions_of_a_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = test_dir("mode");
        std::fs::File::create(dir.join("plain")).unwrap();
        write_atomic(&dir.join("atomic"), b"x").unwrap();
        let mode = |name| {
            std::fs::metadata(dir.join(name))
                .unwrap()
                .permissions()
                .mode()
        };
        assert_eq!(mode("atomic"), mode("plain"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
