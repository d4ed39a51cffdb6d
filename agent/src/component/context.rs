//! [`BuildContext`]: what a component's `build` is given, and what it leaves behind.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ComponentError, ComponentKind, ComponentTelemetry, Schedule, Source};
use crate::buffer::{DiskQueue, OpenReport, QueueConfig, Weigher, WhenFull};
use crate::http_client::{HttpClient, HttpClientConfig};
use crate::metrics::AgentMetrics;
use crate::store::Store;

/// The shutdown signal every task watches: it turns `true` once.
pub type Shutdown = watch::Receiver<bool>;

/// A step run when the agent stops, before the shutdown signal (a drain that must finish first).
pub type StopFn = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// What the topology gives each component's [`super::Component::build`]: the shared
/// infrastructure, and the place the component leaves its running parts (tasks, collected
/// sources, stop steps, handles for other components).
///
/// It is the one owner of the infrastructure components share: disk queues
/// ([`BuildContext::disk_queue`], each directory opened once) and HTTP clients
/// ([`BuildContext::http_client`], one client per distinct setting). Components make neither
/// themselves.
pub struct BuildContext {
    kind: ComponentKind,
    id: String,
    data_dir: PathBuf,
    metrics: Arc<AgentMetrics>,
    store: Arc<Store>,
    shutdown: Shutdown,
    sources: Vec<(Arc<dyn Source>, Schedule)>,
    tasks: Vec<JoinHandle<()>>,
    stops: Vec<StopFn>,
    shared: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    clients: HashMap<HttpClientConfig, HttpClient>,
    queues: HashMap<PathBuf, String>,
}

impl std::fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuildContext")
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("data_dir", &self.data_dir)
            .field("sources", &self.sources.len())
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl BuildContext {
    /// A context over the agent's store and telemetry.
    pub fn new(
        data_dir: &Path,
        metrics: Arc<AgentMetrics>,
        store: Arc<Store>,
        shutdown: Shutdown,
    ) -> Self {
        BuildContext {
            kind: ComponentKind::Source,
            id: String::new(),
            data_dir: data_dir.to_path_buf(),
            metrics,
            store,
            shutdown,
            sources: Vec::new(),
            tasks: Vec::new(),
            stops: Vec::new(),
            shared: HashMap::new(),
            clients: HashMap::new(),
            queues: HashMap::new(),
        }
    }

    /// A context of its own (a fresh store and telemetry) for building one component outside
    /// the topology: tests and benches.
    pub fn standalone(data_dir: &Path, shutdown: Shutdown) -> Self {
        let metrics = Arc::new(AgentMetrics::new());
        let store = Arc::new(Store::new(HashMap::new(), 10_000, Arc::clone(&metrics)));
        BuildContext::new(data_dir, metrics, store, shutdown)
    }

    /// Points the context at the component about to be built.
    pub fn enter(&mut self, kind: ComponentKind, id: &str) {
        self.kind = kind;
        self.id = id.to_string();
    }

    /// The component being built.
    pub fn kind(&self) -> ComponentKind {
        self.kind
    }

    /// The id of the component being built (its table name: `host`, `loki`, ...).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The agent's state directory; a component keeps its files under `<data_dir>/<id>/` or
    /// a folder its docs name.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The store collected and pushed metrics go to, and readers read from.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The agent's own telemetry (for a component's own families).
    pub fn metrics(&self) -> &Arc<AgentMetrics> {
        &self.metrics
    }

    /// The `component_*` counters of the component being built.
    pub fn telemetry(&self) -> ComponentTelemetry {
        self.metrics.components.handle(self.kind.as_str(), &self.id)
    }

    /// The shutdown signal, for the component's tasks.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// The HTTP client for `config`: one client per distinct setting, so components (or
    /// endpoints) with the same settings share its TLS config and idle connections. A URL, CA
    /// file or credentials file that cannot be used is an error naming the key
    /// (`ca_file: /path: no usable CA certificate in it`).
    pub fn http_client(&mut self, config: &HttpClientConfig) -> Result<HttpClient, ComponentError> {
        if let Some(c) = self.clients.get(config) {
            return Ok(c.clone());
        }
        let client = HttpClient::new(config).map_err(|e| {
            let reason = match &e {
                crate::http_client::HttpClientError::File { path, reason, .. } => {
                    format!("{path}: {reason}")
                }
                other => other.to_string(),
            };
            ComponentError::new(e.key(), reason)
        })?;
        self.clients.insert(config.clone(), client.clone());
        Ok(client)
    }

    /// Opens (recovering) the disk queue in `<data_dir>/<dir>`, bounded by `limits` with
    /// `policy` at the bound, records weighed by `weigh`. Each directory is opened once per
    /// agent: a second component asking for it is an error.
    pub fn disk_queue(
        &mut self,
        dir: impl AsRef<Path>,
        policy: WhenFull,
        limits: QueueConfig,
        weigh: Weigher,
    ) -> Result<(DiskQueue, OpenReport), ComponentError> {
        let path = self.data_dir.join(dir);
        if let Some(owner) = self.queues.get(&path) {
            return Err(ComponentError::whole(format!(
                "disk queue {} is already used by {owner}",
                path.display()
            )));
        }
        let opened = DiskQueue::open(&path, limits.max_bytes, limits.segment_bytes, policy, weigh)
            .map_err(|e| ComponentError::whole(format!("disk queue {}: {e}", path.display())))?;
        self.queues
            .insert(path, format!("{}.{}", self.kind.table(), self.id));
        Ok(opened)
    }

    /// Adds a collected source built by `source` (its error becomes the component's): the
    /// topology runs it every `interval_secs`, abandons a collection after `timeout_ms`, and
    /// the store keeps at most `max_series` of its series. The one call every scraping source's
    /// `build` makes.
    pub fn add_collected<S: Source + 'static, E: std::fmt::Display>(
        &mut self,
        source: Result<S, E>,
        interval_secs: u64,
        timeout_ms: u64,
        max_series: usize,
    ) -> Result<(), ComponentError> {
        let source = source.map_err(ComponentError::whole)?;
        self.add_source(
            Arc::new(source),
            Schedule::from_config(interval_secs, timeout_ms),
            max_series,
        );
        Ok(())
    }

    /// Adds a collected source: the topology runs it on its own task on `schedule`, and the
    /// store keeps at most `max_series` of its series.
    pub fn add_source(&mut self, source: Arc<dyn Source>, schedule: Schedule, max_series: usize) {
        self.store.set_limit(source.name(), max_series);
        self.metrics.register(source.name());
        self.sources.push((source, schedule));
    }

    /// The collected sources added so far, by name.
    pub fn source_names(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|(s, _)| s.name().to_string())
            .collect()
    }

    /// Runs `task` on the runtime; the topology waits (bounded) for it when stopping.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// Adds tasks the component started itself.
    pub fn add_tasks(&mut self, tasks: impl IntoIterator<Item = JoinHandle<()>>) {
        self.tasks.extend(tasks);
    }

    /// Adds a step the topology runs when stopping, before it signals shutdown.
    pub fn on_stop(&mut self, stop: StopFn) {
        self.stops.push(stop);
    }

    /// Hands a value to the components built later (a sink's input for the transform that
    /// feeds it, the log sources for the Loki sink). One value per type.
    pub fn provide<T: Any + Send + Sync>(&mut self, value: Arc<T>) {
        self.shared.insert(TypeId::of::<T>(), value);
    }

    /// The value of type `T` an earlier component provided.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.shared
            .get(&TypeId::of::<T>())
            .and_then(|v| Arc::clone(v).downcast::<T>().ok())
    }

    /// The value of type `T`, created with its default on first use.
    pub fn shared<T: Any + Send + Sync + Default>(&mut self) -> Arc<T> {
        if let Some(v) = self.get::<T>() {
            return v;
        }
        let v = Arc::new(T::default());
        self.provide(Arc::clone(&v));
        v
    }

    /// Takes the built parts out: the collected sources, the tasks and the stop steps.
    pub fn finish(self) -> Built {
        Built {
            sources: self.sources,
            tasks: self.tasks,
            stops: self.stops,
        }
    }
}

/// What the components built.
pub struct Built {
    /// Each collected source with its schedule.
    pub sources: Vec<(Arc<dyn Source>, Schedule)>,
    /// The components' tasks.
    pub tasks: Vec<JoinHandle<()>>,
    /// The steps to run before the shutdown signal.
    pub stops: Vec<StopFn>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("sources", &self.sources)
            .field("tasks", &self.tasks.len())
            .field("stops", &self.stops.len())
            .finish()
    }
}

/// The node name components put on what they send (alerts, log streams): from the
/// `kubernetes_pods` source's `node_name` ($NODE_NAME, else the host name), replaced by
/// `transforms.detect.node` when that is set. A shared value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeName(pub String);
