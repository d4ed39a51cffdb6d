//! `node-agent`: the per-node agent. Its collectors land with the node-agent issue; until then the
//! binary only reports its version so that the workspace and the bundle can name it.
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "node-agent", version, about = "Nodewatch per-node agent")]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    println!("node-agent {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
