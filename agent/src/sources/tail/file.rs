//! One open file: reading, line splitting with a size bound, the safe offset.

use std::io::Read as _;

use bytes::Bytes;
use std::path::PathBuf;
use std::time::Instant;

use super::LineProcessor;
use crate::logs::{FileKey, LogEntry, LogMetrics, Text};

/// Bytes read per `read` call.
const READ_SIZE: usize = 128 * 1024;

#[derive(Debug)]
struct LongLine {
    start: u64,
    kept: Vec<u8>,
}

/// A file the tailer holds open.
#[derive(Debug)]
pub struct TailedFile {
    pub(super) file: std::fs::File,
    pub(super) key: FileKey,
    pub(super) record: u64,
    pub(super) label: String,
    /// The file offset of the next byte to read.
    pub(super) offset: u64,
    /// Read but not yet handed out: the start of a line whose newline has not come yet.
    buf: Vec<u8>,
    long: Option<LongLine>,
    pub(super) proc: LineProcessor,
    pub(super) fp_len: u32,
    pub(super) fp_crc: u32,
    pub(super) last_size: u64,
    pub(super) last_growth: Instant,
    pub(super) matched: bool,
    max_line: usize,
}

impl TailedFile {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        file: std::fs::File,
        key: FileKey,
        record: u64,
        path: PathBuf,
        offset: u64,
        proc: LineProcessor,
        fp: (u32, u32),
        max_line: usize,
    ) -> Self {
        TailedFile {
            file,
            key,
            record,
            label: path.display().to_string(),
            offset,
            buf: Vec::new(),
            long: None,
            proc,
            fp_len: fp.0,
            fp_crc: fp.1,
            last_size: offset,
            last_growth: Instant::now(),
            matched: true,
            max_line: max_line.max(1),
        }
    }

    /// The start of the line being read: every line before it left the read buffer whole (a
    /// line without its newline yet, or the rest of an over-long one, starts here).
    pub(super) fn line_start(&self) -> u64 {
        match &self.long {
            Some(l) => l.start,
            None => self.offset - self.buf.len() as u64,
        }
    }

    /// Everything before this offset is in entries already handed out.
    pub(super) fn safe_offset(&self) -> u64 {
        let consumed = self.line_start();
        self.proc
            .pending_start()
            .map_or(consumed, |p| p.min(consumed))
    }

    /// Forgets the line being read (the file was truncated under it: its end, if any, is only
    /// in a copy, which is read from [`Self::line_start`]).
    pub(super) fn drop_partial(&mut self) {
        self.buf.clear();
        self.long = None;
    }

    /// Starts over at offset 0 (the file was truncated).
    pub(super) fn reset(&mut self, record: u64) -> std::io::Result<()> {
        use std::io::Seek as _;
        self.file.seek(std::io::SeekFrom::Start(0))?;
        self.offset = 0;
        self.buf.clear();
        self.long = None;
        self.record = record;
        self.fp_len = 0;
        Ok(())
    }

    /// Reads once; returns `(bytes read, complete lines)`. The complete lines leave the read
    /// buffer as one shared block (valid UTF-8: each entry is a slice of it, no copy); what
    /// follows the last newline stays for the next read.
    pub(super) fn read_some(
        &mut self,
        now_ns: i64,
        now: Instant,
        metrics: &LogMetrics,
        source: &'static str,
        out: &mut Vec<LogEntry>,
    ) -> std::io::Result<(usize, u64)> {
        let old = self.buf.len();
        // Read into the spare capacity (`read_to_end` does not zero it first, as a `resize`
        // would: that memset cost as much as the tailer's line splitting).
        self.buf.reserve_exact(READ_SIZE);
        let read = (&self.file)
            .take(READ_SIZE as u64)
            .read_to_end(&mut self.buf);
        let n = self.buf.len() - old;
        let start_of_buf = self.offset;
        self.offset += n as u64;
        if n == 0 {
            // An error after some bytes were read comes back at the next read.
            return read.map(|_| (0, 0));
        }
        let mut buf_offset = start_of_buf - old as u64;
        let mut lines = 0u64;
        if self.long.is_some() {
            match memchr::memchr(b'\n', &self.buf) {
                None => {
                    self.buf.clear();
                    return Ok((n, 0));
                }
                Some(i) => {
                    if let Some(l) = self.long.take() {
                        self.proc.line(&l.kept, None, l.start, now_ns, now, out);
                    }
                    lines += 1;
                    // The rest of the long line is dropped.
                    self.buf.drain(..=i);
                    buf_offset += (i + 1) as u64;
                }
            }
        }
        if let Some(last) = memchr::memrchr(b'\n', &self.buf) {
            let block = if 2 * (last + 1) >= self.buf.capacity() {
                // Most of the buffer: its allocation becomes the block (the next read gets a
                // fresh one, starting with the copied line in flight).
                let rest = self.buf[last + 1..].to_vec();
                let mut full = std::mem::replace(&mut self.buf, rest);
                full.truncate(last + 1);
                Bytes::from(full)
            } else {
                // A short read (a slow writer): a block of its own size, so that a line in
                // flight never holds a whole read buffer; the buffer is read into again.
                let b = Bytes::copy_from_slice(&self.buf[..=last]);
                self.buf.drain(..=last);
                b
            };
            let text = Text::from_block(block);
            let (bytes, shared): (&[u8], Option<&Text>) = match &text {
                Ok(t) => (t.as_bytes(), Some(t)),
                // Not valid UTF-8 as a whole: each line is checked (and copied) on its own.
                Err(b) => (b, None),
            };
            let mut pos = 0usize;
            while let Some(i) = memchr::memchr(b'\n', &bytes[pos..]) {
                let mut line = &bytes[pos..pos + i];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                if line.len() > self.max_line {
                    metrics.malformed(source, "line_too_long", 1);
                    line = &line[..utf8_cut(line, self.max_line)];
                }
                self.proc
                    .line(line, shared, buf_offset + pos as u64, now_ns, now, out);
                lines += 1;
                pos += i + 1;
            }
            buf_offset += pos as u64;
        }
        if self.buf.len() > self.max_line {
            metrics.malformed(source, "line_too_long", 1);
            let cut = utf8_cut(&self.buf, self.max_line);
            self.long = Some(LongLine {
                start: buf_offset,
                kept: self.buf[..cut].to_vec(),
            });
            self.buf = Vec::new();
        }
        Ok((n, lines))
    }

    /// Gives back the read buffer of a file that has gone idle (nothing half-read in it), so a
    /// burst does not leave every open file holding a full read's worth of memory.
    pub(super) fn release_idle_buffer(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = Vec::new();
        }
    }

    /// Whether a line without its newline is waiting.
    pub(super) fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.long.is_some()
    }

    /// Sends a last line that has no newline (the file was idle or is closing).
    pub(super) fn flush_partial(&mut self, now_ns: i64, now: Instant, out: &mut Vec<LogEntry>) {
        if let Some(l) = self.long.take() {
            self.proc.line(&l.kept, None, l.start, now_ns, now, out);
            self.buf.clear();
        } else if !self.buf.is_empty() {
            let start = self.offset - self.buf.len() as u64;
            let buf = std::mem::take(&mut self.buf);
            self.proc.line(&buf, None, start, now_ns, now, out);
        }
    }
}

/// The longest prefix of `b` of at most `max` bytes that does not split a UTF-8 sequence.
fn utf8_cut(b: &[u8], max: usize) -> usize {
    let mut cut = max.min(b.len());
    let floor = cut.saturating_sub(3);
    while cut > floor && cut < b.len() && (b[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    cut
}
