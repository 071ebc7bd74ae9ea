//! The IDX file format used by MNIST: a big-endian header (two zero bytes, an element type
//! code, the number of dimensions, then one `u32` size per dimension) followed by the data.
//! Only unsigned bytes (type code `0x08`) are supported. Files may be gzip-compressed, in one
//! member or several (as `cat a.gz b.gz`, pigz and bgzip write them).
//!
//! The file is read as a stream, header first: the sizes it declares are checked against a
//! memory limit and against what the file can hold before anything is allocated for the data,
//! and exactly the declared bytes are read, so a small file that claims (or decompresses to)
//! gigabytes costs neither the memory nor the time. Anything after the data is an error.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::gzip::{GZIP_MAGIC, GzipMembers, MAX_EXPANSION, is_trailing_junk};
use crate::model::memory::format_bytes;
use crate::{Error, Result};

/// The IDX element type code for unsigned bytes, the only one supported.
const TYPE_U8: u8 = 0x08;

/// The default limit on the data bytes a load may allocate: 4 GiB (MNIST needs 55 MB).
pub const DEFAULT_DATA_LIMIT: u64 = 4 << 30;

/// The most bytes reserved for gzip-compressed data before it has arrived; more is reserved as
/// it decompresses, so a header that lies about its sizes costs at most this much.
const GZIP_RESERVE: u64 = 64 << 20;

/// One IDX file: its sizes `dims` (outermost first, e.g. `(N, H, W)` for MNIST images) and its
/// row-major data, `dims.iter().product()` bytes.
pub struct IdxArray {
    /// The size of each dimension, outermost first.
    pub dims: Vec<usize>,
    /// The elements, row-major; length is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads the IDX file at `path` under the [`DEFAULT_DATA_LIMIT`], decompressing it if it
/// starts with the gzip magic `1f 8b` (whatever its name). Every error names the file, what is
/// wrong and what was expected.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    read_idx_limited(path, DEFAULT_DATA_LIMIT)
}

/// [`read_idx`] allowing at most `limit` bytes of data: a header that declares more is refused
/// before anything is allocated, with a message giving the bytes it needs.
pub fn read_idx_limited(path: &Path, limit: u64) -> Result<IdxArray> {
    let (file, len) = open_regular(path)?;
    read_buffered(BufReader::new(file), path, len, limit)
}

/// [`read_idx_limited`] of a file's bytes already in memory (a browser fetches them); `path`
/// names the file in messages.
pub fn read_idx_bytes(bytes: &[u8], path: &Path, limit: u64) -> Result<IdxArray> {
    read_buffered(bytes, path, bytes.len() as u64, limit)
}

/// Reads an IDX file of `len` bytes from `reader`, gzip-compressed if it starts with the gzip
/// magic.
fn read_buffered(mut reader: impl BufRead, path: &Path, len: u64, limit: u64) -> Result<IdxArray> {
    if len == 0 {
        return Err(Error::data(
            path,
            "empty file, expected an IDX header and data",
        ));
    }
    let start = reader.fill_buf().map_err(|e| Error::Io {
        path: path.to_path_buf(),
        action: "reading",
        source: e,
    })?;
    if start.starts_with(&GZIP_MAGIC) {
        let source = Source {
            path,
            gzipped: true,
            capacity: len.saturating_mul(MAX_EXPANSION),
            file_len: len,
        };
        read_stream(GzipMembers::new(reader), &source, limit)
    } else {
        let source = Source {
            path,
            gzipped: false,
            capacity: len,
            file_len: len,
        };
        read_stream(reader, &source, limit)
    }
}

/// Opens `path` if it is (or links to) a regular file, returning it and its length. A
/// directory, a device, a FIFO (which could block forever), a broken symbolic link or a link
/// loop is refused with a message that says which.
fn open_regular(path: &Path) -> Result<(File, u64)> {
    let not_idx = |what: &str| Error::data(path, format!("{what}, expected an IDX file"));
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => {
            let link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            return Err(match (link, e.kind()) {
                (true, io::ErrorKind::NotFound) => {
                    let target = std::fs::read_link(path)
                        .map_or_else(|_| "?".into(), |t| t.display().to_string());
                    not_idx(&format!(
                        "broken symbolic link: its target {target} does not exist"
                    ))
                }
                (true, _) => not_idx(&format!("symbolic link that cannot be followed ({e})")),
                _ => Error::Io {
                    path: path.to_path_buf(),
                    action: "opening",
                    source: e,
                },
            });
        }
    };
    if meta.is_dir() {
        return Err(not_idx("is a directory"));
    }
    if !meta.is_file() {
        return Err(not_idx("not a regular file (a device, FIFO or socket)"));
    }
    let file = File::open(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        action: "opening",
        source: e,
    })?;
    Ok((file, meta.len()))
}

/// Where the bytes come from, for the checks and the messages.
struct Source<'a> {
    /// The file.
    path: &'a Path,
    /// Whether the bytes are decompressed from gzip.
    gzipped: bool,
    /// The most bytes the stream can yield: the file's length, or the most it can decompress
    /// to.
    capacity: u64,
    /// The file's length on disk.
    file_len: u64,
}

impl Source<'_> {
    /// Qualifies byte counts in messages.
    fn note(&self) -> &'static str {
        if self.gzipped { " (decompressed)" } else { "" }
    }

    /// The error for a failed read: corrupt gzip, junk after the gzip stream, or an I/O error.
    fn read_error(&self, e: io::Error) -> Error {
        if !self.gzipped {
            return Error::Io {
                path: self.path.to_path_buf(),
                action: "reading",
                source: e,
            };
        }
        if let Some(junk) = is_trailing_junk(&e) {
            return Error::data(
                self.path,
                format!(
                    "junk after the gzip stream: byte 0x{junk:02X} follows the last gzip member, \
                     expected the file to end there (or another gzip member to start)"
                ),
            );
        }
        Error::data(
            self.path,
            format!("corrupt gzip data ({e}), expected a complete gzip stream"),
        )
    }
}

/// Reads up to `buf.len()` bytes, stopping early only at the end of the stream; returns how
/// many were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads the header from `reader`, checks the sizes it declares against `limit` and the
/// source's capacity, then reads exactly the declared data and checks that nothing follows.
fn read_stream(mut reader: impl Read, source: &Source, limit: u64) -> Result<IdxArray> {
    let path = source.path;
    let note = source.note();
    let mut magic = [0u8; 4];
    let got = read_up_to(&mut reader, &mut magic).map_err(|e| source.read_error(e))?;
    if got == 0 {
        return Err(Error::data(
            path,
            "empty after gzip decompression, expected an IDX header and data",
        ));
    }
    if got < 4 {
        return Err(Error::data(
            path,
            format!(
                "header too short: file has {got} bytes{note}, expected at least 4 (the magic \
                 number)"
            ),
        ));
    }
    let [zero0, zero1, type_code, ndims] = magic;
    if zero0 != 0 || zero1 != 0 {
        let magic = u32::from_be_bytes(magic);
        return Err(Error::data(
            path,
            format!(
                "wrong magic number 0x{magic:08X}, expected 0x000008NN (two zero bytes, type code \
                 0x08 for unsigned bytes, NN dimensions); is this an IDX file?"
            ),
        ));
    }
    if type_code != TYPE_U8 {
        return Err(Error::data(
            path,
            format!(
                "unsupported element type code 0x{type_code:02X}, expected 0x08 (unsigned byte)"
            ),
        ));
    }
    if ndims == 0 {
        return Err(Error::data(
            path,
            "header declares zero dimensions, expected at least 1",
        ));
    }
    let header_len = 4 + 4 * usize::from(ndims);
    let mut sizes = vec![0u8; header_len - 4];
    let got = read_up_to(&mut reader, &mut sizes).map_err(|e| source.read_error(e))?;
    if got < sizes.len() {
        return Err(Error::data(
            path,
            format!(
                "header truncated: {ndims} dimensions need a {header_len}-byte header, file has \
                 {} bytes{note}",
                4 + got
            ),
        ));
    }
    let dims: Vec<u32> = sizes
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let shape = dims
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" x ");
    let expected = dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(u64::from(d)))
        .ok_or_else(|| {
            Error::data(
                path,
                format!("header sizes {shape} overflow: far more data than any file can hold"),
            )
        })?;
    check_size(source, expected, &shape, header_len as u64, limit)?;
    // `expected` fits in memory's address space: it is at most the limit and the capacity.
    let expected_len = usize::try_from(expected).map_err(|_| {
        Error::data(
            path,
            format!("header says {expected} bytes of data ({shape}), more than memory can address"),
        )
    })?;
    let reserve = if source.gzipped {
        expected.min(GZIP_RESERVE) as usize
    } else {
        expected_len
    };
    let mut data = Vec::with_capacity(reserve);
    (&mut reader)
        .take(expected)
        .read_to_end(&mut data)
        .map_err(|e| source.read_error(e))?;
    if data.len() < expected_len {
        return Err(Error::data(
            path,
            format!(
                "truncated: header says {expected} bytes of data ({shape}), file has {}{note}",
                data.len()
            ),
        ));
    }
    let mut next = [0u8; 1];
    if read_up_to(&mut reader, &mut next).map_err(|e| source.read_error(e))? > 0 {
        let extra = if source.gzipped {
            "more bytes (decompressed)".to_string()
        } else {
            let extra = source.file_len - header_len as u64 - expected;
            format!("{extra} extra bytes")
        };
        return Err(Error::data(
            path,
            format!(
                "junk after the data: header says {expected} bytes of data ({shape}), file has \
                 {extra} after them, expected the file to end there"
            ),
        ));
    }
    let dims = dims.into_iter().map(|d| d as usize).collect();
    Ok(IdxArray { dims, data })
}

/// Refuses `expected` bytes of data that exceed `limit` or that the source cannot hold after
/// its `header_len`-byte header.
fn check_size(
    source: &Source,
    expected: u64,
    shape: &str,
    header_len: u64,
    limit: u64,
) -> Result<()> {
    let path = source.path;
    if expected > limit {
        return Err(Error::data(
            path,
            format!(
                "header declares {shape} = {} of data, more than the {} the data memory \
                 limit leaves for this file; expected at most that",
                bytes_text(expected),
                bytes_text(limit)
            ),
        ));
    }
    let room = source.capacity.saturating_sub(header_len);
    if expected <= room {
        return Ok(());
    }
    Err(Error::data(
        path,
        if source.gzipped {
            format!(
                "header says {expected} bytes of data ({shape}), but a gzip file of {} bytes \
                 decompresses to at most {} bytes ({MAX_EXPANSION} per byte): truncated, or a \
                 corrupt header",
                source.file_len, source.capacity
            )
        } else {
            format!("truncated: header says {expected} bytes of data ({shape}), file has {room}")
        },
    ))
}

/// `bytes` as a count, with [`format_bytes`]' reading from 1 KiB on: "24 bytes",
/// "5400000000 bytes (5.0 GiB)".
fn bytes_text(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{bytes} bytes ({})", format_bytes(bytes))
    }
}
