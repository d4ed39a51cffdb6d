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
        /// Address for OTLP/HTTP (`/v1/metrics`) and Pushgateway pushes.
        #[arg(long)]
        otlp_listen: Option<SocketAddr>,
        /// A Prometheus remote_write receiver URL; turns the remote_write sink on.
        #[arg(long)]
        remote_write_url: Option<String>,
        /// An Alertmanager base URL (repeatable); replaces the file's list.
        #[arg(long = "alertmanager-url")]
        alertmanager_url: Vec<String>,
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
    /// Report SLO attainment over a period from Prometheus (md, html, json or csv).
    SlaReport {
        /// Prometheus base URL (http://host:port).
        #[arg(long)]
        prometheus: String,
        /// The SLO spec (rules/slo/slos.yaml).
        #[arg(long)]
        slo: PathBuf,
        /// Period start: YYYY-MM-DD (UTC midnight) or YYYY-MM-DDTHH:MM:SSZ.
        #[arg(long)]
        from: String,
        /// Period end (exclusive), same forms; the period is whole days.
        #[arg(long)]
        to: String,
        /// md, html, json or csv.
        #[arg(long, default_value = "md")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
        /// The label that names a node.
        #[arg(long, default_value = "node_id")]
        node_label: String,
        /// Seconds between points for time SLIs and incidents (divides a day).
        #[arg(long, default_value_t = 60)]
        step_secs: i64,
    },
    /// Score CSV `timestamp,value` lines from stdin: one anomaly score in [0,1] per data line on
    /// stdout, through the live agent's detector.
    Detect {
        /// A TOML config file; its first watch's detector parameters are used.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The detector: auto, robust, seasonal, level_shift, counter, rate, ewma.
        #[arg(long)]
        detector: Option<String>,
    },
    /// Mine log templates from files (the live `log_patterns` transform, one group per file)
    /// and print them with their line counts, busiest first.
    Patterns {
        /// A TOML config file; its `[transforms.log_patterns]` settings are used.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print one template id per input line instead (for accuracy checks).
        #[arg(long, conflicts_with = "json")]
        assignments: bool,
        /// Print the templates as JSON.
        #[arg(long)]
        json: bool,
        /// The log files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
        Command::SlaReport {
            prometheus,
            slo,
            from,
            to,
            format,
            output,
            node_label,
            step_secs,
        } => match sla_report(
            prometheus, slo, from, to, &format, output, node_label, step_secs,
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("node-agent sla-report: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Detect {
            config: path,
            detector,
        } => match detect(path, detector) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("node-agent detect: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Patterns {
            config: path,
            assignments,
            json,
            files,
        } => match patterns(path, assignments, json, &files) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("node-agent patterns: {e}");
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
            otlp_listen,
            remote_write_url,
            alertmanager_url,
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
                otlp_listen,
                remote_write_url,
                alertmanager_urls: alertmanager_url,
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
    agent::allocator::tune();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(32)
        .enable_all()
        .build()?;
    rt.spawn(agent::allocator::trim_when_idle());
    rt.block_on(agent::topology::run(cfg, shutdown_signal()))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sla_report(
    prometheus: String,
    slo: PathBuf,
    from: String,
    to: String,
    format: &str,
    output: Option<PathBuf>,
    node_label: String,
    step_secs: i64,
) -> anyhow::Result<()> {
    let opts = agent::report::Options {
        prometheus,
        slo,
        from,
        to,
        format: format.parse()?,
        node_label,
        step_secs,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let text = rt.block_on(agent::report::run(&opts))?;
    match output {
        Some(p) => {
            std::fs::write(&p, text).map_err(|source| agent::report::ReportError::Write {
                path: p.display().to_string(),
                source,
            })?
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn detect(path: Option<PathBuf>, detector: Option<String>) -> anyhow::Result<()> {
    use agent::transforms::detect::{DetectorKind, DetectorParams, SeriesDetector, run_detect};
    let mut params = DetectorParams::default();
    if let Some(p) = &path {
        let cfg = config::load_file(p)?;
        if let Some(w) = cfg.transforms.detect.watch.first() {
            params = w.detector;
        }
    }
    if let Some(name) = &detector {
        params.kind = DetectorKind::from_name(name).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown detector {name:?}; one of {}",
                DetectorKind::NAMES.join(", ")
            )
        })?;
    }
    params
        .check()
        .map_err(|r| anyhow::anyhow!("detector parameters: {r}"))?;
    let mut det = SeriesDetector::new(params);
    let stats = run_detect(std::io::stdin().lock(), std::io::stdout().lock(), &mut det)?;
    if stats.bad_values + stats.bad_timestamps > 0 {
        eprintln!(
            "node-agent detect: {} rows, {} bad values (scored 0), {} bad timestamps",
            stats.rows, stats.bad_values, stats.bad_timestamps
        );
    }
    Ok(())
}

fn patterns(
    path: Option<PathBuf>,
    assignments: bool,
    json: bool,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    use agent::transforms::log_patterns::offline::{Output, run_patterns};
    let cfg = match &path {
        Some(p) => config::load_file(p)?.transforms.log_patterns,
        None => Default::default(),
    };
    let output = if assignments {
        Output::Assignments
    } else if json {
        Output::Json
    } else {
        Output::Templates
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    run_patterns(&cfg, files, output, &mut out)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}

fn check_overrides(cfg: &config::Config) -> anyhow::Result<()> {
    for u in &cfg.sources.storage_node.urls {
        agent::sources::storage_node::check_url(u)
            .map_err(|r| anyhow::anyhow!("--storage-node {u}: {r}"))?;
    }
    tracing_subscriber::EnvFilter::try_new(&cfg.log_level)
        .map_err(|e| anyhow::anyhow!("--log-level {}: {e}", cfg.log_level))?;
    config::validate_config(cfg)?;
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
