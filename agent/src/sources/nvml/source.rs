//! [`NvmlSource`]: loads NVML (or finds it absent), reads every GPU on a blocking thread, keeps
//! the last XID per GPU, attributes processes to pods, and renders.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::config::{Enabled, NvmlConfig};
use super::error::GpuError;
use super::nvml_reader::NvmlReader;
use super::pods::{PodIndex, attribute};
use super::reader::GpuReader;
use super::render::{count_family, families};
use crate::event::Family;
use crate::sources::{CollectError, Source};

/// Loads a reader: the real one loads NVML; tests hand in their own.
pub type Loader = Arc<dyn Fn() -> Result<Arc<dyn GpuReader>, GpuError> + Send + Sync>;

/// The most GPUs whose last XID is remembered.
const MAX_XID_GPUS: usize = 256;

#[derive(Debug)]
struct LoadState {
    reader: Option<Arc<dyn GpuReader>>,
    last_attempt: Option<Instant>,
    logged_absent: bool,
}

/// Where per-pod attribution looks.
#[derive(Debug, Clone)]
struct PodPaths {
    proc_root: PathBuf,
    pod_logs_root: PathBuf,
    container_logs_root: PathBuf,
    max_processes: usize,
}

/// The GPU source.
pub struct NvmlSource {
    loader: Loader,
    required: bool,
    retry_load: Duration,
    hostname: String,
    pods: Option<PodPaths>,
    state: Mutex<LoadState>,
    last_xid: Arc<Mutex<HashMap<String, u64>>>,
    busy: Arc<AtomicBool>,
}

impl std::fmt::Debug for NvmlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmlSource")
            .field("required", &self.required)
            .field("hostname", &self.hostname)
            .field("pods", &self.pods)
            .finish_non_exhaustive()
    }
}

impl NvmlSource {
    /// The real source: NVML from `config.library_path` or the loader's search.
    pub fn new(config: &NvmlConfig) -> Self {
        let path = config.library_path.clone();
        let loader: Loader = Arc::new(move || {
            NvmlReader::load(path.as_deref()).map(|r| Arc::new(r) as Arc<dyn GpuReader>)
        });
        Self::with_loader(config, loader)
    }

    /// A source whose reader comes from `loader` (tests replay captures with it).
    pub fn with_loader(config: &NvmlConfig, loader: Loader) -> Self {
        NvmlSource {
            loader,
            required: config.enabled == Enabled::On,
            retry_load: Duration::from_secs(config.retry_load_secs.max(1)),
            hostname: config
                .hostname
                .clone()
                .unwrap_or_else(|| crate::node::node_name(None)),
            pods: config.pod_attribution.then(|| PodPaths {
                proc_root: config.proc_root.clone(),
                pod_logs_root: config.pod_logs_root.clone(),
                container_logs_root: config.container_logs_root.clone(),
                max_processes: config.max_processes.max(1),
            }),
            state: Mutex::new(LoadState {
                reader: None,
                last_attempt: None,
                logged_absent: false,
            }),
            last_xid: Arc::new(Mutex::new(HashMap::new())),
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Tries to load NVML now (used at start-up, so a missing library is logged once there).
    pub fn try_load(&self) -> Result<(), GpuError> {
        self.reader().map(|_| ())
    }

    /// Whether NVML is loaded.
    pub fn present(&self) -> bool {
        self.lock_state().reader.is_some()
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, LoadState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The loaded reader, loading (again) when it is absent and the retry time has come.
    fn reader(&self) -> Result<Arc<dyn GpuReader>, GpuError> {
        let mut st = self.lock_state();
        if let Some(r) = &st.reader {
            return Ok(Arc::clone(r));
        }
        let due = st
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.retry_load);
        if !due {
            return Err(GpuError::NotPresent("not loaded (waiting to retry)".into()));
        }
        st.last_attempt = Some(Instant::now());
        match (self.loader)() {
            Ok(r) => {
                tracing::info!("NVML loaded");
                st.reader = Some(Arc::clone(&r));
                Ok(r)
            }
            Err(e) => {
                if !st.logged_absent {
                    st.logged_absent = true;
                    if self.required {
                        tracing::warn!(error = %e, "NVML not present but the nvml source is enabled");
                    } else {
                        tracing::info!(error = %e, "NVML not present; GPU metrics off (nodewatch_gpu_devices 0)");
                    }
                } else {
                    tracing::debug!(error = %e, "NVML still not present");
                }
                Err(e)
            }
        }
    }
}

/// Clears the busy flag when the blocking read ends, however it ends.
struct BusyGuard(Arc<AtomicBool>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[async_trait]
impl Source for NvmlSource {
    fn name(&self) -> &str {
        "nvml"
    }

    async fn collect(&self) -> Result<Vec<Family>, CollectError> {
        let reader = match self.reader() {
            Ok(r) => r,
            Err(e) if self.required => return Err(Box::new(e)),
            Err(_) => return Ok(vec![count_family(0)]),
        };
        // A read abandoned at its timeout may still be blocked in NVML; never stack a second.
        if self.busy.swap(true, Ordering::AcqRel) {
            return Err(Box::new(GpuError::Busy));
        }
        let guard = BusyGuard(Arc::clone(&self.busy));
        let hostname = self.hostname.clone();
        let pods = self.pods.clone();
        let last_xid = Arc::clone(&self.last_xid);
        let work = move || -> Result<Vec<Family>, GpuError> {
            let _guard = guard;
            let inv = reader.read()?;
            let events = reader.poll_xid();
            let xids = {
                let mut m = last_xid.lock().unwrap_or_else(|e| e.into_inner());
                for ev in events {
                    if m.len() < MAX_XID_GPUS || m.contains_key(&ev.uuid) {
                        m.insert(ev.uuid, ev.xid);
                    }
                }
                m.clone()
            };
            let usage = match &pods {
                Some(p) => {
                    let index = PodIndex::scan(&p.pod_logs_root, &p.container_logs_root);
                    attribute(&inv, &p.proc_root, &index, p.max_processes)
                }
                None => Vec::new(),
            };
            Ok(families(&inv, &hostname, &xids, &usage))
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(r) => r.map_err(|e| Box::new(e) as CollectError),
            Err(e) => Err(Box::new(GpuError::Task(e.to_string()))),
        }
    }
}
