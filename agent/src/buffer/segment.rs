//! One segment file: a sequence of records.
//!
//! ```text
//! record := len:u32 LE | crc:u32 LE | payload[len]
//! crc    := CRC32C(len bytes ++ payload)
//! ```
//! Covering the length with the CRC means a flipped length bit is caught like a flipped payload
//! bit. A record is valid only when its header and its whole payload are present and the CRC
//! matches; anything else at the end of the newest segment is a torn write and is cut at start-up.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use super::error::{BufferError, io_err};

/// Bytes of the record header (length and CRC).
pub const HEADER_BYTES: u64 = 8;

/// The largest payload one record may carry.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// Appends one framed record to `out`.
pub(crate) fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len), payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The outcome of decoding one record from a byte slice.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A valid record and the bytes it took.
    Record(&'a [u8], u64),
    /// Not enough bytes for a whole record (a torn tail, or the end).
    Short,
    /// The length is impossible or the CRC does not match.
    Corrupt,
}

/// Decodes the record at the start of `buf`.
pub(crate) fn decode(buf: &[u8]) -> Decoded<'_> {
    if (buf.len() as u64) < HEADER_BYTES {
        return Decoded::Short;
    }
    let mut len_b = [0u8; 4];
    len_b.copy_from_slice(&buf[..4]);
    let mut crc_b = [0u8; 4];
    crc_b.copy_from_slice(&buf[4..8]);
    let len = u64::from(u32::from_le_bytes(len_b));
    if len > MAX_RECORD_BYTES {
        return Decoded::Corrupt;
    }
    let total = HEADER_BYTES + len;
    if (buf.len() as u64) < total {
        return Decoded::Short;
    }
    let payload = &buf[HEADER_BYTES as usize..total as usize];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&len_b), payload);
    if crc != u32::from_le_bytes(crc_b) {
        return Decoded::Corrupt;
    }
    Decoded::Record(payload, total)
}

/// Reads `[from, to)` of a segment file.
pub(crate) fn read_range(path: &Path, from: u64, to: u64) -> Result<Vec<u8>, BufferError> {
    let mut f = File::open(path).map_err(io_err("open segment", path))?;
    f.seek(SeekFrom::Start(from))
        .map_err(io_err("seek segment", path))?;
    let want = to.saturating_sub(from);
    let mut buf = Vec::with_capacity(want as usize);
    (&mut f)
        .take(want)
        .read_to_end(&mut buf)
        .map_err(io_err("read segment", path))?;
    Ok(buf)
}

/// Scans a whole segment: the length of its valid prefix, and whether something followed it.
pub(crate) struct Scan {
    /// Bytes of whole, valid records from the start.
    pub valid_len: u64,
    /// Records in the valid prefix.
    pub records: u64,
    /// Bytes after the valid prefix (a torn or damaged tail).
    pub trailing: u64,
    /// Whether the prefix ends at a damaged record (a whole record whose check fails) rather
    /// than at a torn one (cut short).
    pub damaged: bool,
}

/// Scans `buf` (a whole segment) for its valid prefix.
pub(crate) fn scan(buf: &[u8]) -> Scan {
    let mut off = 0u64;
    let mut records = 0u64;
    let damaged = loop {
        match decode(&buf[off as usize..]) {
            Decoded::Record(_, n) => {
                off += n;
                records += 1;
            }
            Decoded::Short => break false,
            Decoded::Corrupt => break true,
        }
    };
    Scan {
        valid_len: off,
        records,
        trailing: buf.len() as u64 - off,
        damaged,
    }
}
