//! A batch and its two wire forms: Loki's `PushRequest` protobuf (encoded by hand, straight
//! from the entries, checked against prost-generated structs in the tests) and Loki's JSON.
//!
//! ```text
//! PushRequest   { repeated StreamAdapter streams = 1; }
//! StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
//! EntryAdapter  { Timestamp timestamp = 1; string line = 2;
//!                 repeated LabelPairAdapter structuredMetadata = 3; }
//! LabelPairAdapter { string name = 1; string value = 2; }
//! Timestamp     { int64 seconds = 1; int32 nanos = 2; }
//! ```

use std::collections::HashMap;
use std::io::Write as _;
use std::time::Instant;

use crate::logs::{Ack, Chunk, LogEntry};

/// Entries waiting to be pushed, and the offsets their delivery acknowledges.
#[derive(Debug)]
pub struct Batch {
    /// The entries, in arrival order: each chunk's as it came (not moved into one vector: a
    /// batch's megabyte of entries would be copied again at each growth).
    chunks: Vec<Vec<LogEntry>>,
    /// How many entries.
    len: usize,
    /// The sum of the entries' sizes.
    pub bytes: usize,
    /// What delivery acknowledges.
    pub acks: Vec<Ack>,
    /// The furthest spill buffer position delivery acknowledges.
    pub spill: Option<(u64, u64)>,
    /// When the first chunk arrived.
    pub started: Instant,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            chunks: Vec::new(),
            len: 0,
            bytes: 0,
            acks: Vec::new(),
            spill: None,
            started: Instant::now(),
        }
    }
}

impl Batch {
    /// Adds a chunk.
    pub fn add(&mut self, c: Chunk) {
        if self.len == 0 && self.acks.is_empty() {
            self.started = Instant::now();
        }
        self.bytes += c.bytes;
        if !c.entries.is_empty() {
            self.len += c.entries.len();
            self.chunks.push(c.entries);
        }
        if let Some(s) = c.spill {
            self.spill = Some(self.spill.map_or(s, |x| x.max(s)));
        }
        for a in c.acks {
            match self.acks.iter_mut().find(|x| x.record == a.record) {
                Some(x) => x.offset = x.offset.max(a.offset),
                None => self.acks.push(a),
            }
        }
    }

    /// The entries, in arrival order.
    pub fn entries(&self) -> impl Iterator<Item = &LogEntry> {
        self.chunks.iter().flatten()
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries grouped by stream (in order of first appearance), each group sorted by time
    /// (stable, so equal times keep their read order).
    pub fn streams(&self) -> Vec<(&str, Vec<&LogEntry>)> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut out: Vec<(&str, Vec<&LogEntry>)> = Vec::new();
        // Runs of entries share one `Arc`: look the labels up once per run, not per entry.
        let mut last: Option<(*const crate::logs::StreamLabels, usize)> = None;
        for e in self.entries() {
            let ptr = std::sync::Arc::as_ptr(&e.stream);
            let i = match last {
                Some((p, i)) if p == ptr => i,
                _ => {
                    let key = e.stream.rendered.as_str();
                    let i = *index.entry(key).or_insert_with(|| {
                        out.push((key, Vec::new()));
                        out.len() - 1
                    });
                    last = Some((ptr, i));
                    i
                }
            };
            out[i].1.push(e);
        }
        for (_, v) in &mut out {
            if !v.is_sorted_by_key(|e| e.ts_ns) {
                v.sort_by_key(|e| e.ts_ns);
            }
        }
        out
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Field key, length and bytes of a length-delimited field.
fn ld_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn ts_parts(ts_ns: i64) -> (i64, i32) {
    (
        ts_ns.div_euclid(1_000_000_000),
        ts_ns.rem_euclid(1_000_000_000) as i32,
    )
}

fn timestamp_len(ts_ns: i64) -> usize {
    let (s, n) = ts_parts(ts_ns);
    let mut l = 0;
    if s != 0 {
        l += 1 + varint_len(s as u64);
    }
    if n != 0 {
        l += 1 + varint_len(n as i64 as u64);
    }
    l
}

fn entry_len(e: &LogEntry) -> usize {
    let mut l = ld_len(timestamp_len(e.ts_ns)) + ld_len(e.line.len());
    for (k, v) in &e.metadata {
        l += ld_len(ld_len(k.len()) + ld_len(v.len()));
    }
    l
}

/// Where the protobuf encoder writes: a `Vec`, or the snappy writer that compresses the body
/// as it comes ([`super::snappy::SnappyWriter`]).
pub trait Put {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]);
}

impl Put for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Put for super::snappy::SnappyWriter {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        super::snappy::SnappyWriter::put(self, bytes);
    }
}

/// Field keys, lengths and short strings gathered on the stack and written in one piece, so
/// the writer is called about twice per entry (its head, its line) instead of once per field.
struct Head {
    buf: [u8; 96],
    len: usize,
}

impl Head {
    fn new() -> Self {
        Head {
            buf: [0; 96],
            len: 0,
        }
    }

    /// Writes what it holds once it might not take 11 more bytes (so it never overflows).
    #[inline]
    fn room<P: Put + ?Sized>(&mut self, out: &mut P) {
        if self.len > self.buf.len() - 11 {
            self.flush(out);
        }
    }

    #[inline]
    fn byte<P: Put + ?Sized>(&mut self, out: &mut P, b: u8) {
        self.room(out);
        self.buf[self.len] = b;
        self.len += 1;
    }

    #[inline]
    fn varint<P: Put + ?Sized>(&mut self, out: &mut P, mut v: u64) {
        self.room(out);
        while v >= 0x80 {
            self.buf[self.len] = (v as u8) | 0x80;
            self.len += 1;
            v >>= 7;
        }
        self.buf[self.len] = v as u8;
        self.len += 1;
    }

    /// A length-delimited field's key and length.
    #[inline]
    fn ld<P: Put + ?Sized>(&mut self, out: &mut P, field: u8, len: usize) {
        self.byte(out, (field << 3) | 2);
        self.varint(out, len as u64);
    }

    /// Appends `bytes`: held with the rest when short (a metadata name or value), else written
    /// at once after what it holds (a line).
    #[inline]
    fn then<P: Put + ?Sized>(&mut self, out: &mut P, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if bytes.len() <= 32 && end <= self.buf.len() - 11 {
            self.buf[self.len..end].copy_from_slice(bytes);
            self.len = end;
        } else {
            self.flush(out);
            out.put(bytes);
        }
    }

    #[inline]
    fn flush<P: Put + ?Sized>(&mut self, out: &mut P) {
        if self.len > 0 {
            out.put(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

/// The sizes the length prefixes need, worked out before anything is written: every entry's
/// and every stream's, and the whole body's.
#[derive(Debug, Default)]
pub struct Plan {
    entries: Vec<usize>,
    streams: Vec<usize>,
    /// The body's length in bytes.
    pub total: usize,
}

impl Plan {
    /// The plan of `streams` (an entry's size is worked out once).
    pub fn of(streams: &[(&str, Vec<&LogEntry>)]) -> Self {
        let n: usize = streams.iter().map(|(_, es)| es.len()).sum();
        let mut plan = Plan {
            entries: Vec::with_capacity(n),
            streams: Vec::with_capacity(streams.len()),
            total: 0,
        };
        for (labels, es) in streams {
            let mut size = ld_len(labels.len());
            for e in es {
                let l = entry_len(e);
                plan.entries.push(l);
                size += ld_len(l);
            }
            plan.streams.push(size);
            plan.total += ld_len(size);
        }
        plan
    }
}

/// Writes the protobuf `PushRequest` of `streams` (uncompressed) to `out`: exactly
/// `plan.total` bytes, `plan` being [`Plan::of`] the same streams.
pub fn write_protobuf<P: Put + ?Sized>(
    streams: &[(&str, Vec<&LogEntry>)],
    plan: &Plan,
    out: &mut P,
) {
    let mut h = Head::new();
    let mut entry_sizes = plan.entries.iter();
    for ((labels, es), size) in streams.iter().zip(&plan.streams) {
        h.ld(out, 1, *size);
        h.ld(out, 1, labels.len());
        h.then(out, labels.as_bytes());
        for (e, len) in es.iter().zip(&mut entry_sizes) {
            h.ld(out, 2, *len);
            let (s, n) = ts_parts(e.ts_ns);
            h.ld(out, 1, timestamp_len(e.ts_ns));
            if s != 0 {
                h.byte(out, 1 << 3);
                h.varint(out, s as u64);
            }
            if n != 0 {
                h.byte(out, 2 << 3);
                h.varint(out, n as i64 as u64);
            }
            h.ld(out, 2, e.line.len());
            h.then(out, e.line.as_bytes());
            for (k, v) in &e.metadata {
                h.ld(out, 3, ld_len(k.len()) + ld_len(v.len()));
                h.ld(out, 1, k.len());
                h.then(out, k.as_bytes());
                h.ld(out, 2, v.len());
                h.then(out, v.as_bytes());
            }
        }
    }
    h.flush(out);
}

/// Encodes the protobuf `PushRequest` (uncompressed) into `out` (cleared first).
pub fn encode_protobuf(streams: &[(&str, Vec<&LogEntry>)], out: &mut Vec<u8>) {
    let plan = Plan::of(streams);
    out.clear();
    out.reserve(plan.total);
    write_protobuf(streams, &plan, out);
    debug_assert_eq!(out.len(), plan.total);
}

/// Encodes Loki's JSON push body (uncompressed):
/// `{"streams":[{"stream":{..},"values":[["<ns>","<line>",{..metadata}]]}]}`.
pub fn encode_json(streams: &[(&str, Vec<&LogEntry>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"streams\":[");
    for (i, (_, es)) in streams.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let Some(first) = es.first() else { continue };
        let labels: serde_json::Map<String, serde_json::Value> = first
            .stream
            .pairs
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        out.extend_from_slice(b"{\"stream\":");
        let _ = serde_json::to_writer(&mut out, &labels);
        out.extend_from_slice(b",\"values\":[");
        for (j, e) in es.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            let _ = write!(out, "[\"{}\",", e.ts_ns);
            let _ = serde_json::to_writer(&mut out, e.line.as_str());
            if !e.metadata.is_empty() {
                let md: serde_json::Map<String, serde_json::Value> = e
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
                    .collect();
                out.push(b',');
                let _ = serde_json::to_writer(&mut out, &md);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    out
}
