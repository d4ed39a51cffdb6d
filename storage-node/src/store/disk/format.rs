//! The object file format. One file holds one object's bytes and its metadata, so that a single
//! `rename` makes an object visible whole, or not at all.
//!
//! ```text
//! +--------------------+----------------+------------+------------+-------------------+
//! | data (size bytes)  | footer (JSON)  | footer_len | footer_crc | magic "NWOBJ\0\0\1" |
//! |                    |                | u32 LE     | u32 LE     | 8 bytes           |
//! +--------------------+----------------+------------+------------+-------------------+
//! ```
//! The footer is a JSON [`Footer`]: the [`ObjectMeta`] plus a CRC32C for every [`BLOCK_SIZE`] block
//! of the data. Every read verifies the footer's CRC32C and the CRC32C of each block it returns, so
//! a flipped bit is never served; a range read verifies only the blocks it touches (as BlueStore
//! checksums per block). Parts of multipart uploads use the same format, and so does the body of
//! every object record in the small-object log (`small_log`), held in memory as an *image*.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::store::ObjectMeta;

/// Data is checksummed in blocks of this size.
pub const BLOCK_SIZE: usize = 64 * 1024;
const MAGIC: &[u8; 8] = b"NWOBJ\x00\x00\x01";
const TRAILER_LEN: u64 = 16;
/// A footer over this size is refused as corrupt (it would describe an object far above 5 TiB).
const MAX_FOOTER_LEN: u32 = 64 << 20;

/// What follows the data in an object file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Footer {
    pub meta: ObjectMeta,
    pub block_size: u32,
    pub block_crcs: Vec<u32>,
}

/// Why a stored file cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("corrupt: {0}")]
    Corrupt(String),
}

/// Writes an object file (into a temporary path), computing block CRCs and the MD5 as bytes arrive.
#[derive(Debug)]
pub struct ObjectWriter {
    file: File,
    path: PathBuf,
    size: u64,
    block_crcs: Vec<u32>,
    block_crc: u32,
    block_len: usize,
    md5: Md5,
    done: bool,
}

impl ObjectWriter {
    /// Creates the temporary file. It is removed on drop unless [`ObjectWriter::finish`] succeeded.
    pub fn create(path: PathBuf) -> io::Result<Self> {
        let file = File::options().write(true).create_new(true).open(&path)?;
        Ok(ObjectWriter {
            file,
            path,
            size: 0,
            block_crcs: Vec::new(),
            block_crc: 0,
            block_len: 0,
            md5: Md5::new(),
            done: false,
        })
    }

    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.md5.update(data);
        self.size += data.len() as u64;
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.block_len).min(data.len());
            self.block_crc = crc32c::crc32c_append(self.block_crc, &data[..take]);
            self.block_len += take;
            data = &data[take..];
            if self.block_len == BLOCK_SIZE {
                self.block_crcs.push(self.block_crc);
                self.block_crc = 0;
                self.block_len = 0;
            }
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The MD5 of everything written so far.
    pub fn md5(&self) -> [u8; 16] {
        self.md5.clone().finalize().into()
    }

    /// Appends the footer and returns the still-open file, not yet fsynced, and its path.
    /// `meta.size` is set from the bytes written.
    pub fn finish(mut self, mut meta: ObjectMeta) -> io::Result<(File, PathBuf)> {
        if self.block_len > 0 {
            self.block_crcs.push(self.block_crc);
        }
        meta.size = self.size;
        let trailer = encode_trailer(meta, std::mem::take(&mut self.block_crcs))?;
        self.file.write_all(&trailer)?;
        self.done = true;
        let file = self.file.try_clone()?;
        Ok((file, std::mem::take(&mut self.path)))
    }
}

/// The footer, its length, its CRC32C and the magic: everything that follows the data.
fn encode_trailer(meta: ObjectMeta, block_crcs: Vec<u32>) -> io::Result<Vec<u8>> {
    let footer = Footer {
        meta,
        block_size: BLOCK_SIZE as u32,
        block_crcs,
    };
    let json = serde_json::to_vec(&footer).map_err(io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(|_| io::Error::other("footer too large"))?;
    let mut trailer = Vec::with_capacity(json.len() + TRAILER_LEN as usize);
    trailer.extend_from_slice(&json);
    trailer.extend_from_slice(&len.to_le_bytes());
    trailer.extend_from_slice(&crc32c::crc32c(&json).to_le_bytes());
    trailer.extend_from_slice(MAGIC);
    Ok(trailer)
}

/// An object file's bytes built in memory: `data`, then the footer for `meta` (whose size is set
/// from `data`). What the small-object log stores as a record body.
pub fn encode_image(mut data: Vec<u8>, mut meta: ObjectMeta) -> io::Result<Vec<u8>> {
    meta.size = data.len() as u64;
    let block_crcs = data.chunks(BLOCK_SIZE).map(crc32c::crc32c).collect();
    let trailer = encode_trailer(meta, block_crcs)?;
    data.extend_from_slice(&trailer);
    Ok(data)
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where a reader's bytes are: an object file, or an image in memory (a small-log record).
#[derive(Debug)]
enum Source {
    File(File),
    Image(Vec<u8>),
}

impl Source {
    fn len(&self) -> io::Result<u64> {
        match self {
            Source::File(f) => Ok(f.metadata()?.len()),
            Source::Image(v) => Ok(v.len() as u64),
        }
    }

    fn read_exact_at(&self, buf: &mut [u8], at: u64) -> io::Result<()> {
        match self {
            Source::File(f) => f.read_exact_at(buf, at),
            Source::Image(v) => {
                let start = usize::try_from(at).map_err(io::Error::other)?;
                let end = start.checked_add(buf.len()).filter(|e| *e <= v.len());
                let end =
                    end.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "past image"))?;
                buf.copy_from_slice(&v[start..end]);
                Ok(())
            }
        }
    }
}

/// An open object file (or image) with a verified footer.
#[derive(Debug)]
pub struct ObjectReader {
    source: Source,
    pub footer: Footer,
}

impl ObjectReader {
    /// Opens the file and verifies its footer. `Ok(None)` when the file does not exist.
    pub fn open(path: &Path) -> Result<Option<Self>, FormatError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let source = Source::File(file);
        let footer = parse_footer(&source)?;
        Ok(Some(ObjectReader { source, footer }))
    }

    /// Reads an object image held in memory, verifying its footer.
    pub fn from_image(image: Vec<u8>) -> Result<Self, FormatError> {
        let source = Source::Image(image);
        let footer = parse_footer(&source)?;
        Ok(ObjectReader { source, footer })
    }

    /// Reads `[start, end)` of the data, verifying the CRC32C of every block it touches.
    pub fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>, FormatError> {
        let size = self.footer.meta.size;
        if start > end || end > size {
            return Err(FormatError::Corrupt(format!(
                "range {start}..{end} outside object of {size} bytes"
            )));
        }
        if start == end {
            return Ok(Vec::new());
        }
        let bs = u64::from(self.footer.block_size);
        let first_block = start / bs;
        let last_block = (end - 1) / bs;
        let block_start = first_block * bs;
        let block_end = ((last_block + 1) * bs).min(size);
        let len = usize::try_from(block_end - block_start)
            .map_err(|_| FormatError::Corrupt("range too large".into()))?;
        let mut buf = vec![0u8; len];
        self.source.read_exact_at(&mut buf, block_start)?;
        for (i, chunk) in buf.chunks(bs as usize).enumerate() {
            let idx = first_block as usize + i;
            let want = self.footer.block_crcs.get(idx).copied();
            let got = crc32c::crc32c(chunk);
            if want != Some(got) {
                return Err(FormatError::Corrupt(format!(
                    "block {idx} crc32c {got:08x}, footer says {}",
                    want.map_or("nothing".to_owned(), |w| format!("{w:08x}"))
                )));
            }
        }
        let from = (start - block_start) as usize;
        let to = (end - block_start) as usize;
        buf.truncate(to);
        buf.drain(..from);
        Ok(buf)
    }

    /// Verifies every block, reading at most `chunk` bytes at a time and calling `pace(bytes)` after
    /// each read so the scrubber can throttle itself.
    pub fn verify_all(&self, chunk: u64, mut pace: impl FnMut(u64)) -> Result<(), FormatError> {
        let size = self.footer.meta.size;
        let bs = u64::from(self.footer.block_size);
        let chunk = (chunk / bs).max(1) * bs;
        let mut pos = 0;
        while pos < size {
            let end = (pos + chunk).min(size);
            self.read_range(pos, end)?;
            pace(end - pos);
            pos = end;
        }
        Ok(())
    }
}

fn parse_footer(source: &Source) -> Result<Footer, FormatError> {
    let file_len = source.len()?;
    if file_len < TRAILER_LEN {
        return Err(FormatError::Corrupt(format!(
            "file of {file_len} bytes has no trailer"
        )));
    }
    let mut trailer = [0u8; TRAILER_LEN as usize];
    source.read_exact_at(&mut trailer, file_len - TRAILER_LEN)?;
    footer_from(trailer, file_len, |buf, at| source.read_exact_at(buf, at))
}

fn footer_from(
    trailer: [u8; TRAILER_LEN as usize],
    file_len: u64,
    read_at: impl Fn(&mut [u8], u64) -> io::Result<()>,
) -> Result<Footer, FormatError> {
    if &trailer[8..16] != MAGIC {
        return Err(FormatError::Corrupt("bad magic".to_owned()));
    }
    let len = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let crc = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if len > MAX_FOOTER_LEN || u64::from(len) + TRAILER_LEN > file_len {
        return Err(FormatError::Corrupt(format!(
            "footer length {len} does not fit a file of {file_len} bytes"
        )));
    }
    let mut json = vec![0u8; len as usize];
    read_at(&mut json, file_len - TRAILER_LEN - u64::from(len))?;
    if crc32c::crc32c(&json) != crc {
        return Err(FormatError::Corrupt("footer crc32c mismatch".to_owned()));
    }
    let footer: Footer = serde_json::from_slice(&json)
        .map_err(|e| FormatError::Corrupt(format!("footer does not parse: {e}")))?;
    let data_len = file_len - TRAILER_LEN - u64::from(len);
    let bs = u64::from(footer.block_size);
    if footer.meta.size != data_len
        || bs == 0
        || footer.block_crcs.len() as u64 != data_len.div_ceil(bs)
    {
        return Err(FormatError::Corrupt(format!(
            "footer says {} bytes in {} blocks, file holds {data_len}",
            footer.meta.size,
            footer.block_crcs.len()
        )));
    }
    Ok(footer)
}

#[cfg(test)]
mod tests;
