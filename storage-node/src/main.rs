//! `storage-node serve` and `storage-node check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use storage_node::config::{CliConfig, Config};

/// mimalloc rather than glibc malloc: a small PUT allocates and frees dozens of buffers on
/// several threads, and glibc's malloc/free were about 12% of the node's CPU per PUT (perf).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "storage-node",
    version,
    about = "S3-compatible object storage daemon, instrumented like a Ceph OSD"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the S3 API and the admin endpoints.
    Serve(CliConfig),
    /// Validate a config file (with the environment applied) without starting anything.
    CheckConfig {
        /// The TOML file to check.
        file: PathBuf,
        #[command(flatten)]
        cli: CliConfig,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file, mut cli } => {
            cli.config = Some(file.clone());
            match Config::load(&cli).and_then(|c| c.check().map(|()| c)) {
                Ok(c) => {
                    println!(
                        "{}: ok (node {}, s3 {}, admin {}, data {})",
                        file.display(),
                        c.node_id,
                        c.s3_listen,
                        c.admin_listen,
                        c.data_dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    ExitCode::from(2)
                }
            }
        }
        Command::Serve(cli) => {
            let config = match Config::load(&cli) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("storage-node: {e}");
                    return ExitCode::from(2);
                }
            };
            if let Err(e) =
                storage_node::telemetry::init(&config.log_level, config.log_file.as_deref())
            {
                eprintln!("storage-node: {e}");
                return ExitCode::from(2);
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("storage-node: start runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(storage_node::run(config, shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "storage-node failed");
                    eprintln!("storage-node: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
