//! The tailer thread: discovery, the read loop, rotation and truncation, chunks to the sink.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::file::TailedFile;
use super::fingerprint::{self, FP_MAX};
use super::{LineProcessor, ProcessorConfig, TailConfig};
use crate::logs::timestamp::now_nanos;
use crate::logs::{Chunk, ChunkBuffer, FileKey, LogEntry, LogMetrics, Positions, StreamLabels};

/// Bytes read from one file before the tailer turns to the next.
const PER_FILE_ROUND: usize = 1024 * 1024;
/// The most entries a fresh chunk reserves room for (about 1.6 MiB of `LogEntry`s).
const MAX_RESERVED_ENTRIES: usize = 16 * 1024;
/// Discoveries a closed file may be missing before its record is forgotten.
const FORGET_AFTER_SCANS: u32 = 60;
/// Entries of scratch capacity kept while the tailer is idle.
const SCRATCH_KEEP: usize = 64;

/// A file a source wants tailed, with its base labels.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSpec {
    /// The path.
    pub path: PathBuf,
    /// The labels of its entries (the processor may add `stream` and `level`).
    pub labels: Arc<StreamLabels>,
}

/// How a source finds its files.
pub trait Discover: Send + std::fmt::Debug + 'static {
    /// The files to tail now.
    fn discover(&mut self) -> Vec<FileSpec>;
}

/// A running tailer thread.
#[derive(Debug)]
pub struct TailerHandle {
    shutdown: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TailerHandle {
    /// Asks the thread to stop (it stops at its next round, or when the sink goes away).
    pub fn stop(&self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }

    /// Waits for the thread.
    pub fn join(mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The tailer of one source in one pipeline.
#[derive(Debug)]
pub struct Tailer {
    cfg: TailConfig,
    proc_cfg: Arc<ProcessorConfig>,
    discover: Box<dyn Discover>,
    positions: Arc<Positions>,
    metrics: Arc<LogMetrics>,
    tx: mpsc::Sender<Chunk>,
    buffered: Arc<AtomicU64>,
    sink: String,
    chunk_max_bytes: usize,
    files: Vec<TailedFile>,
    chunk: Chunk,
    scratch: Vec<LogEntry>,
    warned_full: bool,
    warned_max_open: bool,
    spill: Option<Arc<dyn ChunkBuffer>>,
    patterns: Option<Arc<crate::transforms::log_patterns::LogPatterns>>,
    shutdown: Arc<AtomicBool>,
}

impl Tailer {
    /// A tailer; `buffered` counts the bytes in the channel (the sink subtracts what it takes).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: TailConfig,
        proc_cfg: Arc<ProcessorConfig>,
        discover: Box<dyn Discover>,
        positions: Arc<Positions>,
        metrics: Arc<LogMetrics>,
        tx: mpsc::Sender<Chunk>,
        buffered: Arc<AtomicU64>,
        sink: &str,
        chunk_max_bytes: usize,
    ) -> Self {
        metrics.register_source(proc_cfg.source);
        Tailer {
            cfg,
            proc_cfg,
            discover,
            positions,
            metrics,
            tx,
            buffered,
            sink: sink.to_string(),
            chunk_max_bytes: chunk_max_bytes.max(1),
            files: Vec::new(),
            chunk: Chunk::default(),
            scratch: Vec::new(),
            warned_full: false,
            warned_max_open: false,
            spill: None,
            patterns: None,
            shutdown: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Chunks go to this disk buffer (and their positions move once it is fsynced) instead of
    /// the channel.
    pub fn with_spill(mut self, q: Arc<dyn ChunkBuffer>) -> Self {
        self.spill = Some(q);
        self
    }

    /// Each chunk goes through the `log_patterns` transform before it leaves.
    pub fn with_patterns(
        mut self,
        p: Option<Arc<crate::transforms::log_patterns::LogPatterns>>,
    ) -> Self {
        self.patterns = p;
        self
    }

    /// Runs on its own thread.
    pub fn spawn(self) -> std::io::Result<TailerHandle> {
        let shutdown = Arc::clone(&self.shutdown);
        let s = Arc::clone(&shutdown);
        let name = format!("tail-{}", self.proc_cfg.source);
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            let span =
                tracing::info_span!("tailer", source = self.proc_cfg.source, sink = %self.sink);
            let _g = span.enter();
            self.run(&s);
        })?;
        Ok(TailerHandle {
            shutdown,
            thread: Some(thread),
        })
    }

    fn run(mut self, shutdown: &AtomicBool) {
        let discover_every = Duration::from_millis(self.cfg.discover_interval_ms.max(10));
        let poll = Duration::from_millis(self.cfg.poll_interval_ms.max(1));
        let mut next_discover = Instant::now();
        while !shutdown.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= next_discover {
                self.discover_files();
                next_discover = now + discover_every;
            }
            let mut progressed = false;
            let mut i = 0;
            while i < self.files.len() {
                match self.poll_file(i) {
                    Ok(PollOutcome::Progress) => {
                        progressed = true;
                        i += 1;
                    }
                    Ok(PollOutcome::Idle) => i += 1,
                    Ok(PollOutcome::Close) => self.close(i),
                    Err(Stopped) => return,
                }
                if shutdown.load(Ordering::Relaxed) {
                    break;
                }
            }
            if self.send_chunk().is_err() {
                return;
            }
            if !progressed {
                // Idle: keep a bounded scratch, not the capacity of the largest burst.
                self.scratch.shrink_to(SCRATCH_KEEP);
                self.chunk.entries.shrink_to(SCRATCH_KEEP);
                std::thread::sleep(poll);
            }
        }
        tracing::debug!("tailer stopped");
    }

    /// One tailing pass over the files without sleeping (tests).
    #[cfg(test)]
    pub(crate) fn step(&mut self, discover: bool) {
        if discover {
            self.discover_files();
        }
        let mut i = 0;
        while i < self.files.len() {
            match self.poll_file(i) {
                Ok(PollOutcome::Close) => self.close(i),
                Ok(_) => i += 1,
                Err(Stopped) => return,
            }
        }
        let _ = self.send_chunk();
    }

    /// Files held open (tests).
    #[cfg(test)]
    pub(crate) fn open_files(&self) -> usize {
        self.files.len()
    }

    fn discover_files(&mut self) {
        let specs = self.discover.discover();
        let mut seen = HashSet::new();
        for spec in specs {
            let Ok(meta) = std::fs::metadata(&spec.path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let key = FileKey {
                dev: meta.dev(),
                ino: meta.ino(),
            };
            seen.insert(key);
            if let Some(f) = self.files.iter_mut().find(|f| f.key == key) {
                f.matched = true;
                continue;
            }
            if self.files.len() >= self.cfg.max_open_files {
                if !self.warned_max_open {
                    tracing::warn!(
                        max_open_files = self.cfg.max_open_files,
                        "open file bound reached; more files wait until others close"
                    );
                    self.warned_max_open = true;
                }
                self.metrics
                    .dropped(self.proc_cfg.source, "max_open_files", 0);
                continue;
            }
            if let Err(e) = self.open(spec) {
                tracing::warn!(error = %e, "open log file");
            }
        }
        for f in &mut self.files {
            if !seen.contains(&f.key) {
                f.matched = false;
            }
        }
        self.positions.note_scan(&seen, FORGET_AFTER_SCANS);
    }

    fn open(&mut self, spec: FileSpec) -> std::io::Result<()> {
        use std::io::Seek as _;
        let mut file = std::fs::File::open(&spec.path)?;
        let meta = file.metadata()?;
        let key = FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        let size = meta.len();
        let path_str = spec.path.display().to_string();
        let resume = match self.positions.live(key) {
            Some(r) if fingerprint::matches(&file, r.fp_len, r.fp_crc) && size >= r.acked => {
                self.positions.set_open(r.id, true);
                Some((r.id, r.acked, (r.fp_len, r.fp_crc)))
            }
            Some(r) => {
                tracing::info!(path = %path_str, "inode reused by a new file; read it from the start");
                self.positions.retire(r.id);
                None
            }
            None => None,
        };
        let (id, start, fp) = match resume {
            Some(x) => x,
            None => {
                let fp = fingerprint::fingerprint(&file, size).unwrap_or((0, 0));
                let copy = self.positions.find_copy_source(key, |r| {
                    size >= r.read && fingerprint::matches(&file, r.fp_len, r.fp_crc)
                });
                let (acked, read) = match &copy {
                    Some(src) => {
                        tracing::info!(path = %path_str, from = %src.path, offset = src.read,
                            "file is a copy of one already read (copytruncate); resume where that one was");
                        if src.retired {
                            self.positions.remove(src.id);
                        }
                        (src.acked.min(src.read), src.read)
                    }
                    None => (0, 0),
                };
                let id = self.positions.create(key, &path_str, acked, read, fp);
                (id, read, fp)
            }
        };
        file.seek(std::io::SeekFrom::Start(start))?;
        let proc = LineProcessor::new(
            Arc::clone(&self.proc_cfg),
            spec.labels,
            Arc::clone(&self.metrics),
        )
        .map_err(std::io::Error::other)?;
        tracing::debug!(path = %path_str, offset = start, "tail file");
        self.files.push(TailedFile::new(
            file,
            key,
            id,
            spec.path,
            start,
            proc,
            fp,
            self.cfg.max_line_bytes,
        ));
        Ok(())
    }

    fn poll_file(&mut self, i: usize) -> Result<PollOutcome, Stopped> {
        let source = self.proc_cfg.source;
        let now = Instant::now();
        let now_ns = now_nanos();
        let f = &mut self.files[i];
        let meta = match f.file.metadata() {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(path = %f.label, error = %e, "stat open log file");
                return Ok(PollOutcome::Close);
            }
        };
        let size = meta.len();
        let mut outcome = PollOutcome::Idle;
        let rewritten = size != f.last_size
            && f.fp_len > 0
            && !fingerprint::matches(&f.file, f.fp_len, f.fp_crc);
        f.last_size = size;
        if size < f.offset || rewritten {
            tracing::info!(path = %f.label, size, offset = f.offset, "file truncated; read it again from the start");
            // A line without its newline is not sent as a fragment: copytruncate's copy holds
            // it whole and is resumed from where it starts (the writer finished it before the
            // copy); without a tailed copy its end is gone with everything else not read yet.
            let line_start = f.line_start();
            f.drop_partial();
            f.proc.flush(now, &mut self.scratch);
            let old = f.record;
            self.chunk.ack(old, line_start);
            self.positions.set_read(old, line_start);
            self.positions.retire(old);
            let fp = fingerprint::fingerprint(&f.file, size).unwrap_or((0, 0));
            let id = self.positions.create(f.key, &f.label, 0, 0, fp);
            if f.reset(id).is_err() {
                return Ok(PollOutcome::Close);
            }
            f.fp_len = fp.0;
            f.fp_crc = fp.1;
        }
        let f = &mut self.files[i];
        if size > f.offset {
            let mut budget = PER_FILE_ROUND;
            let (mut bytes, mut lines) = (0u64, 0u64);
            while budget > 0 {
                match f.read_some(now_ns, now, &self.metrics, source, &mut self.scratch) {
                    Ok((0, _)) => break,
                    Ok((n, l)) => {
                        budget = budget.saturating_sub(n);
                        bytes += n as u64;
                        lines += l;
                        if self.chunk.bytes + bytes as usize >= self.chunk_max_bytes {
                            // The chunk is full: hand it over before reading more.
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(path = %f.label, error = %e, "read log file");
                        break;
                    }
                }
            }
            self.metrics.read(source, lines, bytes);
            if f.fp_len < FP_MAX
                && size > u64::from(f.fp_len)
                && let Some(fp) = fingerprint::fingerprint(&f.file, size)
            {
                f.fp_len = fp.0;
                f.fp_crc = fp.1;
                self.positions.set_fingerprint(f.record, fp);
            }
            f.last_growth = now;
            outcome = PollOutcome::Progress;
        } else {
            let idle = now.duration_since(f.last_growth);
            if idle >= Duration::from_millis(self.cfg.eof_flush_ms) {
                if f.has_partial() {
                    f.flush_partial(now_ns, now, &mut self.scratch);
                }
                f.release_idle_buffer();
            }
            let gone = meta.nlink() == 0 || !f.matched;
            if gone && idle >= Duration::from_millis(self.cfg.rotate_wait_ms) {
                outcome = PollOutcome::Close;
            }
        }
        f.proc.tick(now, &mut self.scratch);
        f.proc.publish();
        let (record, safe, offset) = (f.record, f.safe_offset(), f.offset);
        self.metrics
            .behind(source, &f.label, Some(size.saturating_sub(offset)));
        // A copy of this file (copytruncate) resumes at a line's start, never mid-line.
        self.positions.set_read(record, f.line_start());
        self.chunk.append(&mut self.scratch);
        self.chunk.ack(record, safe);
        if self.chunk.bytes >= self.chunk_max_bytes {
            self.send_chunk().map_err(|_| Stopped)?;
        }
        Ok(outcome)
    }

    fn close(&mut self, i: usize) {
        let mut f = self.files.swap_remove(i);
        let now = Instant::now();
        f.flush_partial(now_nanos(), now, &mut self.scratch);
        f.proc.flush(now, &mut self.scratch);
        f.proc.publish();
        self.chunk.append(&mut self.scratch);
        self.chunk.ack(f.record, f.offset);
        self.positions.set_open(f.record, false);
        self.metrics.behind(self.proc_cfg.source, &f.label, None);
        tracing::debug!(path = %f.label, offset = f.offset, "release file");
    }

    fn send_chunk(&mut self) -> Result<(), Stopped> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let mut chunk = std::mem::take(&mut self.chunk);
        // The next chunk's entries get room for as many as this one's at once (bounded): grown
        // by doubling, each chunk's entry vector was copied about once more on the way.
        self.chunk.entries = Vec::with_capacity(chunk.entries.len().min(MAX_RESERVED_ENTRIES));
        if let Some(p) = &self.patterns {
            chunk.bytes += p.process(&mut chunk.entries);
        }
        if let Some(q) = &self.spill {
            if !chunk.entries.is_empty()
                && let Err(e) = q.append(&chunk.entries, &self.shutdown)
            {
                if !e.is_empty() {
                    tracing::error!(error = %e, "spill buffer append failed; stop tailing");
                }
                return Err(Stopped);
            }
            for a in &chunk.acks {
                self.positions.ack(a.record, a.offset);
            }
            return Ok(());
        }
        let bytes = chunk.bytes as u64;
        let total = self.buffered.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.metrics.buffer(&self.sink, total);
        match self.tx.try_send(chunk) {
            Ok(()) => {
                self.warned_full = false;
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(chunk)) => {
                if !self.warned_full {
                    tracing::warn!(sink = %self.sink,
                        "log buffer full (Loki slow or down); stop reading until it drains, files keep the data");
                    self.warned_full = true;
                }
                self.tx.blocking_send(chunk).map_err(|_| Stopped)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stopped),
        }
    }
}

enum PollOutcome {
    Progress,
    Idle,
    Close,
}

/// The sink is gone; the tailer ends.
struct Stopped;
