//! Families to remote_write time series; the WAL record format; request bodies; shard choice.
//!
//! A WAL record is one collection of one source:
//! ```text
//! samples:u32 LE | timestamp_ms:i64 LE | snappy(WriteRequest protobuf, one sample per series)
//! ```
//! The sample count up front lets the WAL weigh a record (for the dropped-samples counter)
//! without decompressing it.

use prost::Message as _;

use super::error::RemoteWriteError;
use super::proto::{Label, Sample, TimeSeries, WriteRequest};
use crate::event::{Family, Labels, Value};
use crate::sinks::prometheus_exporter::write_float;

const RECORD_HEADER: usize = 12;

/// Turns families into series with one sample each at `ts_ms`. Histograms become `_bucket`
/// (with `le`), `_sum` and `_count`; summaries `quantile` series, `_sum` and `_count`. Labels
/// are sorted by name; `external` labels are added where a series lacks them.
pub fn families_to_series(
    families: &[Family],
    ts_ms: i64,
    external: &[(String, String)],
) -> Vec<TimeSeries> {
    let mut out = Vec::with_capacity(families.iter().map(Family::series_count).sum());
    for f in families {
        for m in &f.metrics {
            let mut push = |suffix: &str, extra: Option<(&str, f64)>, v: f64| {
                out.push(series(
                    &f.name, suffix, &m.labels, extra, external, v, ts_ms,
                ));
            };
            match &m.value {
                Value::Scalar(v) => push("", None, *v),
                Value::Histogram(h) => {
                    let mut has_inf = false;
                    for (le, c) in &h.buckets {
                        has_inf |= le.is_infinite() && *le > 0.0;
                        push("_bucket", Some(("le", *le)), *c);
                    }
                    if !has_inf {
                        push("_bucket", Some(("le", f64::INFINITY)), h.count);
                    }
                    push("_sum", None, h.sum);
                    push("_count", None, h.count);
                }
                Value::Summary(s) => {
                    for (q, v) in &s.quantiles {
                        push("", Some(("quantile", *q)), *v);
                    }
                    push("_sum", None, s.sum);
                    push("_count", None, s.count);
                }
            }
        }
    }
    out
}

fn series(
    name: &str,
    suffix: &str,
    labels: &Labels,
    extra: Option<(&str, f64)>,
    external: &[(String, String)],
    value: f64,
    ts_ms: i64,
) -> TimeSeries {
    let mut ls: Vec<Label> = Vec::with_capacity(labels.len() + 2 + external.len());
    ls.push(Label {
        name: "__name__".to_string(),
        value: format!("{name}{suffix}"),
    });
    for (k, v) in labels.iter() {
        ls.push(Label {
            name: k.to_string(),
            value: v.to_string(),
        });
    }
    if let Some((k, v)) = extra {
        let mut s = String::new();
        write_float(&mut s, v, false);
        ls.push(Label {
            name: k.to_string(),
            value: s,
        });
    }
    for (k, v) in external {
        if labels.get(k).is_none() && extra.is_none_or(|(e, _)| e != k) {
            ls.push(Label {
                name: k.clone(),
                value: v.clone(),
            });
        }
    }
    ls.sort_by(|a, b| a.name.cmp(&b.name));
    TimeSeries {
        labels: ls,
        samples: vec![Sample {
            value,
            timestamp: ts_ms,
        }],
    }
}

/// Encodes one collection as a WAL record.
pub fn encode_record(series: Vec<TimeSeries>, ts_ms: i64) -> Result<Vec<u8>, RemoteWriteError> {
    let n = series.iter().map(|s| s.samples.len()).sum::<usize>() as u32;
    let req = WriteRequest { timeseries: series };
    let raw = req.encode_to_vec();
    let mut out = Vec::with_capacity(RECORD_HEADER + raw.len() / 3);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&ts_ms.to_le_bytes());
    let c = snap::raw::Encoder::new()
        .compress_vec(&raw)
        .map_err(|e| RemoteWriteError::Record(format!("snappy: {e}")))?;
    out.extend_from_slice(&c);
    Ok(out)
}

/// The sample count of a WAL record (its weight), read from the header.
pub fn record_samples(p: &[u8]) -> u64 {
    let mut b = [0u8; 4];
    match p.get(..4) {
        Some(s) => {
            b.copy_from_slice(s);
            u64::from(u32::from_le_bytes(b))
        }
        None => 0,
    }
}

/// The collection timestamp of a WAL record.
pub fn record_timestamp_ms(p: &[u8]) -> Option<i64> {
    let mut b = [0u8; 8];
    b.copy_from_slice(p.get(4..RECORD_HEADER)?);
    Some(i64::from_le_bytes(b))
}

/// Decodes a WAL record into its series.
pub fn decode_record(p: &[u8]) -> Result<Vec<TimeSeries>, RemoteWriteError> {
    let body = p
        .get(RECORD_HEADER..)
        .ok_or_else(|| RemoteWriteError::Record("shorter than its header".into()))?;
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| RemoteWriteError::Record(format!("snappy: {e}")))?;
    let req = WriteRequest::decode(raw.as_slice())
        .map_err(|e| RemoteWriteError::Record(format!("protobuf: {e}")))?;
    Ok(req.timeseries)
}

/// The protobuf encoding of a `WriteRequest` holding `series` (no copy of the series).
pub fn encode_protobuf(series: &[TimeSeries], out: &mut Vec<u8>) {
    for ts in series {
        prost::encoding::message::encode(1, ts, out);
    }
}

/// A request body: protobuf, then snappy (block format, as remote_write 1.0 requires).
pub fn encode_request(series: &[TimeSeries]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(series.len() * 96);
    encode_protobuf(series, &mut raw);
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// The shard of a series: a stable hash (CRC32C) of its labels, so the same series goes to the
/// same shard in every run.
pub fn shard_of(ts: &TimeSeries, shards: usize) -> usize {
    let mut h = 0u32;
    for l in &ts.labels {
        h = crc32c::crc32c_append(h, l.name.as_bytes());
        h = crc32c::crc32c_append(h, &[0xff]);
        h = crc32c::crc32c_append(h, l.value.as_bytes());
        h = crc32c::crc32c_append(h, &[0xfe]);
    }
    (h as usize) % shards.max(1)
}
