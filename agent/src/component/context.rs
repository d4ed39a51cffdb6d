//! [`BuildContext`]: what a component's `build` is given, and what it leaves behind.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ComponentKind, ComponentTelemetry, Schedule};
use crate::metrics::AgentMetrics;
use crate::sources::Source;
use crate::store::Store;

/// The shutdown signal every task watches: it turns `true` once.
pub type Shutdown = watch::Receiver<bool>;

/// A step run when the agent stops, before the shutdown signal (a drain that must finish first).
pub type StopFn = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// What the topology gives each component's [`super::Component::build`]: the shared
/// infrastructure, and the place the component leaves its running parts (tasks, collected
/// sources, stop steps, handles for other components).
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
        }
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
