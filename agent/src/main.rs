//! `node-agent`: flags -> config -> `topology::run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use agent::config::{self, Overrides};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "node-agent", version, about = "Nodewatch per-node agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent (on embedded defaults when no config file is given).
    Run {
        /// A TOML config file.
        #[arg(long, env = "NODE_AGENT_CONFIG")]
        config: Option<PathBuf>,
        /// Address for /metrics and the agent's API.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Directory for the agent's state.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A storage node's admin URL (repeatable); replaces the file's list.
        #[arg(long = "storage-node")]
        storage_node: Vec<String>,
        /// The smartctl binary.
        #[arg(long)]
        smartctl_path: Option<PathBuf>,
        /// Log level or filter directive.
        #[arg(long)]
        log_level: Option<String>,
        /// A Loki push URL (repeatable); replaces the file's endpoints.
        #[arg(long = "loki-url")]
        loki_url: Vec<String>,
        /// A glob of log files to ship (repeatable); replaces the file's list.
        #[arg(long = "log-path")]
        log_path: Vec<String>,
        /// The Kubernetes pod logs root (turns the kubernetes_pods source on).
        #[arg(long)]
        pod_logs_dir: Option<PathBuf>,
    },
    /// Validate a config file and exit.
    CheckConfig {
        /// The file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match config::check_config(&file) {
            Ok(_) => {
                println!("{}: ok", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::FAILURE
            }
        },
        Command::Run {
            config: path,
            listen,
            data_dir,
            storage_node,
            smartctl_path,
            log_level,
            loki_url,
            log_path,
            pod_logs_dir,
        } => {
            let overrides = Overrides {
                listen,
                data_dir,
                storage_nodes: storage_node,
                smartctl_path,
                log_level,
                loki_urls: loki_url,
                log_paths: log_path,
                pod_logs_dir,
            };
            match run(path, overrides) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("node-agent: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn run(path: Option<PathBuf>, overrides: Overrides) -> anyhow::Result<()> {
    let mut cfg = match &path {
        Some(p) => config::load_file(p)?,
        None => config::Config::default(),
    };
    cfg.apply(&overrides);
    // A flag may have brought in a bad value.
    check_overrides(&cfg)?;
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log_level)?;
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(32)
        .enable_all()
        .build()?;
    rt.block_on(agent::topology::run(cfg, shutdown_signal()))?;
    Ok(())
}

fn check_overrides(cfg: &config::Config) -> anyhow::Result<()> {
    for u in &cfg.sources.storage_node.urls {
        agent::sources::storage_node::check_url(u)
            .map_err(|r| anyhow::anyhow!("--storage-node {u}: {r}"))?;
    }
    agent::logs::pipeline::validate(cfg).map_err(|e| anyhow::anyhow!("log settings: {e}"))?;
    tracing_subscriber::EnvFilter::try_new(&cfg.log_level)
        .map_err(|e| anyhow::anyhow!("--log-level {}: {e}", cfg.log_level))?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
