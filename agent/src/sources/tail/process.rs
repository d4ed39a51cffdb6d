//! One file's line processing: bytes to UTF-8, container format and partial joining,
//! multiline, structured parsing, labels.

use std::sync::Arc;
use std::time::Instant;

use crate::logs::{LogEntry, LogMetrics, Metadata, StreamLabels, Text};
use crate::metrics::ComponentTelemetry;
use crate::transforms::multiline::{Merged, Multiline, MultilineConfig, MultilineError};
use crate::transforms::parse_cri::{Joined, Joiner, ParseCriConfig, Stream, parse_container_line};
use crate::transforms::parse_json::{ParseConfig, ParseFormat, parse_line};

/// The `component_*` counters a log source and the transforms on its lines count into (lines).
/// Each source's `build` takes its own handle and the transforms' (`component_kind="transform"`,
/// `component_id` `parse_cri`, `multiline`, `parse_json`: one per transform, shared by the
/// sources that use it); the defaults count nowhere (tests).
#[derive(Debug, Clone, Default)]
pub struct LogTelemetry {
    /// The source: lines read (received) and handed to the transforms (sent).
    pub source: ComponentTelemetry,
    /// Container lines parsed (received), entries joined from them (sent); a line not in the
    /// container format is an error (it goes on as plain text).
    pub parse_cri: ComponentTelemetry,
    /// Lines in (received), events out (sent); an event cut at its bound is an error.
    pub multiline: ComponentTelemetry,
    /// Lines parsed (received) and passed on (sent); a line not in the format is an error (it
    /// goes on without its fields).
    pub parse_json: ComponentTelemetry,
}

impl LogTelemetry {
    /// The handles of a source being built and of the transforms its `cfg` turns on.
    pub fn for_source(ctx: &crate::component::BuildContext, cfg: &ProcessorConfig) -> Self {
        let transform = |id: &str| ctx.metrics().components.handle("transform", id);
        let off = ComponentTelemetry::default;
        LogTelemetry {
            source: ctx.telemetry(),
            parse_cri: cfg
                .container
                .as_ref()
                .map_or_else(off, |_| transform("parse_cri")),
            multiline: cfg
                .multiline
                .as_ref()
                .map_or_else(off, |_| transform("multiline")),
            parse_json: if cfg.parse.format == ParseFormat::None {
                off()
            } else {
                transform("parse_json")
            },
        }
    }
}

/// What a source asks of each of its files' lines.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// The source's name (the `source` metric label).
    pub source: &'static str,
    /// Container log format (pod logs), or `None` for plain files.
    pub container: Option<ParseCriConfig>,
    /// Multiline joining.
    pub multiline: Option<MultilineConfig>,
    /// Structured parsing.
    pub parse: ParseConfig,
    /// Where the lines are counted.
    pub telemetry: LogTelemetry,
}

type Key = (Option<Stream>, Option<&'static str>);

/// The per-file processing state.
#[derive(Debug)]
pub struct LineProcessor {
    cfg: Arc<ProcessorConfig>,
    base: Arc<StreamLabels>,
    joiner: Option<Joiner>,
    multiline: Option<Multiline<Option<Stream>>>,
    cache: Vec<(Key, Arc<StreamLabels>)>,
    metrics: Arc<LogMetrics>,
    joined: Vec<Joined>,
    merged: Vec<Merged<Option<Stream>>>,
    /// Lines seen and not yet counted ([`Self::publish`]).
    lines: u64,
}

impl LineProcessor {
    /// A processor for one file whose entries carry `base` labels.
    pub fn new(
        cfg: Arc<ProcessorConfig>,
        base: Arc<StreamLabels>,
        metrics: Arc<LogMetrics>,
    ) -> Result<Self, MultilineError> {
        let joiner = cfg
            .container
            .as_ref()
            .map(|c| Joiner::new(c.max_line_bytes));
        let multiline = cfg.multiline.as_ref().map(Multiline::new).transpose()?;
        Ok(LineProcessor {
            cfg,
            base,
            joiner,
            multiline,
            cache: Vec::new(),
            metrics,
            joined: Vec::new(),
            merged: Vec::new(),
            lines: 0,
        })
    }

    /// One raw line (without its newline) that starts at file offset `start`. When `block` is
    /// given, `bytes` is a slice of it (valid UTF-8), and the entry shares its storage.
    pub fn line(
        &mut self,
        bytes: &[u8],
        block: Option<&Text>,
        start: u64,
        now_ns: i64,
        now: Instant,
        out: &mut Vec<LogEntry>,
    ) {
        let src = self.cfg.source;
        self.lines += 1;
        let text: Text = match block.and_then(|b| b.slice_of(bytes)) {
            Some(t) => t,
            None => match std::str::from_utf8(bytes) {
                Ok(s) => Text::from(s),
                Err(_) => {
                    self.metrics.malformed(src, "invalid_utf8", 1);
                    Text::from(String::from_utf8_lossy(bytes).into_owned())
                }
            },
        };
        if memchr::memchr(0, bytes).is_some() {
            self.metrics.malformed(src, "binary", 1);
        }
        if let (Some(c), Some(joiner)) = (&self.cfg.container, &mut self.joiner) {
            let t = &self.cfg.telemetry;
            t.parse_cri.received(1);
            match parse_container_line(c.format, &text) {
                Ok(cl) => {
                    // A whole line with nothing waiting to be joined (most lines): its message
                    // is passed on as a slice of the line, without the joiner's copy.
                    let whole = (!cl.partial
                        && cl.msg.len() <= c.max_line_bytes.max(1)
                        && joiner.pending_start().is_none())
                    .then(|| match &cl.msg {
                        std::borrow::Cow::Borrowed(m) => text.slice_of(m.as_bytes()),
                        std::borrow::Cow::Owned(_) => None,
                    })
                    .flatten();
                    match whole {
                        Some(msg) => {
                            t.parse_cri.sent(1);
                            self.stage2(cl.ts_ns, Some(cl.stream), msg, start, now, out);
                        }
                        None => {
                            joiner.push(cl, start, &mut self.joined);
                            self.drain_joined(now, out);
                        }
                    }
                }
                Err(e) => {
                    self.metrics.malformed(src, e.reason(), 1);
                    t.parse_cri.error();
                    t.parse_cri.sent(1);
                    self.stage2(now_ns, None, text, start, now, out);
                }
            }
        } else {
            self.stage2(now_ns, None, text, start, now, out);
        }
    }

    /// Counts the lines handed to [`Self::line`] since the last call into the source's
    /// `component_*` counters (once per read, not per line).
    pub fn publish(&mut self) {
        if self.lines > 0 {
            let t = &self.cfg.telemetry.source;
            t.received(self.lines);
            t.sent(self.lines);
            self.lines = 0;
        }
    }

    /// Passes on the lines the joiner completed, counting each one the bound cut as
    /// `line_too_long` (the read path and the flush both come here).
    fn drain_joined(&mut self, now: Instant, out: &mut Vec<LogEntry>) {
        let mut joined = std::mem::take(&mut self.joined);
        self.cfg.telemetry.parse_cri.sent(joined.len() as u64);
        for j in joined.drain(..) {
            if j.cut {
                self.metrics.malformed(self.cfg.source, "line_too_long", 1);
            }
            self.stage2(
                j.ts_ns,
                Some(j.stream),
                Text::from(j.msg),
                j.start,
                now,
                out,
            );
        }
        self.joined = joined;
    }

    fn stage2(
        &mut self,
        ts: i64,
        tag: Option<Stream>,
        msg: Text,
        start: u64,
        now: Instant,
        out: &mut Vec<LogEntry>,
    ) {
        match &mut self.multiline {
            Some(ml) => {
                self.cfg.telemetry.multiline.received(1);
                ml.push(ts, tag, String::from(msg), start, now, &mut self.merged);
                self.drain_merged(out);
            }
            None => self.emit(ts, tag, msg, out),
        }
    }

    fn drain_merged(&mut self, out: &mut Vec<LogEntry>) {
        let mut merged = std::mem::take(&mut self.merged);
        self.cfg.telemetry.multiline.sent(merged.len() as u64);
        for m in merged.drain(..) {
            if m.cut {
                self.metrics.malformed(self.cfg.source, "multiline_cut", 1);
                self.cfg.telemetry.multiline.error();
            }
            self.emit(m.ts_ns, m.tag, Text::from(m.msg), out);
        }
        self.merged = merged;
    }

    fn emit(&mut self, ts: i64, tag: Option<Stream>, msg: Text, out: &mut Vec<LogEntry>) {
        let (level, metadata, ts) = if self.cfg.parse.format == ParseFormat::None {
            (None, Metadata::new(), ts)
        } else {
            let t = &self.cfg.telemetry.parse_json;
            t.received(1);
            t.sent(1);
            match parse_line(&self.cfg.parse, &msg) {
                Ok(p) => (p.level, p.metadata, p.ts_ns.unwrap_or(ts)),
                Err(reason) => {
                    self.metrics.malformed(self.cfg.source, reason, 1);
                    t.error();
                    (None, Metadata::new(), ts)
                }
            }
        };
        let stream = self.labels(tag, level);
        out.push(LogEntry {
            ts_ns: ts,
            line: msg,
            stream,
            metadata,
        });
    }

    fn labels(&mut self, tag: Option<Stream>, level: Option<&'static str>) -> Arc<StreamLabels> {
        let key = (tag, level);
        if let Some((_, l)) = self.cache.iter().find(|(k, _)| *k == key) {
            return Arc::clone(l);
        }
        let mut l = (*self.base).clone();
        if let Some(s) = tag {
            l = l.with("stream", s.as_str());
        }
        if let Some(lv) = level {
            l = l.with("level", lv);
        }
        let l = Arc::new(l);
        self.cache.push((key, Arc::clone(&l)));
        l
    }

    /// Emits a multiline event that timed out.
    pub fn tick(&mut self, now: Instant, out: &mut Vec<LogEntry>) {
        if let Some(ml) = &mut self.multiline {
            ml.flush_expired(now, &mut self.merged);
            self.drain_merged(out);
        }
    }

    /// Emits everything pending (the file is closing or was truncated).
    pub fn flush(&mut self, now: Instant, out: &mut Vec<LogEntry>) {
        if let Some(j) = &mut self.joiner {
            j.flush(&mut self.joined);
            self.drain_joined(now, out);
        }
        if let Some(ml) = &mut self.multiline {
            ml.flush(&mut self.merged);
            self.drain_merged(out);
        }
    }

    /// The earliest file offset still held in a partial or multiline buffer.
    pub fn pending_start(&self) -> Option<u64> {
        let a = self.joiner.as_ref().and_then(Joiner::pending_start);
        let b = self.multiline.as_ref().and_then(Multiline::pending_start);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
