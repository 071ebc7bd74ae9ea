//! The IDX file format used by MNIST: a big-endian header (two zero bytes, an element type
//! code, the number of dimensions, then one `u32` size per dimension) followed by the data.
//! Only unsigned bytes (type code `0x08`) are supported. Files may be gzip-compressed.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::{Error, Result};

/// The IDX element type code for unsigned bytes, the only one supported.
const TYPE_U8: u8 = 0x08;

/// One IDX file: its sizes `dims` (outermost first, e.g. `(N, H, W)` for MNIST images) and its
/// row-major data, `dims.iter().product()` bytes.
pub struct IdxArray {
    /// The size of each dimension, outermost first.
    pub dims: Vec<usize>,
    /// The elements, row-major; length is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads the IDX file at `path`, decompressing it first if it starts with the gzip magic
/// `1f 8b` (whatever its name). Every error names the file, what is wrong and what was expected.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let io_error = |action, source| Error::Io {
        path: path.to_path_buf(),
        action,
        source,
    };
    let mut raw = Vec::new();
    File::open(path)
        .map_err(|e| io_error("opening", e))?
        .read_to_end(&mut raw)
        .map_err(|e| io_error("reading", e))?;
    if raw.is_empty() {
        return Err(Error::data(
            path,
            "empty file, expected an IDX header and data",
        ));
    }
    let gzipped = raw.starts_with(&[0x1f, 0x8b]);
    let bytes = if gzipped {
        let mut out = Vec::new();
        GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| {
                Error::data(
                    path,
                    format!("corrupt gzip data ({e}), expected a complete gzip stream"),
                )
            })?;
        if out.is_empty() {
            return Err(Error::data(
                path,
                "empty after gzip decompression, expected an IDX header and data",
            ));
        }
        out
    } else {
        raw
    };
    parse(path, bytes, if gzipped { " (decompressed)" } else { "" })
}

/// Parses the header of `bytes` and checks the data length against it. `note` qualifies byte
/// counts in messages (e.g. " (decompressed)").
fn parse(path: &Path, mut bytes: Vec<u8>, note: &str) -> Result<IdxArray> {
    let len = bytes.len();
    if len < 4 {
        return Err(Error::data(
            path,
            format!(
                "header too short: file has {len} bytes{note}, expected at least 4 (the magic \
                 number)"
            ),
        ));
    }
    let [zero0, zero1, type_code, ndims] = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if zero0 != 0 || zero1 != 0 {
        let magic = u32::from_be_bytes([zero0, zero1, type_code, ndims]);
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
    if len < header_len {
        return Err(Error::data(
            path,
            format!(
                "header truncated: {ndims} dimensions need a {header_len}-byte header, file has \
                 {len} bytes{note}"
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let shape = dims
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" x ");
    let expected = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| {
            Error::data(
                path,
                format!("header sizes {shape} overflow: far more data than any file can hold"),
            )
        })?;
    let actual = len - header_len;
    if actual < expected {
        return Err(Error::data(
            path,
            format!(
                "truncated: header says {expected} bytes of data ({shape}), file has {actual}{note}"
            ),
        ));
    }
    if actual > expected {
        return Err(Error::data(
            path,
            format!(
                "header says {expected} bytes of data ({shape}), file has {} extra bytes{note}",
                actual - expected
            ),
        ));
    }
    bytes.drain(..header_len);
    Ok(IdxArray { dims, data: bytes })
}
