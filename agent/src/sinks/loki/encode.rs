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
    /// The entries, in arrival order.
    pub entries: Vec<LogEntry>,
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
            entries: Vec::new(),
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
        if self.entries.is_empty() && self.acks.is_empty() {
            self.started = Instant::now();
        }
        self.bytes += c.bytes;
        if self.entries.is_empty() {
            self.entries = c.entries;
        } else {
            self.entries.extend(c.entries);
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

    /// The entries grouped by stream (in order of first appearance), each group sorted by time
    /// (stable, so equal times keep their read order).
    pub fn streams(&self) -> Vec<(&str, Vec<&LogEntry>)> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut out: Vec<(&str, Vec<&LogEntry>)> = Vec::new();
        // Runs of entries share one `Arc`: look the labels up once per run, not per entry.
        let mut last: Option<(*const crate::logs::StreamLabels, usize)> = None;
        for e in &self.entries {
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

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Field key, length and bytes of a length-delimited field.
fn ld_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

fn put_ld(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    out.push((field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
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

/// Encodes the protobuf `PushRequest` (uncompressed) into `out` (cleared first). Every entry's
/// size is worked out once (its stream's size needs it before the entry is written).
pub fn encode_protobuf(streams: &[(&str, Vec<&LogEntry>)], out: &mut Vec<u8>) {
    let entries: usize = streams.iter().map(|(_, es)| es.len()).sum();
    let mut entry_sizes: Vec<usize> = Vec::with_capacity(entries);
    let mut sizes: Vec<usize> = Vec::with_capacity(streams.len());
    for (labels, es) in streams {
        let mut size = ld_len(labels.len());
        for e in es {
            let l = entry_len(e);
            entry_sizes.push(l);
            size += ld_len(l);
        }
        sizes.push(size);
    }
    let total: usize = sizes.iter().map(|s| ld_len(*s)).sum();
    out.clear();
    out.reserve(total);
    let mut entry_sizes = entry_sizes.into_iter();
    for ((labels, es), size) in streams.iter().zip(sizes) {
        out.push((1 << 3) | 2);
        put_varint(out, size as u64);
        put_ld(out, 1, labels.as_bytes());
        for (e, len) in es.iter().zip(&mut entry_sizes) {
            out.push((2 << 3) | 2);
            put_varint(out, len as u64);
            let (s, n) = ts_parts(e.ts_ns);
            out.push((1 << 3) | 2);
            put_varint(out, timestamp_len(e.ts_ns) as u64);
            if s != 0 {
                out.push(1 << 3);
                put_varint(out, s as u64);
            }
            if n != 0 {
                out.push(2 << 3);
                put_varint(out, n as i64 as u64);
            }
            put_ld(out, 2, e.line.as_bytes());
            for (k, v) in &e.metadata {
                out.push((3 << 3) | 2);
                put_varint(out, (ld_len(k.len()) + ld_len(v.len())) as u64);
                put_ld(out, 1, k.as_bytes());
                put_ld(out, 2, v.as_bytes());
            }
        }
    }
    debug_assert_eq!(out.len(), total);
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
