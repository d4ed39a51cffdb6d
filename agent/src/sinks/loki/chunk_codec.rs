//! A spilled chunk's payload (one record of the spill buffer): the entry count (u32 LE, which is
//! also the record's weight), then each entry, length-prefixed.

use std::collections::HashMap;
use std::sync::Arc;

use crate::logs::{LogEntry, MetaStr, Metadata, StreamLabels};

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Encodes entries.
pub fn encode_entries(entries: &[LogEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.line.len() + 64).sum());
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.ts_ns.to_le_bytes());
        out.extend_from_slice(&(e.stream.pairs.len() as u32).to_le_bytes());
        for (k, v) in &e.stream.pairs {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        put_str(&mut out, &e.line);
        out.extend_from_slice(&(e.metadata.len() as u32).to_le_bytes());
        for (k, v) in &e.metadata {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
    }
    out
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.i.checked_add(n)?;
        let s = self.b.get(self.i..end)?;
        self.i = end;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn meta(&mut self) -> Option<MetaStr> {
        let n = self.u32()? as usize;
        MetaStr::from_utf8(self.take(n)?).ok()
    }
}

/// The entries in a payload (its first four bytes), without decoding it: the weight the disk
/// queue counts, so that what a full `drop_oldest` buffer drops is counted in lines.
pub fn entry_count(b: &[u8]) -> u64 {
    b.get(..4)
        .and_then(|h| h.try_into().ok())
        .map_or(0, |h| u64::from(u32::from_le_bytes(h)))
}

/// Decodes entries; `None` if the payload is not well-formed.
pub fn decode_entries(b: &[u8]) -> Option<Vec<LogEntry>> {
    let mut r = Reader { b, i: 0 };
    let n = r.u32()? as usize;
    let mut out = Vec::with_capacity(n.min(b.len() / 16));
    let mut streams: HashMap<Vec<(String, String)>, Arc<StreamLabels>> = HashMap::new();
    for _ in 0..n {
        let ts_ns = r.i64()?;
        let np = r.u32()? as usize;
        let mut pairs = Vec::with_capacity(np.min(64));
        for _ in 0..np {
            pairs.push((r.string()?, r.string()?));
        }
        let stream = match streams.get(&pairs) {
            Some(s) => Arc::clone(s),
            None => {
                let s = Arc::new(StreamLabels::new(pairs.clone()));
                streams.insert(pairs, Arc::clone(&s));
                s
            }
        };
        let line = r.string()?.into();
        let nm = r.u32()? as usize;
        let mut metadata = Metadata::with_capacity(nm.min(16));
        for _ in 0..nm {
            metadata.push((r.meta()?, r.meta()?));
        }
        out.push(LogEntry {
            ts_ns,
            line,
            stream,
            metadata,
        });
    }
    (r.i == b.len()).then_some(out)
}
