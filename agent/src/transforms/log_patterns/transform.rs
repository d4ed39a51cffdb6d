//! The running transform: the hook the log path calls once per chunk ([`LogPatterns::process`]),
//! the rate-interval task ([`LogPatterns::run`]) and the saving of templates.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use super::config::LogPatternsConfig;
use super::detect::{Detector, NewPattern};
use super::persist;
use super::store::Miner;
use crate::logs::{LogEntry, MetaStr, StreamLabels};
use crate::sinks::alertmanager::Links;
use crate::transforms::detect::AlertBook;

/// The miner and the detector, behind one lock.
#[derive(Debug)]
pub struct Inner {
    /// Groups and templates.
    pub miner: Miner,
    /// Alert state.
    pub detector: Detector,
}

/// Persistence counters.
#[derive(Debug, Default)]
pub struct SaveStats {
    /// Saves that failed.
    pub failures: AtomicU64,
    /// Saves done.
    pub saves: AtomicU64,
    /// Unix seconds of the last successful save.
    pub last_success: AtomicU64,
}

/// The `log_patterns` transform, shared by the tailers of the first Loki pipeline and the API.
#[derive(Debug)]
pub struct LogPatterns {
    cfg: LogPatternsConfig,
    /// `cfg.metadata_key`, as the entries carry it.
    meta_key: MetaStr,
    inner: Mutex<Inner>,
    path: Option<PathBuf>,
    save_lock: Mutex<()>,
    /// Persistence counters.
    pub saves: SaveStats,
    /// The `component_*` counters (lines in and passed on), set by `build`.
    telemetry: std::sync::OnceLock<crate::metrics::ComponentTelemetry>,
}

fn now_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl LogPatterns {
    /// Counts the lines that go through into `t` (`component_*`); set once.
    pub fn set_telemetry(&self, t: crate::metrics::ComponentTelemetry) {
        let _ = self.telemetry.set(t);
    }

    /// Builds the transform and loads the templates saved under `data_dir` (a damaged file is
    /// moved aside and logged; mining starts empty).
    pub fn open(
        cfg: LogPatternsConfig,
        data_dir: Option<&std::path::Path>,
        links: Links,
        node: String,
        alerts: Arc<AlertBook>,
    ) -> Arc<Self> {
        let mut miner = Miner::new(cfg.clone());
        let path = data_dir.filter(|_| cfg.persist).map(persist::path);
        if let Some(p) = &path {
            match persist::load(p, &mut miner) {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(templates = n, path = %p.display(), "log templates loaded");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "log templates unreadable; move aside, start empty");
                    let _ = std::fs::rename(p, p.with_extension("json.corrupt"));
                    miner = Miner::new(cfg.clone());
                }
            }
        }
        let detector = Detector::new(cfg.clone(), links, node, alerts);
        Arc::new(LogPatterns {
            meta_key: cfg.metadata_key.as_str().into(),
            cfg,
            inner: Mutex::new(Inner { miner, detector }),
            path,
            save_lock: Mutex::new(()),
            saves: SaveStats::default(),
            telemetry: std::sync::OnceLock::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &LogPatternsConfig {
        &self.cfg
    }

    /// The locked state (for metrics and tests).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn group_of(&self, s: &StreamLabels) -> (String, Vec<(String, String)>) {
        let mut key = String::new();
        let mut labels = Vec::new();
        for name in &self.cfg.group_by {
            if let Some((k, v)) = s.pairs.iter().find(|(k, _)| k == name) {
                if !key.is_empty() {
                    key.push('/');
                }
                key.push_str(v);
                labels.push((k.clone(), v.clone()));
            }
        }
        if labels.is_empty() {
            (s.rendered.clone(), s.pairs.clone())
        } else {
            (key, labels)
        }
    }

    /// The hook: mines every entry, adds its template id as structured metadata (the line is
    /// not touched), saves the templates if a line created one (before the entries go on, so a
    /// saved position never points past an unsaved template), then announces new patterns.
    /// Returns the bytes the added metadata counts for in [`LogEntry::size`], so the caller
    /// adds them to its chunk's size without going over the entries again.
    pub fn process(&self, entries: &mut [LogEntry]) -> usize {
        if entries.is_empty() {
            return 0;
        }
        if let Some(t) = self.telemetry.get() {
            t.received(entries.len() as u64);
            t.sent(entries.len() as u64);
        }
        let now = SystemTime::now();
        let ts = now_secs(now);
        let mut created = false;
        let mut added = 0;
        let mut news: Vec<NewPattern> = Vec::new();
        {
            let mut g = self.lock();
            let Inner { miner, detector } = &mut *g;
            // The group and the stream's level, looked up once per run of one stream.
            let mut last: Option<(*const StreamLabels, u32, Option<&'static str>)> = None;
            for e in entries.iter_mut() {
                let ptr = Arc::as_ptr(&e.stream);
                let (slot, level) = match last {
                    Some((p, s, l)) if p == ptr => (s, l),
                    _ => {
                        let (key, labels) = self.group_of(&e.stream);
                        let s = miner.group_slot(&key, || labels, ts);
                        let l = e
                            .stream
                            .pairs
                            .iter()
                            .find(|(k, _)| k == "level")
                            .map(|(_, v)| crate::transforms::parse_json::normalize_level(v))
                            .filter(|l| *l != "unknown");
                        last = Some((ptr, s, l));
                        (s, l)
                    }
                };
                let seen = miner.observe(slot, &e.line, level, ts);
                let Some(t) = miner.template(seen.idx) else {
                    continue;
                };
                added += e.push_metadata(self.meta_key.clone(), t.id_hex.clone());
                if seen.new {
                    created = true;
                    if let (Some(gr), Some(t)) = (miner.group(slot), miner.template(seen.idx))
                        && detector.alertable(gr.first_seen, ts, t, &e.line)
                    {
                        news.push(NewPattern {
                            idx: seen.idx,
                            id: seen.id,
                            stream: e.stream.rendered.clone(),
                        });
                    }
                }
            }
        }
        if created {
            self.save();
        }
        if !news.is_empty() {
            let mut g = self.lock();
            let Inner { miner, detector } = &mut *g;
            detector.announce(miner, news, now);
        }
        added
    }

    /// Writes the templates to disk now (no-op without a data directory or with `persist`
    /// off). Failures are logged and counted; mining goes on.
    pub fn save(&self) {
        let Some(path) = &self.path else { return };
        let _s = self.save_lock.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = persist::encode(&self.lock().miner);
        match persist::write(path, &bytes) {
            Ok(()) => {
                self.saves.saves.fetch_add(1, Ordering::Relaxed);
                self.saves
                    .last_success
                    .store(now_secs(SystemTime::now()).max(0) as u64, Ordering::Relaxed);
            }
            Err(e) => {
                self.saves.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "save log templates");
            }
        }
    }

    /// One rate interval (the task calls it every `alerts.interval_secs`).
    pub fn interval(&self, now: SystemTime) {
        let mut g = self.lock();
        let Inner { miner, detector } = &mut *g;
        detector.interval(miner, now);
    }

    /// Runs the rate intervals until shutdown, saving counts every few minutes and at the end.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let every = Duration::from_secs(self.cfg.alerts.interval_secs.max(1));
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut last_save = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.changed() => break,
            }
            self.interval(SystemTime::now());
            if last_save.elapsed() >= Duration::from_secs(300) {
                last_save = tokio::time::Instant::now();
                let me = Arc::clone(&self);
                let _ = tokio::task::spawn_blocking(move || me.save()).await;
            }
        }
        let me = Arc::clone(&self);
        let _ = tokio::task::spawn_blocking(move || me.save()).await;
    }
}
