//! Reading a gzip file of one or more members (what `cat a.gz b.gz`, pigz and bgzip write) as
//! one stream, refusing bytes after the last member that do not start another one.
//!
//! flate2's `MultiGzDecoder` reads every member too, but reports junk after the last one as a
//! corrupt gzip header; this reader tells the two apart so the message can say which.

use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

/// The first two bytes of every gzip member.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Deflate's largest expansion: one compressed byte decodes to at most 1032 bytes (a gzip
/// file's headers and trailers only lower the ratio).
pub(crate) const MAX_EXPANSION: u64 = 1032;

/// The decompressed bytes of every gzip member of `R`, in order.
pub(crate) struct GzipMembers<R: BufRead> {
    /// The decoder of the current member; `None` only while moving to the next.
    decoder: Option<GzDecoder<R>>,
}

/// The error payload for a byte after the last member that does not start another one.
#[derive(Debug)]
struct TrailingJunk(u8);

impl std::fmt::Display for TrailingJunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "byte 0x{:02X} after the last gzip member does not start another",
            self.0
        )
    }
}

impl std::error::Error for TrailingJunk {}

/// The first junk byte if `e` reports junk after the last gzip member.
pub(crate) fn is_trailing_junk(e: &io::Error) -> Option<u8> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<TrailingJunk>())
        .map(|junk| junk.0)
}

impl<R: BufRead> GzipMembers<R> {
    /// A reader of the members of `reader`, which must start with a gzip member.
    pub(crate) fn new(reader: R) -> Self {
        GzipMembers {
            decoder: Some(GzDecoder::new(reader)),
        }
    }
}

impl<R: BufRead> Read for GzipMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let n = decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // This member is complete (its checksum and length verified); what follows?
            let rest = decoder.get_mut().fill_buf()?;
            match rest.first() {
                None => return Ok(0),
                Some(&byte) if byte != GZIP_MAGIC[0] => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        TrailingJunk(byte),
                    ));
                }
                Some(_) => {
                    let reader = self.decoder.take().map(GzDecoder::into_inner);
                    self.decoder = reader.map(GzDecoder::new);
                }
            }
        }
    }
}
